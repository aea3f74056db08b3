import type { AccessUnit, VideoCodec } from './rtsp/depacketizer.ts';
import type { DecoderPool, FrameSize } from './decoder-pool.ts';
import { errorMessage, TokenBucket } from '../core/index.ts';
import type { CameraSample } from '../domain/index.ts';
import { DecodeLine, type InLine } from './decode-line.ts';

/**
 * What the gate before decoding says of a keyframe that took a slot: `skip` (the scene has not
 * changed), `decode`, or `reverify`: the camera is at its last sample before `reverify_s` would
 * pass without an inference, which is decoded before routine samples.
 */
export type GateDecision = 'skip' | 'decode' | 'reverify';

/** One decoded frame picked for the detectors. Both ingest modes produce it. */
export interface Sample extends CameraSample {
  /** When this sample was due by the camera's schedule. */
  dueMs: number;
  /** When the sampler took its frame (ms since the epoch): the wait for a keyframe ends here. */
  pickedMs: number;
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
  /** The source of each camera's random phase, in [0, 1); seeded in tests. */
  random?: () => number;
  /**
   * Where a camera's keyframes come at a steady cadence that divides its period, its due times
   * are moved to fall this long before a keyframe (at most a quarter of the cadence). Default 500.
   */
  keyframeLeadMs?: number;
  /**
   * Asked for each keyframe that takes a slot (see decode-gate.ts). A skipped slot counts as
   * served; a `reverify` one is served like an urgent one. Without a gate every slot is decoded.
   */
  gate?: { decide(cameraId: string, captureTimeMs: number, keyframeBytes: number): GateDecision } | undefined;
  /**
   * Whether the rules are timing something on the camera (a dwell under way): its keyframes are
   * decoded before every other camera's, late or not, so that an overloaded node loses routine
   * checks, not the samples a violation is being timed on.
   */
  urgent?: ((cameraId: string) => boolean) | undefined;
  /**
   * A camera that would go this long with none of its keyframes handed to a decoder, if this
   * sample were lost too (its next comes a period on), is served like an urgent one. Under
   * overload, the cameras whose phases share a crowded second would otherwise lose to the others
   * every period and never be decoded at all. Default: never.
   */
  starvedAfterMs?: number | undefined;
  /**
   * The detectors' back-pressure: no decode starts while `waiting()` is at `limit` (a frame they
   * cannot take is CPU spent on a drop); wake() once it may have fallen, else it looks every 50 ms.
   */
  downstream?: { waiting: () => number; limit: number } | undefined;
  /** Called for every sample dropped: `superseded` (a newer keyframe came first) or `decode`. */
  onDrop?: (cameraId: string, reason: 'superseded' | 'decode', detail?: string) => void;
}

export interface SamplerStats {
  cameras: number;
  /** Due slots whose on-time window has passed. */
  expected: number;
  delivered: number;
  onTime: number;
  /** Slots whose keyframe was not decoded: the gate found the scene unchanged. */
  gatedBeforeDecode: number;
  dropped: { superseded: number; decode: number };
  queued: number;
  decodesInFlight: number;
}

interface Pending {
  codec: VideoCodec;
  data: Uint8Array;
  captureTimeMs: number;
  dueMs: number;
  pickedMs: number;
  slot: number;
}

interface Schedule extends InLine {
  id: string;
  periodMs: number;
  /** Decoded size; the decoder pool's default when absent. */
  size: FrameSize | undefined;
  firstDueMs: number;
  /** Last slot a keyframe was taken for: -1 none yet; -2 none, and a sample is wanted at once (slot -1, see add()). */
  takenSlot: number;
  /** When the camera was added: the due time of slot -1; and whether slot -1 was taken. */
  addedMs: number;
  tookAtOnce: boolean;
  pending: Pending | undefined;
  /** Capture time of the last keyframe seen, and the keyframe cadence measured from it. */
  lastKeyframeMs: number;
  cadenceMs: number;
  /** Successive keyframe intervals that agreed with the cadence. */
  steady: number;
  /** The slot taken when the phase last moved, and its due time before the move (see align()). */
  movedSlot: number;
  movedFromMs: number;
  /** When a keyframe of the camera last went to a decoder (or when it was added). */
  lastDecodeMs: number;
  delivered: number;
  onTime: number;
  removed: boolean;
}

/**
 * Picks one keyframe per camera per period: slot k is due at firstDue + k·period (a random
 * phase per camera), and the first keyframe to arrive after that is taken. Once a camera's
 * keyframes come at a steady cadence that divides the period, its phase is moved to fall just
 * before one (keyframeLeadMs), so a sample waits that long for its keyframe instead of up to a
 * whole GOP; cameras stay spread as their keyframes are. Picked keyframes wait in a
 * DecodeLine (decode-line.ts), at most one per camera, and are decoded within a global budget,
 * urgent cameras first, then earliest deadline first: a keyframe that came late in its window goes
 * before one that can still wait. A camera keeps its place when a newer keyframe replaces its
 * pending one, so under overload cameras are served in turn. Picks that are already late wait
 * behind those that can still be on time.
 */
export class Sampler {
  readonly #cams = new Map<string, Schedule>();
  /** Cameras with a keyframe waiting for a decoder; urgent: the rules are timing them, or they are due a reverify or starved. */
  readonly #line = new DecodeLine<Schedule>();
  readonly #budget: TokenBucket;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #dropped = { superseded: 0, decode: 0 };
  readonly #onTimeMs: number;
  #delivered = 0;
  #onTime = 0;
  #gated = 0;

  readonly #opts: SamplerOptions;

  constructor(opts: SamplerOptions) {
    this.#opts = opts;
    this.#budget = new TokenBucket(opts.decodeBudgetPerS);
    this.#onTimeMs = opts.onTimeMs ?? 2000;
  }

  /**
   * Adds a camera with a random phase. `atOnce`: its first keyframe is also taken at once, as an
   * extra slot (-1) due now: a camera taken over from another node (or newly configured) is
   * sampled without waiting up to a period for its phase, so a hand-over loses no sample to it.
   * Its first regular slot then comes at least half a period on (the phase stays uniform).
   */
  add(id: string, periodS?: number, size?: FrameSize, atOnce = false): void {
    const periodMs = (periodS ?? this.#opts.defaultPeriodS) * 1000;
    const old = this.#cams.get(id);
    if (old && old.periodMs === periodMs && old.size?.width === size?.width && old.size?.height === size?.height) return;
    if (old) this.#retire(old);
    const now = Date.now();
    let firstDueMs = now + (this.#opts.random ?? Math.random)() * periodMs;
    if (atOnce && firstDueMs - now < periodMs / 2) firstDueMs += periodMs;
    this.#cams.set(id, {
      id, periodMs, size, firstDueMs, takenSlot: atOnce ? -2 : -1, addedMs: now, tookAtOnce: false, pending: undefined,
      lastKeyframeMs: Number.NaN, cadenceMs: 0, steady: 0, movedSlot: -1, movedFromMs: 0, queued: undefined, ticket: 0, lastDecodeMs: now, delivered: 0, onTime: 0, removed: false,
    });
  }

  remove(id: string): void {
    const s = this.#cams.get(id);
    if (s) this.#retire(s);
    this.#cams.delete(id);
  }

  #retire(s: Schedule): void {
    s.removed = true;
    this.#line.leave(s);
  }

  /** The slot due now for this camera (-1: the one taken at once), or undefined when none is open. */
  #openSlot(s: Schedule, now: number): number | undefined {
    if (now < s.firstDueMs) return s.takenSlot === -2 ? -1 : undefined;
    const slot = Math.floor((now - s.firstDueMs) / s.periodMs);
    return slot > s.takenSlot ? slot : undefined;
  }

  /** Every keyframe of an in-process session comes here; only the ones due are copied. */
  offerKeyframe(id: string, au: AccessUnit): void {
    const s = this.#cams.get(id);
    if (!s) return;
    const now = Date.now();
    this.#learnCadence(s, au.timeMs);
    const slot = this.#openSlot(s, now);
    if (slot === undefined) return;
    const dueMs = this.#take(s, slot, now);
    const decision = this.#opts.gate?.decide(id, au.timeMs, au.data.length) ?? 'decode';
    if (decision === 'skip') { this.#gated++; return; }
    if (s.pending) { this.#dropped.superseded++; this.#opts.onDrop?.(id, 'superseded'); }
    s.pending = { codec: au.codec, data: au.data.slice(), captureTimeMs: au.timeMs, dueMs, pickedMs: now, slot };
    // Starved: its next chance, a period on, would come past starvedAfterMs without a decode.
    const urgent = decision === 'reverify' || this.#opts.urgent?.(id) === true || now - s.lastDecodeMs + s.periodMs > (this.#opts.starvedAfterMs ?? Infinity);
    // A waiting camera keeps its place for its newer keyframe; a late one queues afresh with it,
    // and so does one that has become urgent.
    if (s.queued === undefined || s.queued === 'late' || (urgent && s.queued !== 'urgent')) this.#line.queue(s, urgent ? 'urgent' : 'waiting', dueMs + this.#onTimeMs);
    this.#pump();
  }

  /** A frame the per-camera ffmpeg mode already decoded; taken when a slot is open. */
  offerDecoded(id: string, captureTimeMs: number, width: number, height: number, rgb: Uint8Array): void {
    const s = this.#cams.get(id);
    if (!s) return;
    const now = Date.now();
    this.#learnCadence(s, captureTimeMs);
    const slot = this.#openSlot(s, now);
    if (slot === undefined) return;
    const dueMs = this.#take(s, slot, now);
    this.#deliver(s, { cameraId: id, captureTimeMs, dueMs, pickedMs: now, width, height, rgb, source: 'ffmpeg' });
  }

  /** Measures the camera's keyframe cadence from capture times. */
  #learnCadence(s: Schedule, captureMs: number): void {
    const interval = captureMs - s.lastKeyframeMs;
    s.lastKeyframeMs = captureMs;
    if (!(interval > 0)) return;
    if (s.cadenceMs > 0 && Math.abs(interval - s.cadenceMs) <= s.cadenceMs * 0.1) {
      s.cadenceMs += (interval - s.cadenceMs) * 0.2;
      s.steady++;
    } else {
      s.cadenceMs = interval;
      s.steady = 0;
    }
  }

  /** Takes `slot` for the keyframe arriving now; returns the slot's due time. */
  #take(s: Schedule, slot: number, now: number): number {
    s.takenSlot = slot;
    if (slot < 0) { s.tookAtOnce = true; return s.addedMs; }
    const dueMs = s.firstDueMs + slot * s.periodMs;
    this.#align(s, slot, dueMs, now - dueMs);
    return dueMs;
  }

  /**
   * Moves the camera's phase so that its next due times fall keyframeLeadMs before a keyframe,
   * when its cadence is steady and divides the period (each period then ends at the same place
   * in the GOP). Slot numbers stay; the slot just taken keeps its old due time (dueSlots()).
   * The move is by less than half a GOP, or forward when moving back would open the next slot
   * at once (a GOP as long as the period). It is skipped while an earlier slot's deadline is
   * still ahead under either phase, so that only this slot's count needs its old due time.
   */
  #align(s: Schedule, slot: number, dueMs: number, waitMs: number): void {
    const g = s.cadenceMs;
    if (s.steady < 2 || g <= 0) return;
    const perPeriod = s.periodMs / g;
    if (Math.abs(perPeriod - Math.round(perPeriod)) * g > ALIGN_TOLERANCE_MS) return;
    const lead = Math.min(this.#opts.keyframeLeadMs ?? 500, g / 4);
    if (Math.abs(waitMs - lead) <= lead / 2) return;
    let shift = (((waitMs - lead) % g) + g) % g;
    if (shift > g / 2) shift -= g;
    const now = dueMs + waitMs;
    const dueAt = (j: number, firstDueMs: number) => firstDueMs + j * s.periodMs;
    if (dueAt(slot + 1, s.firstDueMs + shift) <= now) shift += g;
    const firstDueMs = s.firstDueMs + shift;
    const earlier = Math.max(dueAt(slot - 1, s.firstDueMs), dueAt(slot - 1, firstDueMs), s.movedSlot >= 0 ? s.movedFromMs : -Infinity);
    if (earlier + this.#onTimeMs > now) return;
    s.firstDueMs = firstDueMs;
    s.movedSlot = slot;
    s.movedFromMs = dueMs;
  }

  /** Keyframes waiting for a decoder: what the detectors will be handed soon (cheap; stats() walks every camera). */
  get backlog(): number {
    return this.#line.size;
  }

  /** The detectors took a sample off their queue: keyframes held back for them may go on. */
  wake(): void {
    this.#pump();
  }

  stats(asOf = Date.now()): SamplerStats {
    let expected = 0;
    for (const s of this.#cams.values()) expected += dueSlots(s, asOf - this.#onTimeMs);
    return { cameras: this.#cams.size, expected, delivered: this.#delivered, onTime: this.#onTime, gatedBeforeDecode: this.#gated, dropped: { ...this.#dropped }, queued: this.backlog, decodesInFlight: this.#inFlight };
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#line.clear();
  }

  #deliver(s: Schedule, sample: Sample): void {
    if (s.removed) return;
    s.delivered++;
    this.#delivered++;
    if (Date.now() <= sample.dueMs + this.#onTimeMs) { s.onTime++; this.#onTime++; }
    this.#opts.onSample(sample);
  }

  #pump(): void {
    const max = this.#opts.maxDecodesInFlight ?? 8;
    const rate = this.#opts.decodeBudgetPerS;
    const nowMs = Date.now();
    const down = this.#opts.downstream;
    const full = (): boolean => down !== undefined && down.waiting() >= down.limit;
    const late = (s: Schedule): boolean => s.pending !== undefined && s.pending.dueMs + this.#onTimeMs < nowMs;
    while (this.#line.size > 0 && this.#budget.ready && this.#inFlight < max && !full()) {
      const s = this.#line.next(late);
      if (!s) break;
      const p = s.pending;
      s.pending = undefined;
      if (!p) continue;
      this.#budget.take();
      this.#inFlight++;
      s.lastDecodeMs = nowMs;
      // Time left before this sample is late, less a margin for decoding itself.
      const slackMs = p.dueMs + this.#onTimeMs - Date.now() - 150;
      this.#opts.decoder.decode(p.codec, p.data, slackMs, s.size).then((rgb) => {
        this.#inFlight--;
        this.#deliver(s, { cameraId: s.id, captureTimeMs: p.captureTimeMs, dueMs: p.dueMs, pickedMs: p.pickedMs, width: s.size?.width ?? this.#opts.decoder.width, height: s.size?.height ?? this.#opts.decoder.height, rgb, source: 'rtsp' });
        this.#pump();
      }, (err: unknown) => {
        this.#inFlight--;
        this.#dropped.decode++;
        this.#opts.onDrop?.(s.id, 'decode', errorMessage(err));
        this.#pump();
      });
    }
    const spent = !this.#budget.ready;
    if (this.#line.size > 0 && !this.#timer && (spent || full())) {
      // Out of budget, or the detectors are full (their results wake() it sooner).
      this.#timer = setTimeout(() => { this.#timer = undefined; this.#pump(); }, spent ? Math.ceil(1000 / Math.max(rate, 0.001)) : 50);
    }
  }
}

/** Keyframes that drift less than this against the period per period count as dividing it. */
const ALIGN_TOLERANCE_MS = 50;

/**
 * How many of the camera's slots are due by time t; a moved slot counts at its old due time, and
 * the one taken at once (slot -1) once taken.
 */
function dueSlots(s: Schedule, t: number): number {
  let n = t >= s.firstDueMs ? Math.floor((t - s.firstDueMs) / s.periodMs) + 1 : 0;
  if (s.tookAtOnce && t >= s.addedMs) n++;
  if (s.movedSlot >= 0) n += (t >= s.movedFromMs ? 1 : 0) - (t >= s.firstDueMs + s.movedSlot * s.periodMs ? 1 : 0);
  return n;
}
