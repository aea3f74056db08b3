import type { Detector } from '../model/detector.ts';
import type { Detection } from '../types.ts';
import type { RgbFrame } from '../model/preprocess.ts';
import { changeBoxes, greyMap, type GreyMap } from './motion.ts';
import { keptFromCrop, mergeDetections, toFrame, type CropDetection } from './merge.ts';
import { MAX_DEFERRED_SAMPLES, planCrops, type Crop, type DeferredRegion, type Rect, type RegionSettings } from './plan.ts';

const overlaps = (a: Rect, b: Rect): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** What a region pass needs besides the frame: the camera's settings and what it saw last. */
export interface RegionJob {
  settings: RegionSettings;
  /** Boxes of the camera's last inferred sample, frame pixels. */
  tracked: Rect[];
  /** The grey map of the camera's previous sample (from `RegionResult.grey`), if of this size. */
  previousGrey?: GreyMap | undefined;
  tileCursor: number;
  /** Change regions earlier samples left without a crop (`RegionResult.deferred`). */
  deferred?: DeferredRegion[] | undefined;
}

export interface RegionResult {
  detections: Detection[];
  /** Model runs for this sample (whole frame included). */
  inferences: number;
  inferenceMs: number;
  crops: Crop[];
  /** This sample's grey map, for the camera's next sample. */
  grey: GreyMap | undefined;
  tilesVisited: number;
  /** Change regions this sample's crop budget left out, for the camera's next sample. */
  deferred: DeferredRegion[];
}

/**
 * Runs a detector on the whole frame and on crops of it at full resolution (plan.ts), maps every
 * crop's detections to frame pixels, drops crop vehicles under the camera's least score, and
 * merges them into one detection per object (merge.ts).
 */
export class RegionDetector {
  readonly #detector: Detector;
  #scratch = new Uint8Array(0);

  constructor(detector: Detector) {
    this.#detector = detector;
  }

  async detect(frame: RgbFrame, job: RegionJob | undefined): Promise<RegionResult> {
    const t0 = performance.now();
    if (!job || job.settings.mode === 'whole') {
      const r = await this.#detector.detect(frame);
      return { detections: r.detections, inferences: 1, inferenceMs: r.inferenceMs, crops: [{ x: 0, y: 0, w: frame.width, h: frame.height, why: 'whole', scale: this.#detector.adapter.inputSize / Math.max(frame.width, frame.height) }], grey: undefined, tilesVisited: 0, deferred: [] };
    }
    const grey = job.settings.mode === 'auto' ? greyMap(frame) : undefined;
    const changes = grey && job.previousGrey ? changeBoxes(job.previousGrey, grey, frame.width, frame.height) : [];
    // A region still changing is this sample's change; one that stopped changing still waits.
    const waiting = (job.deferred ?? []).filter((d) => !changes.some((c) => overlaps(c, d)));
    const plan = planCrops({ width: frame.width, height: frame.height, inputSize: this.#detector.adapter.inputSize, settings: job.settings, changes, tracked: job.tracked, tileCursor: job.tileCursor, deferred: waiting });
    const deferred = plan.left.map((r) => ({ x: r.x, y: r.y, w: r.w, h: r.h, age: ('age' in r ? (r as DeferredRegion).age : 0) + 1 })).filter((r) => r.age <= MAX_DEFERRED_SAMPLES);
    const all: CropDetection[] = [];
    for (const crop of plan.crops) {
      const input = crop.why === 'whole' ? frame : this.#cut(frame, crop);
      const r = await this.#detector.detect(input);
      for (const d of toFrame(r.detections, crop, frame.width, frame.height)) if (keptFromCrop(d, crop, job.settings.cropVehicleMinScore)) all.push(d);
    }
    const o = this.#detector.options;
    return { detections: mergeDetections(all, o.iouThreshold, o.maxDetections), inferences: plan.crops.length, inferenceMs: performance.now() - t0, crops: plan.crops, grey, tilesVisited: plan.tilesVisited, deferred };
  }

  /** Copies a crop's rows into a reused buffer. */
  #cut(frame: RgbFrame, c: Crop): RgbFrame {
    const bytes = c.w * c.h * 3;
    if (this.#scratch.length < bytes) this.#scratch = new Uint8Array(bytes);
    const rgb = this.#scratch.subarray(0, bytes);
    const row = c.w * 3;
    for (let y = 0; y < c.h; y++) {
      const from = ((c.y + y) * frame.width + c.x) * 3;
      rgb.set(frame.rgb.subarray(from, from + row), y * row);
    }
    return { width: c.w, height: c.h, rgb };
  }
}
