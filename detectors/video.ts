import { spawn } from 'node:child_process';
import { FrameInvalidError } from './errors.ts';
import type { RgbFrame } from './model/preprocess.ts';

export interface VideoFrame extends RgbFrame {
  index: number;
  /** Time in the video, from the frame rate asked for. */
  timeMs: number;
}

/** Probes a video's size with ffprobe. */
async function probe(file: string): Promise<{ width: number; height: number }> {
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0:s=x', file]);
    let s = '';
    let e = '';
    p.stdout.on('data', (d: Buffer) => { s += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { e += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(s.trim()) : reject(new Error(e.trim() || `ffprobe exited ${code}`))));
  }).catch((cause: unknown) => { throw new FrameInvalidError(`cannot read video ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }); });
  const [w, h] = out.split('\n')[0]!.split('x').map(Number);
  if (!w || !h) throw new FrameInvalidError(`cannot read video ${file}: no video stream`);
  return { width: w, height: h };
}

/** Decodes a video file with ffmpeg to RGB frames at `fps`, at most `maxFrames`. */
export async function* readVideo(file: string, fps: number, maxFrames = Infinity, size?: { width: number; height: number }): AsyncGenerator<VideoFrame> {
  const { width, height } = size ?? await probe(file);
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
        yield { width, height, rgb, index, timeMs: (index * 1000) / fps };
        index++;
      }
    }
  } finally {
    if (p.exitCode === null) p.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0 && index === 0) throw new FrameInvalidError(`cannot decode video ${file}: ${stderr.trim() || `ffmpeg exited ${code}`}`);
}
