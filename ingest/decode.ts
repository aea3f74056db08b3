import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { Logger } from '../core/index.ts';
import { DecodeError } from './errors.ts';
import type { VideoCodec } from './rtsp/depacketizer.ts';

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
  /** The sequence number written in an SEI before the keyframe, and read back with its frame. */
  seq: number;
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
  /** Frames that came back for the wrong keyframe (each restarted the decoder); false when unchecked. */
  outOfStep: number | false;
  /** The pool's decoder for keyframes about to be late. */
  express?: boolean;
}

/**
 * Each keyframe goes in after an SEI (user data unregistered, our UUID) that carries its sequence
 * number; ffmpeg's showinfo filter prints it back with the frame it decoded, so each frame is
 * checked against the keyframe it answers before anyone gets it.
 */
const SEQ_UUID = Uint8Array.from(Buffer.from('6777617463682d7365712d6e756d6265', 'hex'));
const SEQ_UUID_TEXT = 'UUID=67776174-6368-2d73-6571-2d6e756d6265';
const SEI_HEADER: Record<VideoCodec, number[]> = { h264: [0, 0, 0, 1, 0x06], h265: [0, 0, 0, 1, 0x4e, 0x01] };

function seqSei(codec: VideoCodec, seq: number): Uint8Array {
  const digits = Buffer.from(String(seq).padStart(12, '0'), 'latin1');
  return Uint8Array.from([...SEI_HEADER[codec], 0x05, SEQ_UUID.length + digits.length, ...SEQ_UUID, ...digits, 0x80]);
}

// An access unit delimiter after each keyframe tells ffmpeg's parser the frame is complete.
const AUD: Record<VideoCodec, Uint8Array> = { h264: Uint8Array.of(0, 0, 0, 1, 0x09, 0xf0), h265: Uint8Array.of(0, 0, 0, 1, 0x46, 0x01, 0x50) };

/**
 * One long-lived ffmpeg (driven by fluent-ffmpeg) that turns Annex-B keyframes into raw RGB at a
 * fixed size. Every keyframe written yields exactly one frame, in order, so the frames answer the
 * jobs first in, first out (a keyframe that yields none restarts the decoder, see spawn()), and
 * each frame's sequence number (SEI in, showinfo out) is checked against its job's: a decoder
 * that answers a keyframe with another one's frame is restarted before the frame goes anywhere.
 * The access unit delimiter after each keyframe lets the frame out at once, unless the stream's
 * parameter sets allow reordering (B-frames): then ffmpeg holds frames back until more input
 * comes. Once a decoder has seen that, when it goes idle with a frame inside, the last keyframe is
 * written again and its extra output discarded.
 */
export class KeyframeDecoder {
  private cmd: ffmpeg.FfmpegCommand | undefined;
  private input: PassThrough | undefined;
  private readonly jobs: Job[] = [];
  private frame: Uint8Array;
  private filled = 0;
  private last: Uint8Array | undefined;
  private lastWriteAt = 0;
  private lastOutputAt = 0;
  /** Moving average of the time between writes. */
  private gapMs = 50;
  private timer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private pid: number | undefined;
  private decoded = 0;
  private flushes = 0;
  private restarts = -1;
  /** How many frames ffmpeg holds back until more input comes (0: none), as last seen. */
  private holdDepth = 0;
  /** ffmpeg's CPU time at the last watch, in clock ticks (-1: unknown). */
  private cpuTicks = -1;
  private nextSeq = 0;
  /** Decoded frames waiting for the sequence number ffmpeg reports with them, and the reverse. */
  private readonly frames: Uint8Array[] = [];
  private readonly seqs: number[] = [];
  /** The next `User Data=` line on stderr is our SEI's. */
  private seiLine = false;
  /** False once this ffmpeg has shown it reports no sequence numbers: frames match by order only. */
  private checked = true;
  private spare: Uint8Array | undefined;
  private mismatches = 0;
  private lastError: string | undefined;
  private readonly frameBytes: number;
  private readonly timeoutMs: number;
  private readonly flushAfterMs: number;

  constructor(readonly codec: VideoCodec, private readonly opts: DecoderOptions) {
    this.frameBytes = opts.width * opts.height * 3;
    this.frame = new Uint8Array(this.frameBytes);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.flushAfterMs = opts.flushAfterMs ?? 15;
  }

  get inFlight(): number {
    let n = 0;
    for (const j of this.jobs) if (j.real) n++;
    return n;
  }

  /** Decodes one keyframe (Annex-B, parameter sets included); resolves with width×height×3 RGB bytes. */
  decode(annexB: Uint8Array, slackMs?: number): Promise<Uint8Array> {
    if (!this.input) this.spawn();
    return new Promise((resolve, reject) => {
      const now = performance.now();
      const wait = slackMs === undefined ? Math.min(this.flushAfterMs, 2 * this.gapMs) : Math.min(Math.max(slackMs, 0), MAX_HOLD_MS);
      const seq = this.nextSeq++;
      this.jobs.push({ seq, real: true, flushBy: now + wait, resolve, reject, sentAt: now });
      this.last = annexB;
      this.write(seq, annexB);
    });
  }

  status(): DecoderStatus {
    return { codec: this.codec, pid: this.pid, inFlight: this.inFlight, decoded: this.decoded, flushes: this.flushes, restarts: Math.max(0, this.restarts), lastError: this.lastError, holdsFrames: this.holdDepth > 0, outOfStep: this.checked ? this.mismatches : false };
  }

  pids(): number[] {
    return this.pid ? [this.pid] : [];
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.timer = undefined;
    this.flushTimer = undefined;
    this.kill(new DecodeError('decoder stopped'));
  }

  private write(seq: number, data: Uint8Array): void {
    const now = performance.now();
    if (this.lastWriteAt > 0) this.gapMs += (Math.min(now - this.lastWriteAt, 1000) - this.gapMs) * 0.1;
    this.lastWriteAt = now;
    this.input!.write(seqSei(this.codec, seq));
    this.input!.write(data);
    this.input!.write(AUD[this.codec]);
    this.armFlush();
  }

  /**
   * When ffmpeg holds `holdDepth` frames back, a frame comes out only when that many more are
   * written after it. Once no more than that many are inside and one of them is a sample, and
   * the next keyframe is not due soon (twice the usual gap), push by writing the last keyframe
   * again, once per wait, until the samples are out; the extra outputs are discarded. (A tiny
   * keyframe of another size would be cheaper, but ffmpeg's reconfiguration on the size change
   * loses frame alignment.)
   */
  private armFlush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.holdDepth === 0 || this.jobs.length > this.holdDepth) return;
    const sample = this.jobs.find((j) => j.real);
    if (!sample) return;
    // Wait for a natural push as long as the frame can afford (a keyframe that arrived early in
    // its sampling window can wait longer), but never longer than twice the usual gap beyond it.
    const wait = Math.min(sample.flushBy - performance.now(), Math.max(this.flushAfterMs, 2 * this.gapMs));
    this.flushTimer = setTimeout(() => this.flush(), Math.max(2, wait));
  }

  private flush(): void {
    this.flushTimer = undefined;
    if (!this.last || !this.input || !this.jobs.some((j) => j.real)) return;
    this.flushes++;
    const seq = this.nextSeq++;
    this.jobs.push({ seq, real: false, flushBy: 0, resolve: undefined, reject: undefined, sentAt: performance.now() });
    this.lastWriteAt = performance.now();
    this.input.write(seqSei(this.codec, seq));
    this.input.write(this.last);
    this.input.write(AUD[this.codec]);
    this.armFlush();
  }

  private spawn(): void {
    this.restarts++;
    const input = new PassThrough();
    const { width, height } = this.opts;
    const cmd = ffmpeg(input)
      .inputFormat(this.codec === 'h264' ? 'h264' : 'hevc')
      .inputOptions(['-threads', '1', '-skip_loop_filter', 'all', '-flags2', '+fast', '-probesize', '32', '-analyzeduration', '0', '-flags', 'low_delay'])
      .outputOptions(['-threads', '1', '-filter_threads', '1', '-vf', 'showinfo=checksum=0', '-fps_mode', 'passthrough', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-sws_flags', 'bilinear'])
      .format('rawvideo');
    cmd.on('start', () => {
      this.pid = (cmd as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc?.pid;
    });
    const onExit = (err?: Error): void => {
      if (this.cmd !== cmd) return;
      this.lastError = err?.message.split('\n')[0];
      this.opts.log?.warn({ codec: this.codec, err: this.lastError }, 'decoder exited; it restarts on the next keyframe');
      this.kill(new DecodeError(`ffmpeg decoder exited: ${this.lastError ?? 'end of stream'}`, { cause: err }));
    };
    cmd.on('error', (err: Error) => onExit(err));
    // A keyframe that yields no frame would shift every later frame onto the wrong camera:
    // start afresh instead (the samples in flight are dropped and counted).
    cmd.on('stderr', (line: string) => {
      if (this.cmd !== cmd) return;
      if (line.includes(SEQ_UUID_TEXT)) { this.seiLine = true; return; }
      if (this.seiLine) {
        this.seiLine = false;
        const hex = /User Data=([0-9a-f]+)/.exec(line)?.[1];
        if (hex) (this.seqs.push(Number(Buffer.from(hex, 'hex').toString('latin1'))), this.pair());
        return;
      }
      if (!/no frame!|missing picture|Invalid data found when processing input/.test(line)) return;
      this.lastError = line.trim().slice(0, 200);
      this.kill(new DecodeError(`ffmpeg decoder lost a frame (${this.lastError}); restarting it`));
    });
    cmd.on('end', () => onExit());
    const out = cmd.pipe() as PassThrough;
    out.on('data', (chunk: Buffer) => this.onOutput(chunk));
    input.on('error', () => undefined);
    this.cmd = cmd;
    this.input = input;
    this.filled = 0;
    this.holdDepth = 0;
    this.checked = true;
    if (!this.timer) {
      this.timer = setInterval(() => this.watch(), 200);
      this.timer.unref();
    }
  }

  private onOutput(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      this.frame.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled < this.frameBytes) break;
      this.filled = 0;
      this.lastOutputAt = performance.now();
      this.frames.push(this.frame);
      this.frame = this.spare ?? new Uint8Array(this.frameBytes);
      this.spare = undefined;
      this.pair();
    }
  }

  /** Hands each decoded frame to its job once its sequence number is in and matches. */
  private pair(): void {
    while (this.frames.length > 0 && (this.seqs.length > 0 || !this.checked)) {
      const frame = this.frames.shift()!;
      const seq = this.checked ? this.seqs.shift()! : undefined;
      const job = this.jobs.shift();
      if (!job || (seq !== undefined && seq !== job.seq)) {
        this.mismatches++;
        this.lastError = `the frame of keyframe ${seq ?? '?'} came back for keyframe ${job?.seq ?? 'none'}`;
        this.opts.log?.error({ codec: this.codec, err: this.lastError }, 'decoder frames out of step with keyframes; restarting it');
        const err = new DecodeError(`ffmpeg decoder out of step (${this.lastError}); restarting it`);
        job?.reject?.(err);
        this.kill(err);
        return;
      }
      // The last frame written came out with nothing after it: this stream is not held back (a
      // slow decode under load, not a hold, is what made the decoder look stuck).
      if (this.jobs.length === 0) this.holdDepth = 0;
      this.armFlush();
      if (job.real) {
        this.decoded++;
        job.resolve!(frame); // handed off: the detectors own it now
      } else {
        this.spare = frame;
      }
    }
  }

  private watch(): void {
    if (this.jobs.length === 0 || !this.input) return;
    const now = performance.now();
    // A frame out long ago whose sequence number never came: this ffmpeg does not report them.
    if (this.checked && this.frames.length > 0 && this.seqs.length === 0 && now - this.lastOutputAt > SEQ_WAIT_MS) {
      this.checked = false;
      this.opts.log?.warn({ codec: this.codec }, 'ffmpeg reports no keyframe sequence numbers (SEI side data); frames are matched by order only');
      this.pair();
    }
    // Stuck means no output for the timeout while work is waiting (a long queue alone is not).
    const oldest = this.jobs[0]!;
    const quietMs = now - Math.max(oldest.sentAt, this.lastOutputAt, this.lastWriteAt);
    if (quietMs > this.timeoutMs) {
      this.lastError = `no frame within ${this.timeoutMs} ms`;
      this.kill(new DecodeError(`ffmpeg decoder gave no frame within ${this.timeoutMs} ms; restarting it`));
      return;
    }
    // ffmpeg still spending CPU is decoding (a backlog, a slow machine), not holding frames back:
    // a push would only add work.
    const ticks = this.pid === undefined ? undefined : cpuTicksOf(this.pid);
    const working = ticks !== undefined && this.cpuTicks >= 0 && ticks - this.cpuTicks > 1;
    this.cpuTicks = ticks ?? -1;
    // Quiet and idle: frames held back (the stream allows reordering), all that is inside. From
    // now on push whenever the decoder goes idle with a sample inside, until a frame comes out
    // on its own again.
    if (quietMs > HELD_AFTER_MS && !working) {
      if (this.holdDepth === 0) this.opts.log?.info({ codec: this.codec, frames: this.jobs.length }, 'decoder holds frames back (B-frames in a stream); pushing them out when idle');
      this.holdDepth = Math.min(MAX_HOLD_DEPTH, Math.max(this.holdDepth, this.jobs.length));
      this.flush();
    }
  }

  private kill(err: DecodeError): void {
    const cmd = this.cmd;
    this.cmd = undefined;
    this.input?.end();
    this.input = undefined;
    this.pid = undefined;
    if (cmd) { try { cmd.kill('SIGKILL'); } catch { /* already gone */ } }
    this.frames.length = 0;
    this.seqs.length = 0;
    this.seiLine = false;
    const jobs = this.jobs.splice(0);
    for (const j of jobs) j.reject?.(err);
  }
}

/** A process's user + system CPU time in clock ticks, from /proc; undefined where unreadable. */
function cpuTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return undefined;
  }
}

/** How long a decoded frame may wait for its sequence number on stderr. */
const SEQ_WAIT_MS = 2000;
const SPILL_AT = 3;
/** A frame not out this long after the decoder went quiet is taken to be held back. */
const HELD_AFTER_MS = 400;
/** ffmpeg holds at most this many frames for the reorder depths cameras use. */
const MAX_HOLD_DEPTH = 4;
/** Keyframes with less time than this before they are late take the express decoder. */
const EXPRESS_SLACK_MS = 100;
/** The longest a decoded frame waits inside ffmpeg for the next keyframe to push it out. */
const MAX_HOLD_MS = 400;

/**
 * A few long-lived decoders per codec, started as the load needs them, and one express decoder
 * per codec for keyframes about to be late: it is nearly always idle, so such a keyframe is
 * decoded at once instead of waiting behind others in a busy decoder's pipe.
 */
export class DecoderPool {
  private readonly decoders: KeyframeDecoder[] = [];
  private readonly express = new Map<VideoCodec, KeyframeDecoder>();

  constructor(private readonly opts: DecoderOptions & { perCodec?: number }) {}

  /**
   * `slackMs`: how long the frame may take before it is late; pushes are spent only when needed.
   * Keyframes go to the first decoder of their codec until it has a few in flight, and only then
   * to the next: a steady stream into one ffmpeg rarely needs a push, and a busy one spills over.
   * A keyframe with less than EXPRESS_SLACK_MS left goes to the express decoder.
   */
  decode(codec: VideoCodec, annexB: Uint8Array, slackMs?: number): Promise<Uint8Array> {
    if (slackMs !== undefined && slackMs < EXPRESS_SLACK_MS) {
      let d = this.express.get(codec);
      if (!d) this.express.set(codec, (d = new KeyframeDecoder(codec, this.opts)));
      if (d.inFlight < SPILL_AT) return d.decode(annexB, slackMs);
    }
    let best: KeyframeDecoder | undefined;
    let count = 0;
    for (const d of this.decoders) {
      if (d.codec !== codec) continue;
      count++;
      if (d.inFlight < SPILL_AT) return d.decode(annexB, slackMs);
      if (!best || d.inFlight < best.inFlight) best = d;
    }
    if (!best || count < (this.opts.perCodec ?? 1)) {
      best = new KeyframeDecoder(codec, this.opts);
      this.decoders.push(best);
    }
    return best.decode(annexB, slackMs);
  }

  get width(): number { return this.opts.width; }
  get height(): number { return this.opts.height; }

  status(): DecoderStatus[] {
    return this.all().map((d) => ({ ...d.status(), express: this.express.get(d.codec) === d }));
  }

  pids(): number[] {
    return this.all().flatMap((d) => d.pids());
  }

  stop(): void {
    for (const d of this.all()) d.stop();
  }

  private all(): KeyframeDecoder[] {
    return [...this.decoders, ...this.express.values()];
  }
}
