import { prepareClip, loadClip, DEFAULT_CLIP, type ClipSpec } from './clip.ts';
import { CameraFarm, type FarmCamera, type FarmScene } from './camera-farm.ts';
import type { CameraT } from '../config/index.ts';

export interface StartFarmOptions {
  dataDir: string;
  port: number;
  host?: string;
  cameras: readonly FarmCamera[];
  clip?: Partial<ClipSpec>;
  /** Prepare the half-size clip the `resolution` fault switches to (default: when any camera has that fault). */
  withAltClip?: boolean;
}

/**
 * Where the still clip of static scenes is taken from the source: vtest.avi 20 s in shows the
 * parked van and car, and people standing on the plaza.
 */
export const STILL_AT_S = 20;

/** The still clip for `scene: static` cameras: one frame of the source, same codec, size, rate and GOP. */
export function stillClipSpec(spec: ClipSpec): ClipSpec {
  return { ...spec, stillAtS: STILL_AT_S, durationS: 4 * spec.gopS };
}

/**
 * Gives a share of the cameras (0..1) the static scene, spread evenly over the list (camera i is
 * static when ⌊(i+1)·share⌋ > ⌊i·share⌋), the rest busy footage.
 */
export function assignScenes<T extends FarmCamera>(cameras: readonly T[], staticShare: number): (T & { scene: FarmScene })[] {
  if (!(staticShare >= 0 && staticShare <= 1)) throw new Error(`static share must be within 0..1, got ${staticShare}`);
  return cameras.map((c, i) => ({ ...c, scene: Math.floor((i + 1) * staticShare) > Math.floor(i * staticShare) ? 'static' : 'busy' }));
}

/** Encodes (once, cached) and loads the clip (and the still one if a camera's scene is static), then starts a farm serving the given cameras. */
export async function startCameraFarm(options: StartFarmOptions): Promise<CameraFarm> {
  const spec: ClipSpec = { ...DEFAULT_CLIP, ...options.clip };
  const file = await prepareClip(options.dataDir, spec);
  const clip = loadClip(file, spec.codec, spec.fps, spec);
  let altClip;
  if (options.withAltClip ?? options.cameras.some((c) => c.fault === 'resolution')) {
    const altSpec: ClipSpec = { ...spec, width: Math.round(spec.width / 4) * 2, height: Math.round(spec.height / 4) * 2 };
    altClip = loadClip(await prepareClip(options.dataDir, altSpec), altSpec.codec, altSpec.fps, altSpec);
  }
  let staticClip;
  if (options.cameras.some((c) => c.scene === 'static')) {
    const stillSpec = stillClipSpec(spec);
    staticClip = loadClip(await prepareClip(options.dataDir, stillSpec), stillSpec.codec, stillSpec.fps, stillSpec);
  }
  const farm = new CameraFarm({ port: options.port, host: options.host, cameras: options.cameras, clip, altClip, staticClip });
  await farm.start();
  return farm;
}

/** `cam-0001` … `cam-NNNN`, the demo city's camera paths. */
export function farmCameraPath(i: number): string {
  return `cam-${String(i + 1).padStart(4, '0')}`;
}

/** The farm cameras that serve these city cameras: path from each URL, the camera's own credentials. */
export function farmCamerasFor(cameras: Iterable<CameraT>, options: { auth?: boolean } = {}): FarmCamera[] {
  const out: FarmCamera[] = [];
  for (const c of cameras) {
    const path = new URL(c.url).pathname.split('/').filter(Boolean)[0] ?? c.id;
    out.push(options.auth === false ? { path } : { path, username: c.username, password: c.password });
  }
  return out;
}
