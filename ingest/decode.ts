import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import type { Logger } from '../core/index.ts';
import { DecodeError } from './errors.ts';
import type { VideoCodec } from './rtsp/depacketizer.ts';
import { KEYFRAME_INPUT_OPTIONS, keyframeOutputOptions } from './decode-args.ts';
import { decoderIo } from './frames/index.ts';

export interface DecoderOptions {
  /** Output size; frames of any input size are scaled to it. */
  width: number;
  height: number;
  /** A keyframe with no frame out after this long restarts the decoder. */
  timeoutMs?: number;
  /** Upper bound on how long a frame may wait inside ffmpeg for more input before it is pushed out. */
  flushAfterMs?: number;
  log?: Logger | undefined;
}

interface Job {
  real: boolean;
  /** performance.now() by which the frame should be out; pushes wait for more input until then. */
  flushBy: number;
  resolve: ((rgb: Uint8Array) => void) | undefined;
  reject: ((err: DecodeError) => void) | undefined;
  sentAt: number;
}

export interface DecoderStatus {
  codec: VideoCodec;
  pid: number | undefined;
  inFlight: number;
  decoded: number;
  flushes: number;
  restarts: number;
  lastError: string | undefined;
  /** Whether the streams decoded make ffmpeg hold frames back (B-frames), so that idle pushes are spent. */
  holdsFrames: boolean;
  /** The pool's decoder for keyframes about to be late. */
  express?: boolean;
}

// An access unit delimiter after each keyframe tells ffmpeg's parser the frame is complete.
const AUD: Record<VideoCodec, Uint8Array> = { h264: Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0), h265: Uint8Array.of(0, 0, 0, 1, 0x46, 0x01, 0x50) };

/**
 * One long-lived ffmpeg (driven by fluent-ffmpeg) that turns Annex-B keyframes into raw RGB at a
 * fixed size. Every keyframe written yields exactly one frame, in order, so the frames answer the
 * jobs first in, first out (a keyframe that yields none restarts the decoder, see spawn()).
 * The access unit delimiter after each keyframe lets the frame out at once, unless the stream's
 * parameter sets allow reordering (B-frames): then ffmpeg holds frames back until more input
 * comes. Once a decoder has seen that, when it goes idle with a frame inside, the last keyframe is
 * written again and its extra output discarded.
 *
 * Frames come back over a Unix socket that ffmpeg listens on, not its stdout: each read lands
 * in the frame being filled, so a frame costs no copy and no read buffers (at 100 frames a second
 * those were 30 MB/s of garbage: 1,000 cameras spent 1.09 s of a 48 s run in GC pauses, 0.67 s
 * without them). Keyframes go in over another such socket, not its stdin. Both are written and
 * read on the decoder I/O thread (frames/), not the main one: a frame takes several socket
 * buffers and eight keyframes more than a pipe holds, and ffmpeg had waited on a busy main
 * thread for each (600 keyframes, main thread busy 12 ms in every 20: 12.4 → 6.6 ms a frame).
 */
export class KeyframeDecoder {
  #cmd: ffmpeg.FfmpegCommand | undefined;
  /** ffmpeg's input and output, Unix sockets it listens on, handled by the decoder I/O thread. */
  #io: number | undefined;
  #socketPaths: string[] = [];
  readonly #jobs: Job[] = [];
  #last: Uint8Array | undefined;
  #lastWriteAt = 0;
  /** Writes not yet gone into ffmpeg's input socket whole, and when the last one did. */
  #unwritten = 0;
  #lastWrittenAt = 0;
  #lastOutputAt = 0;
  /** Moving average of the time between writes. */
  #gapMs = 50;
  #timer: NodeJS.Timeout | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #pid: number | undefined;
  #decoded = 0;
  #flushes = 0;
  #restarts = -1;
  /** How many frames ffmpeg holds back until more input comes (0: none), as last seen. */
  #holdDepth = 0;
  /** ffmpeg's CPU time at the last watch, in clock ticks (-1: unknown). */
  #cpuTicks = -1;
  #lastError: string | undefined;
  readonly #frameBytes: number;
  readonly #timeoutMs: number;
  readonly #flushAfterMs: number;

  readonly #opts: DecoderOptions;

  constructor(readonly codec: VideoCodec, opts: DecoderOptions) {
    this.#opts = opts;
    this.#frameBytes = opts.width * opts.height * 3;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#flushAfterMs = opts.flushAfterMs ?? 15;
  }

  get width(): number { return this.#opts.width; }
  get height(): number { return this.#opts.height; }

  get inFlight(): number {
    let n = 0;
    for (const j of this.#jobs) if (j.real) n++;
    return n;
  }

  /** Decodes one keyframe (Annex-B, parameter sets included); resolves with width×height×3 RGB bytes. */
  decode(annexB: Uint8Array, slackMs?: number): Promise<Uint8Array> {
    if (this.#io === undefined) this.#spawn();
    return new Promise((resolve, reject) => {
      const now = performance.now();
      const wait = slackMs === undefined ? Math.min(this.#flushAfterMs, 2 * this.#gapMs) : Math.min(Math.max(slackMs, 0), MAX_HOLD_MS);
      this.#jobs.push({ real: true, flushBy: now + wait, resolve, reject, sentAt: now });
      this.#last = annexB;
      this.#write(annexB);
    });
  }

  status(): DecoderStatus {
    return { codec: this.codec, pid: this.#pid, inFlight: this.inFlight, decoded: this.#decoded, flushes: this.#flushes, restarts: Math.max(0, this.#restarts), lastError: this.#lastError, holdsFrames: this.#holdDepth > 0 };
  }

  pids(): number[] {
    return this.#pid ? [this.#pid] : [];
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#timer = undefined;
    this.#flushTimer = undefined;
    this.#kill(new DecodeError('decoder stopped'));
  }

  #write(data: Uint8Array): void {
    const now = performance.now();
    if (this.#lastWriteAt > 0) this.#gapMs += (Math.min(now - this.#lastWriteAt, 1000) - this.#gapMs) * 0.1;
    this.#lastWriteAt = now;
    this.#unwritten++;
    decoderIo.write(this.#io!, data, AUD[this.codec]);
    this.#armFlush();
  }

  /**
   * When ffmpeg holds `holdDepth` frames back, a frame comes out only when that many more are
   * written after it. Once no more than that many are inside and one of them is a sample, and
   * the next keyframe is not due soon (twice the usual gap), push by writing the last keyframe
   * again, once per wait, until the samples are out; the extra outputs are discarded. (A tiny
   * keyframe of another size would be cheaper, but ffmpeg's reconfiguration on the size change
   * loses frame alignment.)
   */
  #armFlush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#holdDepth === 0 || this.#jobs.length > this.#holdDepth) return;
    const sample = this.#jobs.find((j) => j.real);
    if (!sample) return;
    // Wait for a natural push as long as the frame can afford (a keyframe that arrived early in
    // its sampling window can wait longer), but never longer than twice the usual gap beyond it.
    const wait = Math.min(sample.flushBy - performance.now(), Math.max(this.#flushAfterMs, 2 * this.#gapMs));
    this.#flushTimer = setTimeout(() => this.#flush(), Math.max(2, wait));
  }

  #flush(): void {
    this.#flushTimer = undefined;
    if (!this.#last || this.#io === undefined || !this.#jobs.some((j) => j.real)) return;
    this.#flushes++;
    this.#jobs.push({ real: false, flushBy: 0, resolve: undefined, reject: undefined, sentAt: performance.now() });
    this.#lastWriteAt = performance.now();
    this.#unwritten++;
    decoderIo.write(this.#io, this.#last, AUD[this.codec]);
    this.#armFlush();
  }

  #spawn(): void {
    this.#restarts++;
    const { width, height } = this.#opts;
    const inputPath = socketPath('in'), outputPath = socketPath('out');
    for (const p of [inputPath, outputPath]) rmSync(p, { force: true });
    this.#socketPaths = [inputPath, outputPath];
    const cmd = ffmpeg(`unix:${inputPath}`)
      .inputFormat(this.codec === 'h264' ? 'h264' : 'hevc')
      .inputOptions(['-listen', '1', '-timeout', String(LISTEN_TIMEOUT_MS), ...KEYFRAME_INPUT_OPTIONS])
      .output(`unix:${outputPath}`)
      .outputOptions([...keyframeOutputOptions(width, height), '-listen', '1', '-timeout', String(LISTEN_TIMEOUT_MS)])
      .format('rawvideo');
    cmd.on('start', () => {
      this.#pid = (cmd as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc?.pid;
    });
    const onExit = (err?: Error): void => {
      if (this.#cmd !== cmd) return;
      this.#lastError = err?.message.split('\n')[0];
      this.#opts.log?.warn({ codec: this.codec, err: this.#lastError }, 'decoder exited; it restarts on the next keyframe');
      this.#kill(new DecodeError(`ffmpeg decoder exited: ${this.#lastError ?? 'end of stream'}`, { cause: err }));
    };
    cmd.on('error', (err: Error) => onExit(err));
    // A keyframe that yields no frame would shift every later frame onto the wrong camera:
    // start afresh instead (the samples in flight are dropped and counted).
    cmd.on('stderr', (line: string) => {
      if (this.#cmd !== cmd || !/no frame!|missing picture|Invalid data found when processing input/.test(line)) return;
      this.#lastError = line.trim().slice(0, 200);
      this.#kill(new DecodeError(`ffmpeg decoder lost a frame (${this.#lastError}); restarting it`));
    });
    cmd.on('end', () => onExit());
    cmd.run();
    this.#cmd = cmd;
    this.#holdDepth = 0;
    this.#unwritten = 0;
    this.#connect(cmd, inputPath, outputPath);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#watch(), 200);
      this.#timer.unref();
    }
  }

  /**
   * Connects the decoder I/O thread to ffmpeg's sockets: the input at once (what is written
   * meanwhile waits there), the output once ffmpeg listens on it, which it does when the first
   * keyframe has told it the stream's parameters; until then frames cannot come out, so nothing
   * is lost while the thread retries. Once the output is connected, a failure is ffmpeg's exit,
   * which its own handler reports.
   */
  #connect(cmd: ffmpeg.FfmpegCommand, inputPath: string, outputPath: string): void {
    this.#io = decoderIo.open(inputPath, outputPath, this.#frameBytes, OUTPUT_CONNECT_MS, {
      onFrame: (rgb) => { if (this.#cmd === cmd) this.#onFrame(rgb); },
      onWritten: () => { if (this.#cmd === cmd) { this.#unwritten--; this.#lastWrittenAt = performance.now(); } },
      onConnected: () => { for (const p of [inputPath, outputPath]) rmSync(p, { force: true }); }, // the names are no longer needed
      onError: (message, connected) => {
        if (this.#cmd !== cmd || connected) return;
        this.#lastError = message;
        this.#kill(new DecodeError(`ffmpeg decoder's output could not be read (${message}); restarting it`));
      },
    });
  }

  /** One whole frame came out: it answers the oldest job. */
  #onFrame(rgb: Uint8Array): void {
    this.#lastOutputAt = performance.now();
    const job = this.#jobs.shift();
    // The last frame written came out with nothing after it: this stream is not held back (a
    // slow decode under load, not a hold, is what made the decoder look stuck).
    if (this.#jobs.length === 0) this.#holdDepth = 0;
    this.#armFlush();
    if (job?.real) {
      this.#decoded++;
      job.resolve!(rgb); // the detectors own it now
    }
  }

  #watch(): void {
    if (this.#jobs.length === 0 || this.#io === undefined) return;
    const now = performance.now();
    // Stuck means no output for the timeout while work is waiting (a long queue alone is not).
    const oldest = this.#jobs[0]!;
    const quietMs = now - Math.max(oldest.sentAt, this.#lastOutputAt, this.#lastWriteAt, this.#lastWrittenAt);
    if (quietMs > this.#timeoutMs) {
      this.#lastError = `no frame within ${this.#timeoutMs} ms`;
      this.#kill(new DecodeError(`ffmpeg decoder gave no frame within ${this.#timeoutMs} ms; restarting it`));
      return;
    }
    // ffmpeg still spending CPU is decoding (a backlog, a slow machine), not holding frames back:
    // a push would only add work. So is one waiting for a core (runnable), or for the rest of a
    // keyframe still being written: on a busy machine either may have had no CPU since the last look.
    const cpu = this.#pid === undefined ? undefined : cpuOf(this.#pid);
    const working = this.#unwritten > 0 || (cpu !== undefined && (cpu.runnable || (this.#cpuTicks >= 0 && cpu.ticks - this.#cpuTicks > 1)));
    this.#cpuTicks = cpu?.ticks ?? -1;
    // Quiet and idle: frames held back (the stream allows reordering), all that is inside. From
    // now on push whenever the decoder goes idle with a sample inside, until a frame comes out
    // on its own again.
    if (quietMs > HELD_AFTER_MS && !working) {
      if (this.#holdDepth === 0) this.#opts.log?.info({ codec: this.codec, frames: this.#jobs.length }, 'decoder holds frames back (B-frames in a stream); pushing them out when idle');
      this.#holdDepth = Math.min(MAX_HOLD_DEPTH, Math.max(this.#holdDepth, this.#jobs.length));
      this.#flush();
    }
  }

  #kill(err: DecodeError): void {
    const cmd = this.#cmd;
    this.#cmd = undefined;
    if (this.#io !== undefined) decoderIo.close(this.#io);
    this.#io = undefined;
    for (const p of this.#socketPaths.splice(0)) rmSync(p, { force: true });
    this.#pid = undefined;
    if (cmd) { try { cmd.kill('SIGKILL'); } catch { /* already gone */ } }
    const jobs = this.#jobs.splice(0);
    for (const j of jobs) j.reject?.(err);
  }
}

/**
 * Readies what a process's first decode would otherwise wait for: the decoder I/O thread (about
 * 0.4 s to load here) and fluent-ffmpeg's one-off look for ffmpeg and its formats (`ffmpeg
 * -formats`, 0.13 s) before it spawns the first decoder. The first decode in a fresh process,
 * a second after start: 0.56–0.65 s cold against 0.30–0.36 s warmed; 1.65–1.77 s against
 * 0.97–1.05 s with four CPU burners beside it: time a node taking cameras over would spend on
 * their first samples.
 */
export function warmDecoders(): void {
  decoderIo.warm();
  ffmpeg.getAvailableFormats(() => undefined);
}

/**
 * A process's user + system CPU time in clock ticks, and whether one of its threads is running
 * or waiting for a core (not asleep), from /proc; undefined where unreadable. Threads, because
 * newer ffmpeg decodes on a thread of its own.
 */
function cpuOf(pid: number): { ticks: number; runnable: boolean } | undefined {
  const f = statFields(`/proc/${pid}/stat`);
  if (!f) return undefined;
  let threads: string[] = [];
  try { threads = readdirSync(`/proc/${pid}/task`); } catch { /* gone: not runnable */ }
  return { ticks: Number(f[11]) + Number(f[12]), runnable: threads.some((tid) => statFields(`/proc/${pid}/task/${tid}/stat`)?.[0] === 'R') };
}

/** The fields of a /proc stat file after the command name, from the state on; undefined where unreadable. */
function statFields(path: string): string[] | undefined {
  try {
    const stat = readFileSync(path, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

let socketSeq = 0;

/** A fresh path for a decoder's input or output socket, short enough for a Unix socket address. */
function socketPath(end: 'in' | 'out'): string {
  const name = `gw-decoder-${process.pid}-${++socketSeq}-${end}.sock`;
  const inTmp = join(tmpdir(), name);
  return inTmp.length <= 100 ? inTmp : join('/tmp', name);
}
/** How long a new decoder may take to start listening on its output socket. */
const OUTPUT_CONNECT_MS = 10_000;
/**
 * How long ffmpeg waits for the I/O thread to connect to a socket it listens on, then gives up
 * and exits. Without it, a decoder whose process died between its spawn and the connection (a
 * SIGKILL, a crash) waited in accept() for ever: one was found orphaned half an hour on.
 */
const LISTEN_TIMEOUT_MS = 30_000;

/** A frame not out this long after the decoder went quiet is taken to be held back. */
const HELD_AFTER_MS = 400;
/** ffmpeg holds at most this many frames for the reorder depths cameras use. */
const MAX_HOLD_DEPTH = 4;
/** The longest a decoded frame waits inside ffmpeg for the next keyframe to push it out. */
const MAX_HOLD_MS = 400;
