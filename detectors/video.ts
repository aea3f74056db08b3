import { spawn } from 'node:child_process';
import { FrameInvalidError } from './errors.ts';
import type { RgbFrame } from './model/preprocess.ts';

export interface VideoFrame extends RgbFrame {
  index: number;
  /** Time in the video of the frame shown (the source frame ffmpeg's fps filter kept; sourceTimeMs). */
  timeMs: number;
}

/**
 * The time of the source frame that ffmpeg's fps filter keeps as output frame `k`: with its
 * default rounding, the last source frame before (k + ½) / fps. At 1 fps from 10 fps that is the
 * frame at 0.4 s, 1.4 s… (checked against ffmpeg's framemd5 at 0.2, 0.5, 1, 3 and 7 fps), not
 * 0, 1 s…; a reference detector's frame numbers are matched by this. `rate` is the source's
 * constant frame rate; without one, the output slot's time.
 */
export function sourceTimeMs(k: number, fps: number, rate: number): number {
  if (!(rate > 0) || !Number.isFinite(rate)) return (k * 1000) / fps;
  return ((Math.ceil(((k + 0.5) * rate) / fps - 1e-9) - 1) * 1000) / rate;
}

/** Probes a video's size and frame rate with ffprobe. */
export async function probeVideo(file: string): Promise<{ width: number; height: number; fps: number }> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,r_frame_rate', '-of', 'csv=p=0:s=x', file]);
    let s = '';
    let e = '';
    p.stdout.on('data', (d: Buffer) => { s += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { e += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(s.trim()) : reject(new Error(e.trim() || `ffprobe exited ${code}`))));
  }).catch((cause: unknown) => { throw new FrameInvalidError(`cannot read video ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }); });
  const [w, h, rate] = out.split('\n')[0]!.split('x');
  const width = Number(w), height = Number(h);
  if (!width || !height) throw new FrameInvalidError(`cannot read video ${file}: no video stream`);
  // r_frame_rate is a fraction, e.g. 30000/1001.
  const [num, den] = (rate ?? '').split('/').map(Number);
  return { width, height, fps: num && den ? num / den : NaN };
}

/** Decodes a video file with ffmpeg to RGB frames at `fps`, at most `maxFrames`. */
export async function* readVideo(file: string, fps: number, maxFrames = Infinity, size?: { width: number; height: number }): AsyncGenerator<VideoFrame> {
  // With a size given, the probe only dates the frames: a file it cannot read is left to ffmpeg.
  const probed = size ? await probeVideo(file).catch(() => undefined) : await probeVideo(file);
  const { width, height } = size ?? probed!;
  const frameBytes = width * height * 3;
  const args = ['-v', 'error', '-i', file, '-vf', size ? `fps=${fps},scale=${width}:${height}` : `fps=${fps}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24'];
  if (Number.isFinite(maxFrames)) args.push('-frames:v', String(maxFrames));
  args.push('pipe:1');
  const p = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
  let buf: Buffer = Buffer.alloc(0);
  let index = 0;
  try {
    for await (const chunk of p.stdout as AsyncIterable<Buffer>) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= frameBytes && index < maxFrames) {
        const rgb = new Uint8Array(frameBytes);
        rgb.set(buf.subarray(0, frameBytes));
        buf = buf.subarray(frameBytes);
        yield { width, height, rgb, index, timeMs: sourceTimeMs(index, fps, probed?.fps ?? NaN) };
        index++;
      }
    }
  } finally {
    if (p.exitCode === null) p.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0 && index === 0) throw new FrameInvalidError(`cannot decode video ${file}: ${stderr.trim() || `ffmpeg exited ${code}`}`);
}
