import type { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { Logger } from '../core/index.ts';
import type { CameraCounters, CameraState, CameraStatus, FleetCamera } from './fleet.ts';
import type { FailReason } from './errors.ts';
import { rgbFrameFilter } from './decode-args.ts';

export interface FfmpegCameraOptions {
  width: number;
  height: number;
  stallTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Every decoded keyframe; rgb is owned by the receiver. */
  onFrame: (cameraId: string, captureTimeMs: number, rgb: Uint8Array) => void;
  log?: Logger | undefined;
}

/** Reads ffmpeg's last words for the reason an operator needs. */
export function ffmpegReason(stderr: string): FailReason {
  if (/401|Unauthorized/i.test(stderr)) return '401';
  if (/404|Not Found/i.test(stderr)) return '404';
  if (/Connection refused/i.test(stderr)) return 'refused';
  if (/timed out|Timeout/i.test(stderr)) return 'timeout';
  if (/No route|Network is unreachable|Name or service not known/i.test(stderr)) return 'unreachable';
  if (/does not contain any stream|Output file #0 does not contain|matches no streams/i.test(stderr)) return 'no video';
  if (/codec not currently supported|Decoder .* not found|unsupported/i.test(stderr)) return 'unsupported codec';
  return 'ffmpeg exited';
}

/**
 * The per-camera ffmpeg mode: one ffmpeg process reads the camera over RTSP/TCP, decodes only
 * keyframes (`-skip_frame nokey`) and writes RGB at the detector's size. For small fleets and
 * streams the in-process client cannot parse. Any exit is a failure (ffmpeg exits 0 on a
 * vanished server) and is retried with backoff.
 */
export class FfmpegCamera {
  #cmd: ffmpeg.FfmpegCommand | undefined;
  #state: CameraState = 'connecting';
  #reason: FailReason | undefined;
  #message: string | undefined;
  #since = Date.now();
  #retryAt: number | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #attempt = 0;
  #lastFrameAt = 0;
  #startedAt = 0;
  #frame: Uint8Array;
  #filled = 0;
  #stopped = false;
  #pid: number | undefined;
  readonly #counters: CameraCounters = { bytes: 0, packets: 0, accessUnits: 0, keyframes: 0, gaps: 0, droppedAccessUnits: 0, badPackets: 0, garbageBytes: 0, reconnects: 0, lastKeyframeMs: 0 };

  readonly #opts: FfmpegCameraOptions;

  constructor(readonly cam: FleetCamera, opts: FfmpegCameraOptions) {
    this.#opts = opts;
    this.#frame = new Uint8Array(opts.width * opts.height * 3);
  }

  start(): void {
    this.#stopped = false;
    this.#spawn();
    this.#watchdog = setInterval(() => this.#watch(), 1000);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#kill();
    this.#state = 'stopped';
  }

  pids(): number[] {
    return this.#pid ? [this.#pid] : [];
  }

  status(): CameraStatus {
    return { id: this.cam.id, type: 'ffmpeg', state: this.#state, reason: this.#reason, message: this.#message, codec: undefined, since: this.#since, retryAt: this.#retryAt, counters: { ...this.#counters } };
  }

  #url(): string {
    const u = new URL(this.cam.url);
    if (this.cam.username !== undefined) { u.username = encodeURIComponent(this.cam.username); u.password = encodeURIComponent(this.cam.password ?? ''); }
    return u.toString();
  }

  #spawn(): void {
    const { width, height } = this.#opts;
    const timeoutUs = String(Math.round(this.#opts.stallTimeoutMs * 500)); // ffmpeg gives up after about twice this
    const cmd = ffmpeg(this.#url())
      .inputOptions(['-rtsp_transport', 'tcp', '-timeout', timeoutUs, '-skip_frame', 'nokey', '-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0', '-threads', '1'])
      .outputOptions(['-an', '-map', '0:v:0', '-fps_mode', 'passthrough', '-threads', '1', '-filter_threads', '1', '-vf', rgbFrameFilter(width, height)])
      .format('rawvideo');
    let stderr = '';
    cmd.on('start', () => { this.#pid = (cmd as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc?.pid; });
    cmd.on('stderr', (line: string) => { stderr = (stderr + '\n' + line).slice(-2000); });
    const exit = (err?: Error): void => {
      if (this.#cmd !== cmd) return;
      this.#cmd = undefined;
      this.#pid = undefined;
      const text = `${err?.message ?? ''}\n${stderr}`;
      this.#fail(ffmpegReason(text), `camera ${this.cam.id}: ffmpeg exited: ${(err?.message ?? 'end of stream').split('\n')[0]}`);
    };
    cmd.on('error', (err: Error) => exit(err));
    cmd.on('end', () => exit());
    const out = cmd.pipe() as PassThrough;
    out.on('data', (chunk: Buffer) => this.#onOutput(chunk));
    this.#cmd = cmd;
    this.#filled = 0;
    this.#startedAt = Date.now();
    this.#lastFrameAt = 0;
    this.#set('connecting', this.#reason, this.#message);
  }

  #onOutput(chunk: Buffer): void {
    this.#counters.bytes += chunk.length;
    const size = this.#frame.length;
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(size - this.#filled, chunk.length - off);
      this.#frame.set(chunk.subarray(off, off + n), this.#filled);
      this.#filled += n;
      off += n;
      if (this.#filled < size) break;
      this.#filled = 0;
      const now = Date.now();
      this.#lastFrameAt = now;
      this.#counters.keyframes++;
      this.#counters.accessUnits++;
      this.#counters.lastKeyframeMs = now;
      if (this.#state !== 'streaming') { this.#set('streaming', undefined, undefined); this.#attempt = 0; }
      const rgb = this.#frame;
      this.#frame = new Uint8Array(size);
      this.#opts.onFrame(this.cam.id, now, rgb);
    }
  }

  #watch(): void {
    if (!this.#cmd) return;
    const now = Date.now();
    const quietSince = this.#lastFrameAt || this.#startedAt;
    // Keyframes come every GOP; allow the stall timeout on top of a generous GOP.
    if (now - quietSince > this.#opts.stallTimeoutMs + 5000) {
      const wasStreaming = this.#state === 'streaming';
      this.#kill();
      this.#fail(wasStreaming ? 'stalled' : 'timeout', `camera ${this.cam.id}: no frame for ${now - quietSince} ms`);
    }
  }

  #fail(reason: FailReason, message: string): void {
    if (this.#stopped) return;
    this.#set(reason === 'stalled' ? 'stalled' : 'failed', reason, message);
    this.#opts.log?.info({ camera: this.cam.id, reason }, message);
    const base = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffInitialMs * 2 ** Math.min(this.#attempt, 30));
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.#attempt++;
    this.#retryAt = Date.now() + delay;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryAt = undefined;
      this.#counters.reconnects++;
      if (!this.#stopped) this.#spawn();
    }, delay);
  }

  #kill(): void {
    const cmd = this.#cmd;
    this.#cmd = undefined;
    this.#pid = undefined;
    if (cmd) { try { cmd.kill('SIGKILL'); } catch { /* gone */ } }
  }

  #set(state: CameraState, reason: FailReason | undefined, message: string | undefined): void {
    if (state !== this.#state) this.#since = Date.now();
    this.#state = state;
    this.#reason = reason;
    this.#message = message;
  }
}
