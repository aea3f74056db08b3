/**
 * The decode floor for camera-ingest, measured side by side with it: standalone ffmpeg, with the
 * keyframe decoders' own options and filter, decoding the farm clip's keyframes back to back,
 * each with its parameter sets and an access unit delimiter, as the decoders receive them. What
 * it costs per keyframe is what any design that decodes each sample with ffmpeg must pay, so
 * ingest figures can be read against it on any machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLIP, loadClip, prepareClip } from '../../sim/index.ts';
import { KEYFRAME_INPUT_OPTIONS, keyframeOutputOptions } from '../../ingest/index.ts';

export interface DecodeFloor {
  keyframes: number;
  keyframe_kb: number;
  /** Median over the runs of ffmpeg's user + system CPU per keyframe. */
  cpu_ms_per_keyframe: number;
  runs_ms_per_keyframe: number[];
}

const START = Uint8Array.of(0, 0, 0, 1);
const AUD_H264 = Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0);

export async function measureDecodeFloor(dataDir: string, frame: { width: number; height: number }, count = 400, runs = 3): Promise<DecodeFloor> {
  const file = await prepareClip(dataDir, DEFAULT_CLIP);
  const clip = loadClip(file, DEFAULT_CLIP.codec, DEFAULT_CLIP.fps, DEFAULT_CLIP);
  const keyframes = clip.frames.filter((f) => f.keyframe);
  const parts: Uint8Array[] = [];
  let bytes = 0;
  const isParameterSet = (nal: Uint8Array) => (nal[0]! & 0x1f) === 7 || (nal[0]! & 0x1f) === 8;
  for (let i = 0; i < count; i++) {
    const slices = keyframes[i % keyframes.length]!.nals.filter((n) => !isParameterSet(n));
    for (const ps of clip.parameterSets) parts.push(START, ps);
    for (const nal of slices) { parts.push(START, nal); bytes += 4 + nal.length; }
    parts.push(AUD_H264);
  }
  const dir = mkdtempSync(join(tmpdir(), 'gw-decode-floor-'));
  try {
    const input = join(dir, 'keyframes.h264');
    writeFileSync(input, Buffer.concat(parts));
    const perRun: number[] = [];
    for (let r = 0; r < runs; r++) {
      const out = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-benchmark', '-f', 'h264', ...KEYFRAME_INPUT_OPTIONS, '-i', input, ...keyframeOutputOptions(frame.width, frame.height), '-f', 'rawvideo', '-y', '/dev/null'], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
      const cpu = /utime=([\d.]+)s stime=([\d.]+)s/.exec(out.stderr);
      const frames = [...out.stderr.matchAll(/frame=\s*(\d+)/g)].pop();
      if (out.status !== 0 || !cpu || Number(frames?.[1]) !== count) throw new Error(`decode floor: ffmpeg exited ${out.status} after ${frames?.[1] ?? 0} of ${count} frames: ${out.stderr.slice(-300)}`);
      perRun.push(((Number(cpu[1]) + Number(cpu[2])) * 1000) / count);
    }
    const sorted = [...perRun].sort((a, b) => a - b);
    return { keyframes: count, keyframe_kb: Math.round(bytes / count / 1024), cpu_ms_per_keyframe: round2(sorted[Math.floor(runs / 2)]!), runs_ms_per_keyframe: perRun.map(round2) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;
