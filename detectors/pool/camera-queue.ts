import { Counter, Gauge, Histogram, stageCounters, type Registry, type StageCounters } from '../../core/index.ts';
import { THUMB_H, THUMB_W, thumbDiff, thumbnail } from '../gate.ts';
import type { Detection } from '../types.ts';
import { reverifyDue, type CameraSample } from '../../domain/index.ts';
import type { DeferredRegion, GreyMap, RegionJob, RegionSettings } from '../regions/index.ts';

/** The pool's per-camera queue state and the metric handles it is counted with, made once. */

/** A fixed ring of recent inference times, for percentiles without allocation per sample. */
export class Ring {
  readonly #v: Float64Array;
  #n = 0;
  constructor(size: number) { this.#v = new Float64Array(size); }
  push(x: number): void { this.#v[this.#n++ % this.#v.length] = x; }
  percentile(p: number): number {
    const k = Math.min(this.#n, this.#v.length);
    if (k === 0) return 0;
    const sorted = this.#v.slice(0, k).sort(); // a typed array sorts by value, without a comparator call per pair
    return Math.round(sorted[Math.min(k - 1, Math.floor(p * k))]! * 10) / 10;
  }
}

export interface CameraState {
  id: string;
  queue: CameraSample[];
  /** true while the camera sits in the ready ring. */
  scheduled: boolean;
  thumb: Float32Array;
  scratch: Float32Array;
  hasThumb: boolean;
  lastInferCaptureMs: number;
  /** Capture time of the camera's previous sample. */
  lastSampleCaptureMs: number;
  lastDetections: Detection[];
  /** Samples in a worker now. */
  inflight: number;
  /** Gated samples waiting for earlier samples of the camera to come back, so results stay in capture order. */
  deferred: CameraSample[];
  received: number;
  inferred: number;
  gated: number;
  dropped: number;
  errors: number;
  /** Model runs over all inferred samples (whole frame and region crops). */
  inferences: number;
  /** The grey map of the latest inferred sample, for change regions; with its capture time. */
  grey: GreyMap | undefined;
  greyAtMs: number;
  /** Next zone tile to look at (zones with more tiles than the crop budget are covered in turns). */
  tileCursor: number;
  /** Changes the latest inferred sample's crop budget left out: its next sample crops them first. */
  deferredChanges: DeferredRegion[];
  times: Ring;
  depth: Gauge.Internal<'camera'> | undefined;
  drops: Counter.Internal | undefined;
}

export interface CameraStatus {
  queued: number;
  received: number;
  inferred: number;
  /** Model runs (whole frame and region crops); inferences / inferred is the cost per sample. */
  inferences: number;
  gated: number;
  dropped: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
}

export interface PoolMetrics {
  readonly stage: StageCounters | null;
  readonly inference: Histogram | null;
  readonly depth: Gauge<'camera'> | null;
  readonly drops: Counter<'camera'> | null;
  readonly restarts: Counter | null;
  readonly gated: Counter | null;
  readonly saved: Gauge | null;
  readonly perSample: Histogram | null;
}

export function poolMetrics(r: Registry | undefined): PoolMetrics {
  return {
    stage: r ? stageCounters(r) : null,
    inference: r ? new Histogram({ name: 'gridwatch_detector_inference_ms', help: 'Inference time per sample in a worker (preprocess, model, decode)', buckets: [10, 20, 30, 40, 50, 75, 100, 150, 250, 500, 1000], registers: [r] }) : null,
    depth: r ? new Gauge({ name: 'gridwatch_detector_queue_depth', help: 'Samples waiting per camera', labelNames: ['camera'], registers: [r] }) : null,
    drops: r ? new Counter({ name: 'gridwatch_detector_dropped_total', help: 'Samples dropped per camera because its queue was full', labelNames: ['camera'], registers: [r] }) : null,
    restarts: r ? new Counter({ name: 'gridwatch_detector_worker_restarts_total', help: 'Detector workers restarted by the watchdog', registers: [r] }) : null,
    gated: r ? new Counter({ name: 'gridwatch_detector_gated_total', help: 'Samples not inferred because the picture barely changed', registers: [r] }) : null,
    saved: r ? new Gauge({ name: 'gridwatch_detector_gating_saved_ratio', help: 'Share of samples that change gating spared from inference', registers: [r] }) : null,
    perSample: r ? new Histogram({ name: 'gridwatch_detector_inferences_per_sample', help: 'Model runs per inferred sample: the whole frame plus region crops (detect.regions, detect.max_crops)', buckets: [1, 2, 3, 5, 9, 13, 17, 33], registers: [r] }) : null,
  };
}

export function newCameraState(id: string, m: PoolMetrics): CameraState {
  return {
    id, queue: [], scheduled: false,
    thumb: new Float32Array(THUMB_W * THUMB_H), scratch: new Float32Array(THUMB_W * THUMB_H), hasThumb: false,
    lastInferCaptureMs: -Infinity, lastSampleCaptureMs: -Infinity, lastDetections: [], inflight: 0, deferred: [],
    received: 0, inferred: 0, gated: 0, dropped: 0, errors: 0, inferences: 0, grey: undefined, greyAtMs: -Infinity, tileCursor: 0, deferredChanges: [], times: new Ring(64),
    depth: m.depth?.labels({ camera: id }),
    drops: m.drops?.labels({ camera: id }),
  };
}

export function cameraStatus(c: CameraState): CameraStatus {
  return { queued: c.queue.length, received: c.received, inferred: c.inferred, inferences: c.inferences, gated: c.gated, dropped: c.dropped, errors: c.errors, p50Ms: c.times.percentile(0.5), p99Ms: c.times.percentile(0.99) };
}

/**
 * What a worker needs for region crops: the camera's settings, its last objects and grey map.
 * `share` (0–1) of the camera's `max_crops` is spent: under a backlog the pool gives fewer crops
 * to each sample (crops around tracked objects and changes go first), so that it keeps up with
 * every camera before it looks harder at some.
 */
export function regionJob(c: CameraState, settings: (RegionSettings & { trackClasses?: ReadonlySet<string> }) | null | undefined, share = 1): RegionJob | undefined {
  if (!settings || settings.mode === 'whole') return undefined;
  const { trackClasses, ...plain } = settings;
  if (share < 1) plain.maxCrops = Math.floor(plain.maxCrops * Math.max(0, share));
  const tracked = c.lastDetections.filter((d) => !trackClasses || trackClasses.has(d.label)).map((d) => ({ x: d.box[0], y: d.box[1], w: d.box[2], h: d.box[3] }));
  // A copy: two samples of one camera may be in workers at once.
  const previousGrey = c.grey && { ...c.grey, data: c.grey.data.slice() };
  return { settings: plain, tracked, previousGrey, tileCursor: c.tileCursor, deferred: c.deferredChanges };
}

/** After a result: the zone tiles it looked at, and its grey map and deferred changes unless a later sample's are kept already. */
export function keepRegionState(c: CameraState, captureTimeMs: number, r: { tilesVisited: number; grey?: GreyMap | undefined; deferred?: DeferredRegion[] }): void {
  c.tileCursor += r.tilesVisited;
  if (r.grey && captureTimeMs >= c.greyAtMs) { c.grey = r.grey; c.greyAtMs = captureTimeMs; c.deferredChanges = r.deferred ?? []; }
}

/**
 * Change gating against the camera's last sample sent to inference: true when this one shows no
 * change and no re-check is due (reverifyDue); otherwise its thumbnail becomes the reference.
 */
export function unchanged(c: CameraState, s: CameraSample, threshold: number, reverifyMs: number): boolean {
  const t = thumbnail(s.width, s.height, s.rgb, c.scratch);
  const due = reverifyDue(s.captureTimeMs, c.lastInferCaptureMs, c.lastSampleCaptureMs, reverifyMs);
  c.lastSampleCaptureMs = s.captureTimeMs;
  if (c.hasThumb && !due && thumbDiff(t, c.thumb) < threshold) return true;
  c.thumb.set(t);
  c.hasThumb = true;
  return false;
}
