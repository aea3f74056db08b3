import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CameraFarmError, type VideoCodec } from '../ingest/index.ts';

const run = promisify(execFile);

/** Real CCTV footage of a plaza, shipped by Debian's opencv-doc package. */
export const DEFAULT_SOURCE = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

export interface ClipSpec {
  codec: VideoCodec;
  width: number;
  height: number;
  fps: number;
  gopS: number;
  bitrateKbps: number;
  source?: string;
  /** Use only the first seconds of the source (whole GOPs); all of it when absent. */
  durationS?: number;
  /**
   * A static scene: hold the source's frame this many seconds in for the whole clip (durationS,
   * 8 s when absent), encoded at capped constant quality as a camera's VBR would, so that its
   * P-frames carry next to nothing while its keyframes stay full pictures.
   */
  stillAtS?: number;
}

export const DEFAULT_CLIP: ClipSpec = { codec: 'h264', width: 640, height: 360, fps: 15, gopS: 2, bitrateKbps: 512 };

/**
 * Encodes the source once into an Annex-B elementary stream under dataDir/sim and returns its
 * path; later calls reuse the file. The frame count is cut to whole GOPs so the loop keeps the
 * keyframe cadence, and parameter sets repeat before every keyframe.
 */
export async function prepareClip(dataDir: string, spec: ClipSpec = DEFAULT_CLIP): Promise<string> {
  const source = spec.source ?? DEFAULT_SOURCE;
  const dir = join(dataDir, 'sim');
  const still = spec.stillAtS === undefined ? '' : `-still${spec.stillAtS}s`;
  const file = join(dir, `clip-${spec.codec}-${spec.width}x${spec.height}-${spec.fps}fps-gop${spec.gopS}s-${spec.bitrateKbps}k${spec.durationS ? `-${spec.durationS}s` : ''}${still}.${spec.codec}`);
  if (existsSync(file)) return file;
  if (!existsSync(source)) {
    throw new CameraFarmError(`the simulator's source clip ${source} is missing: install Debian's opencv-doc package (bash scripts/setup.sh does)`, { details: { source } });
  }
  mkdirSync(dir, { recursive: true });
  const gop = Math.round(spec.fps * spec.gopS);
  let seconds = spec.durationS ?? 8;
  if (spec.stillAtS === undefined) {
    const probe = await run('ffprobe', ['-v', 'error', '-count_packets', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_packets,r_frame_rate', '-of', 'csv=p=0', source]);
    const [rate, packets] = probe.stdout.trim().split(',');
    const [num, den] = (rate ?? '10/1').split('/').map(Number);
    const srcFps = (num ?? 10) / (den || 1);
    seconds = Math.min((Number(packets) || 0) / srcFps, spec.durationS ?? Infinity);
  }
  const outFrames = Math.max(gop, Math.floor((seconds * spec.fps) / gop) * gop);
  const tmp = `${file}.tmp-${process.pid}`;
  const input = spec.stillAtS === undefined
    ? ['-i', source, '-an', '-vf', `scale=${spec.width}:${spec.height},fps=${spec.fps}`]
    : ['-ss', String(spec.stillAtS), '-i', source, '-an', '-vf', `trim=end_frame=1,loop=loop=-1:size=1,setpts=N/${spec.fps}/TB,scale=${spec.width}:${spec.height}`, '-r', String(spec.fps)];
  const rate = spec.stillAtS === undefined ? ['-b:v', `${spec.bitrateKbps}k`] : ['-crf', '23'];
  const common = ['-v', 'error', '-y', ...input, '-frames:v', String(outFrames), '-pix_fmt', 'yuv420p',
    ...rate, '-maxrate', `${Math.round(spec.bitrateKbps * 1.2)}k`, '-bufsize', `${spec.bitrateKbps * 2}k`, '-preset', 'veryfast'];
  const args = spec.codec === 'h264'
    ? [...common, '-c:v', 'libx264', '-profile:v', 'main', '-bf', '0', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-x264-params', 'repeat-headers=1', '-f', 'h264', tmp]
    : [...common, '-c:v', 'libx265', '-x265-params', `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=0:repeat-headers=1:log-level=error`, '-f', 'hevc', tmp];
  try {
    await run('ffmpeg', args, { maxBuffer: 1 << 20 });
  } catch (err) {
    throw new CameraFarmError(`could not encode the simulator clip from ${source}: ${(err as Error).message}`, { cause: err });
  }
  renameSync(tmp, file);
  return file;
}

/** One frame of the clip: its NAL units (no start codes). */
export interface ClipFrame {
  nals: Uint8Array[];
  keyframe: boolean;
}

export interface Clip {
  codec: VideoCodec;
  fps: number;
  width: number;
  height: number;
  frames: ClipFrame[];
  /** VPS (H.265), SPS, PPS as first seen. */
  parameterSets: Uint8Array[];
}

export function nalType(codec: VideoCodec, first: number): number {
  return codec === 'h264' ? first & 0x1f : (first >> 1) & 0x3f;
}

/** Splits an Annex-B buffer into NAL units (views, without start codes). */
export function splitAnnexB(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = -1;
  let i = 0;
  const n = data.length;
  while (i + 2 < n) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && data[end - 1] === 0) end--;
        out.push(data.subarray(start, end));
      }
      i += 3;
      start = i;
    } else i++;
  }
  if (start >= 0 && start < n) out.push(data.subarray(start, n));
  return out;
}

/** Reads an Annex-B file and groups its NAL units into frames. */
export function loadClip(file: string, codec: VideoCodec, fps: number, size: { width: number; height: number }): Clip {
  const nals = splitAnnexB(new Uint8Array(readFileSync(file)));
  const frames: ClipFrame[] = [];
  const parameterSets: Uint8Array[] = [];
  let cur: ClipFrame = { nals: [], keyframe: false };
  let seenVcl = false;
  for (const nal of nals) {
    if (nal.length < 2) continue;
    const t = nalType(codec, nal[0]!);
    const vcl = codec === 'h264' ? t >= 1 && t <= 5 : t <= 31;
    const firstSlice = codec === 'h264' ? (nal[1]! & 0x80) !== 0 : (nal[2]! & 0x80) !== 0;
    if (seenVcl && (!vcl || firstSlice)) {
      frames.push(cur);
      cur = { nals: [], keyframe: false };
      seenVcl = false;
    }
    if (vcl) {
      seenVcl = true;
      if (codec === 'h264' ? t === 5 : t >= 16 && t <= 21) cur.keyframe = true;
    }
    const isPs = codec === 'h264' ? t === 7 || t === 8 : t >= 32 && t <= 34;
    if (isPs && !parameterSets.some((p) => nalType(codec, p[0]!) === t)) parameterSets.push(nal);
    cur.nals.push(nal);
  }
  if (seenVcl) frames.push(cur);
  if (frames.length === 0 || !frames[0]!.keyframe) throw new CameraFarmError(`clip ${file} does not start with a keyframe`);
  return { codec, fps, width: size.width, height: size.height, frames, parameterSets };
}
