import { prepareClip, loadClip, DEFAULT_CLIP, type ClipSpec } from './clip.ts';
import { CameraFarm, type FarmCamera } from './camera-farm.ts';
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

/** Encodes (once, cached) and loads the clip, then starts a farm serving the given cameras. */
export async function startCameraFarm(options: StartFarmOptions): Promise<CameraFarm> {
  const spec: ClipSpec = { ...DEFAULT_CLIP, ...options.clip };
  const file = await prepareClip(options.dataDir, spec);
  const clip = loadClip(file, spec.codec, spec.fps, spec);
  let altClip;
  if (options.withAltClip ?? options.cameras.some((c) => c.fault === 'resolution')) {
    const altSpec: ClipSpec = { ...spec, width: Math.round(spec.width / 4) * 2, height: Math.round(spec.height / 4) * 2 };
    altClip = loadClip(await prepareClip(options.dataDir, altSpec), altSpec.codec, altSpec.fps, altSpec);
  }
  const farm = new CameraFarm({ port: options.port, host: options.host, cameras: options.cameras, clip, altClip });
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
