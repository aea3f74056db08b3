/**
 * Gating before decoding. The depacketiser sees the size of every access unit; a camera whose
 * scene does not change sends small P-frames (noise and drift), one where something moves sends
 * larger ones. Each camera learns its own noise band from intervals whose decoded sample the
 * detector's pixel gate then found unchanged, and later intervals within that band are not
 * decoded. Never skipped: a camera the rules are timing (a dwell under way), the last sample
 * before the camera's last inference would be `reverify` old, and one whose band has not been
 * learnt yet.
 */
import { reverifyDue } from '../domain/index.ts';
import type { GateDecision } from './sample.ts';

/** Quiet intervals a camera needs before its band is trusted. */
export const BAND_SAMPLES = 3;
/** How far above the band's mean, in its mean deviations, an interval still counts as noise. */
export const BAND_DEVIATIONS = 4;
/** And at least this share above the mean: a band learnt on identical intervals has no deviation. */
const BAND_FLOOR_SHARE = 0.25;
/** Weight of a new quiet interval in the band's running figures. */
const BAND_WEIGHT = 0.2;
/**
 * P-frames this small against the keyframe they follow (mean, and largest) are a still picture
 * by themselves: a still street from the farm sends about 50 B against a 10 KB keyframe, the busy
 * one 2,400 B. Such intervals teach the band without waiting for the pixel gate's verdict, which
 * comes seldom on a node that is behind.
 */
const STILL_MEAN_SHARE = 0.01, STILL_MAX_SHARE = 0.03;

export interface DecodeGateOptions {
  /** Every camera is inferred at least this often (the detectors' `reverify_s`), in ms. */
  reverifyMs: number;
  /** Whether the rules are timing something on this camera: then every sample is decoded. */
  timing?: ((cameraId: string) => boolean) | undefined;
}

/** The P-frames between two samples: their mean size and the largest. */
interface Interval {
  mean: number;
  max: number;
}

/** A running mean and mean deviation. */
interface Band {
  mean: number;
  dev: number;
}

interface CameraGate {
  bytes: number;
  frames: number;
  max: number;
  /** Bytes of the last keyframe that took a slot. */
  keyframeBytes: number;
  /** The interval before the last decoded sample, waiting for the pixel gate's verdict. */
  pending: (Interval & { captureTimeMs: number }) | undefined;
  quiet: number;
  meanBand: Band;
  maxBand: Band;
  lastInferredMs: number;
  /** Capture time of the camera's previous sample decided on. */
  lastDecidedMs: number;
  skipped: number;
  decided: number;
}

export interface DecodeGateCameraStats {
  /** Samples due whose decode was skipped, and all samples decided. */
  skipped: number;
  decided: number;
  /** Whether the camera's noise band is learnt (skipping can start). */
  banded: boolean;
}

const newCamera = (): CameraGate => ({
  bytes: 0, frames: 0, max: 0, keyframeBytes: 0, pending: undefined, quiet: 0, meanBand: { mean: 0, dev: 0 }, maxBand: { mean: 0, dev: 0 },
  lastInferredMs: Number.NEGATIVE_INFINITY, lastDecidedMs: Number.NEGATIVE_INFINITY, skipped: 0, decided: 0,
});

const within = (v: number, b: Band): boolean => v <= b.mean + Math.max(BAND_DEVIATIONS * b.dev, BAND_FLOOR_SHARE * b.mean);

function learn(b: Band, v: number, first: boolean): void {
  if (first) { b.mean = v; b.dev = 0; return; }
  b.dev += (Math.abs(v - b.mean) - b.dev) * BAND_WEIGHT;
  b.mean += (v - b.mean) * BAND_WEIGHT;
}

/** Decides, per camera and sample, whether its keyframe is decoded; see the file's comment. */
export class DecodeGate {
  readonly #cams = new Map<string, CameraGate>();
  readonly #opts: DecodeGateOptions;

  constructor(opts: DecodeGateOptions) {
    this.#opts = opts;
  }

  #camera(id: string): CameraGate {
    let c = this.#cams.get(id);
    if (!c) this.#cams.set(id, (c = newCamera()));
    return c;
  }

  /** An access unit that is not a keyframe, of `bytes` bytes. */
  noteDelta(cameraId: string, bytes: number): void {
    const c = this.#cams.get(cameraId);
    if (!c) return;
    c.bytes += bytes;
    c.frames++;
    if (bytes > c.max) c.max = bytes;
  }

  /**
   * A keyframe of `keyframeBytes` took a sample slot: whether it is decoded, and whether it is
   * the camera's reverify (decoded before routine samples, so that an overloaded node does not
   * lose it and leave the camera uninferred for another period or more). Ends the camera's
   * interval of P-frames either way.
   */
  decide(cameraId: string, captureTimeMs: number, keyframeBytes = 0): GateDecision {
    const c = this.#camera(cameraId);
    // The reverify clock starts at the camera's first sample: all of a node's cameras starting
    // at once are not all urgent.
    if (c.lastInferredMs === Number.NEGATIVE_INFINITY) c.lastInferredMs = captureTimeMs;
    const interval: Interval | undefined = c.frames > 0 ? { mean: c.bytes / c.frames, max: c.max } : undefined;
    c.bytes = c.frames = c.max = 0;
    if (interval && c.keyframeBytes > 0 && interval.mean <= STILL_MEAN_SHARE * c.keyframeBytes && interval.max <= STILL_MAX_SHARE * c.keyframeBytes) this.#learnQuiet(c, interval);
    if (keyframeBytes > 0) c.keyframeBytes = keyframeBytes;
    c.decided++;
    // The detectors infer the last sample before `reverify` runs out whatever its picture, and
    // only that one: decoding one earlier would be spent on their pixel gate.
    const due = reverifyDue(captureTimeMs, c.lastInferredMs, c.lastDecidedMs, this.#opts.reverifyMs);
    c.lastDecidedMs = captureTimeMs;
    const quiet = interval !== undefined && c.quiet >= BAND_SAMPLES && within(interval.mean, c.meanBand) && within(interval.max, c.maxBand);
    if (quiet && !due && !this.#opts.timing?.(cameraId)) {
      c.skipped++;
      return 'skip';
    }
    c.pending = interval ? { ...interval, captureTimeMs } : undefined;
    return due ? 'reverify' : 'decode';
  }

  /**
   * What the detectors did with a decoded sample: inferred it, or found it unchanged (the pixel
   * gate), which makes the interval before it one of the camera's quiet ones.
   */
  verdict(cameraId: string, captureTimeMs: number, inferred: boolean): void {
    const c = this.#cams.get(cameraId);
    if (!c) return;
    if (inferred) { c.lastInferredMs = Math.max(c.lastInferredMs, captureTimeMs); return; }
    const p = c.pending;
    if (!p || p.captureTimeMs !== captureTimeMs) return;
    c.pending = undefined;
    this.#learnQuiet(c, p);
  }

  #learnQuiet(c: CameraGate, i: Interval): void {
    learn(c.meanBand, i.mean, c.quiet === 0);
    learn(c.maxBand, i.max, c.quiet === 0);
    c.quiet++;
  }

  remove(cameraId: string): void {
    this.#cams.delete(cameraId);
  }

  stats(cameraId: string): DecodeGateCameraStats | undefined {
    const c = this.#cams.get(cameraId);
    return c ? { skipped: c.skipped, decided: c.decided, banded: c.quiet >= BAND_SAMPLES } : undefined;
  }

  /** Skipped and decided samples over all cameras. */
  totals(): { skipped: number; decided: number } {
    let skipped = 0, decided = 0;
    for (const c of this.#cams.values()) { skipped += c.skipped; decided += c.decided; }
    return { skipped, decided };
  }
}
