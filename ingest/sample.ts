import type { AccessUnit, VideoCodec } from './rtsp/depacketizer.ts';
import type { DecoderPool } from './decode.ts';
import { errorMessage } from '../core/index.ts';

/** One decoded frame picked for the detectors. Both ingest modes produce it. */
export interface Sample {
  cameraId: string;
  /** When the camera captured the frame, on its monotonic clock (ms since the epoch). */
  captureTimeMs: number;
  /** When this sample was due by the camera's schedule. */
  dueMs: number;
  width: number;
  height: number;
  /** width × height × 3 bytes, RGB, row-major; owned by the receiver. */
  rgb: Uint8Array;
  source: 'rtsp' | 'ffmpeg';
}

export interface SamplerOptions {
  defaultPeriodS: number;
  /** Keyframes decoded per second over all cameras; above it, cameras wait their turn. */
  decodeBudgetPerS: number;
  /** Decodes in flight at once. */
  maxDecodesInFlight?: number;
  /** A sample delivered more than this after it was due counts as late. */
  onTimeMs?: number;
  decoder: DecoderPool;
  onSample: (s: Sample) => void;
  /** Called for every sample dropped: `superseded` (a newer keyframe came first) or `decode`. */
  onDrop?: (cameraId: string, reason: 'superseded' | 'decode', detail?: string) => void;
}

export interface SamplerStats {
  cameras: number;
  /** Due slots whose on-time window has passed. */
  expected: number;
  delivered: number;
  onTime: number;
  dropped: { superseded: number; decode: number };
  queued: number;
  decodesInFlight: number;
}

interface Pending {
  codec: VideoCodec;
  data: Uint8Array;
  captureTimeMs: number;
  dueMs: number;
  slot: number;
}

interface Schedule {
  id: string;
  periodMs: number;
  firstDueMs: number;
  /** Last slot a keyframe was taken for. */
  takenSlot: number;
  pending: Pending | undefined;
  inRing: boolean;
  delivered: number;
  onTime: number;
  removed: boolean;
}

/**
 * Picks one keyframe per camera per period: slot k is due at firstDue + k·period (a random
 * phase per camera), and the first keyframe to arrive after that is taken. Picked keyframes wait
 * in a ring, one per camera, and are decoded within a global budget in ring order, so a busy
 * camera never starves the others. Picks that are already late wait behind those that can
 * still be on time.
 */
export class Sampler {
  private readonly cams = new Map<string, Schedule>();
  private readonly ring: Schedule[] = [];
  private ringHead = 0;
  private readonly late: Schedule[] = [];
  private lateHead = 0;
  private tokens: number;
  private lastRefill = performance.now();
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly dropped = { superseded: 0, decode: 0 };
  private readonly onTimeMs: number;
  private delivered = 0;
  private onTime = 0;

  constructor(private readonly opts: SamplerOptions) {
    this.tokens = Math.max(1, opts.decodeBudgetPerS);
    this.onTimeMs = opts.onTimeMs ?? 2000;
  }

  add(id: string, periodS?: number): void {
    const periodMs = (periodS ?? this.opts.defaultPeriodS) * 1000;
    const old = this.cams.get(id);
    if (old && old.periodMs === periodMs) return;
    if (old) old.removed = true;
    this.cams.set(id, { id, periodMs, firstDueMs: Date.now() + Math.random() * periodMs, takenSlot: -1, pending: undefined, inRing: false, delivered: 0, onTime: 0, removed: false });
  }

  remove(id: string): void {
    const s = this.cams.get(id);
    if (s) s.removed = true;
    this.cams.delete(id);
  }

  /** The slot due now for this camera, or -1 when none is open. */
  private openSlot(s: Schedule, now: number): number {
    if (now < s.firstDueMs) return -1;
    const slot = Math.floor((now - s.firstDueMs) / s.periodMs);
    return slot > s.takenSlot ? slot : -1;
  }

  /** Every keyframe of an in-process session comes here; only the ones due are copied. */
  offerKeyframe(id: string, au: AccessUnit): void {
    const s = this.cams.get(id);
    if (!s) return;
    const now = Date.now();
    const slot = this.openSlot(s, now);
    if (slot < 0) return;
    s.takenSlot = slot;
    if (s.pending) { this.dropped.superseded++; this.opts.onDrop?.(id, 'superseded'); }
    s.pending = { codec: au.codec, data: au.data.slice(), captureTimeMs: au.timeMs, dueMs: s.firstDueMs + slot * s.periodMs, slot };
    if (!s.inRing) { s.inRing = true; this.ring.push(s); }
    this.pump();
  }

  /** A frame the per-camera ffmpeg mode already decoded; taken when a slot is open. */
  offerDecoded(id: string, captureTimeMs: number, width: number, height: number, rgb: Uint8Array): void {
    const s = this.cams.get(id);
    if (!s) return;
    const now = Date.now();
    const slot = this.openSlot(s, now);
    if (slot < 0) return;
    s.takenSlot = slot;
    this.deliver(s, { cameraId: id, captureTimeMs, dueMs: s.firstDueMs + slot * s.periodMs, width, height, rgb, source: 'ffmpeg' });
  }

  stats(asOf = Date.now()): SamplerStats {
    let expected = 0;
    for (const s of this.cams.values()) {
      const t = asOf - this.onTimeMs;
      if (t >= s.firstDueMs) expected += Math.floor((t - s.firstDueMs) / s.periodMs) + 1;
    }
    return { cameras: this.cams.size, expected, delivered: this.delivered, onTime: this.onTime, dropped: { ...this.dropped }, queued: this.ring.length - this.ringHead + this.late.length - this.lateHead, decodesInFlight: this.inFlight };
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.ring.length = 0;
    this.ringHead = 0;
    this.late.length = 0;
    this.lateHead = 0;
  }

  private deliver(s: Schedule, sample: Sample): void {
    if (s.removed) return;
    s.delivered++;
    this.delivered++;
    if (Date.now() <= sample.dueMs + this.onTimeMs) { s.onTime++; this.onTime++; }
    this.opts.onSample(sample);
  }

  private pump(): void {
    const max = this.opts.maxDecodesInFlight ?? 8;
    const now = performance.now();
    const rate = this.opts.decodeBudgetPerS;
    this.tokens = Math.min(Math.max(1, rate), this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    const nowMs = Date.now();
    while ((this.ringHead < this.ring.length || this.lateHead < this.late.length) && this.tokens >= 1 && this.inFlight < max) {
      let s: Schedule;
      if (this.ringHead < this.ring.length) {
        s = this.ring[this.ringHead++]!;
        s.inRing = false;
        // Already late: serve it only when nothing that can still be on time is waiting, so a
        // backlog does not make every later sample late too. Its camera's next slot comes fresh.
        if (s.pending && !s.removed && s.pending.dueMs + this.onTimeMs < nowMs) { this.late.push(s); continue; }
      } else {
        s = this.late[this.lateHead++]!;
      }
      const p = s.pending;
      s.pending = undefined;
      if (!p || s.removed) continue;
      this.tokens -= 1;
      this.inFlight++;
      // Time left before this sample is late, less a margin for decoding itself.
      const slackMs = p.dueMs + this.onTimeMs - Date.now() - 150;
      this.opts.decoder.decode(p.codec, p.data, slackMs).then((rgb) => {
        this.inFlight--;
        this.deliver(s, { cameraId: s.id, captureTimeMs: p.captureTimeMs, dueMs: p.dueMs, width: this.opts.decoder.width, height: this.opts.decoder.height, rgb, source: 'rtsp' });
        this.pump();
      }, (err: unknown) => {
        this.inFlight--;
        this.dropped.decode++;
        this.opts.onDrop?.(s.id, 'decode', errorMessage(err));
        this.pump();
      });
    }
    if (this.ringHead > 1024 && this.ringHead * 2 > this.ring.length) { this.ring.splice(0, this.ringHead); this.ringHead = 0; }
    if (this.lateHead > 1024 && this.lateHead * 2 > this.late.length) { this.late.splice(0, this.lateHead); this.lateHead = 0; }
    if ((this.ringHead < this.ring.length || this.lateHead < this.late.length) && !this.timer && this.tokens < 1) {
      this.timer = setTimeout(() => { this.timer = undefined; this.pump(); }, Math.ceil(1000 / Math.max(rate, 0.001)));
    }
  }
}
