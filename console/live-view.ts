import { spawn, type ChildProcess } from 'node:child_process';
import type { FastifyReply } from 'fastify';
import { sendHttpError } from '../core/index.ts';
import type { CameraT } from '../config/index.ts';

const BOUNDARY = 'gwframe';

/**
 * The on-demand live view of one camera: ffmpeg reads its RTSP stream and writes MJPEG
 * (multipart/x-mixed-replace), which an <img> shows with no player script. One ffmpeg per
 * viewer, at most `max` at once, each ended by its own PID when the viewer leaves or after
 * `maxMs`. Headers go out only once the first frame arrives, so an unreachable camera answers
 * a clear 502 instead of an empty picture.
 */
export class LiveViews {
  readonly #max: number;
  readonly #maxMs: number;
  readonly #running = new Set<ChildProcess>();

  constructor(opts: { max?: number; maxMs?: number } = {}) {
    this.#max = opts.max ?? 4;
    this.#maxMs = opts.maxMs ?? 10 * 60_000;
  }

  get active(): number {
    return this.#running.size;
  }

  static url(cam: CameraT): string {
    const u = new URL(cam.url);
    if (cam.username) u.username = encodeURIComponent(cam.username);
    if (cam.password) u.password = encodeURIComponent(cam.password);
    return u.toString();
  }

  async stream(cam: CameraT, reply: FastifyReply): Promise<void> {
    if (this.#running.size >= this.#max) {
      await sendHttpError(reply, 503, 'CONSOLE_LIVE_BUSY', `${this.#max} live views are open already; close one first`);
      return;
    }
    const args = ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-timeout', '5000000', '-i', LiveViews.url(cam),
      '-an', '-vf', 'scale=640:-2', '-r', '5', '-q:v', '7', '-f', 'mpjpeg', '-boundary_tag', BOUNDARY, 'pipe:1'];
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#running.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 2000) stderr += String(d); });
    const stop = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); };
    const cap = setTimeout(stop, this.#maxMs);
    // 'close' comes after 'exit', and also when ffmpeg could not be started at all (no 'exit'
    // then, only 'error'): either way the slot is free again.
    const release = () => {
      clearTimeout(cap);
      this.#running.delete(child);
    };
    child.once('close', release);
    child.once('error', release);
    reply.raw.once('close', stop);
    const first = await new Promise<Buffer | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 15_000);
      child.stdout!.once('data', (d: Buffer) => { clearTimeout(t); resolve(d); });
      child.once('exit', () => { clearTimeout(t); resolve(null); });
      child.once('error', () => { clearTimeout(t); resolve(null); });
    });
    if (!first) {
      stop();
      const why = stderr.trim().split('\n').pop()?.replace(/rtsps?:\/\/[^@\s]*@/g, 'rtsp://***@') ?? 'no picture';
      await sendHttpError(reply, 502, 'CONSOLE_LIVE_UNAVAILABLE', `camera ${cam.id} gives no picture: ${why}`);
      return;
    }
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': `multipart/x-mixed-replace;boundary=${BOUNDARY}`, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    reply.raw.write(first);
    child.stdout!.pipe(reply.raw);
  }

  stop(): void {
    for (const c of this.#running) c.kill('SIGTERM');
  }
}
