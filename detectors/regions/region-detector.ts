import type { Detector } from '../model/detector.ts';
import type { Detection } from '../types.ts';
import type { RgbFrame } from '../model/preprocess.ts';
import { changeBoxes, greyMap, type GreyMap } from './motion.ts';
import { keptFromCrop, mergeDetections, toFrame, type CropDetection } from './merge.ts';
import { contains, MAX_DEFERRED_SAMPLES, MAX_UPSCALE, overlaps, planCrops, square, type Crop, type DeferredRegion, type Rect, type RegionSettings } from './plan.ts';
const asRect = (d: Detection): Rect => ({ x: d.box[0], y: d.box[1], w: d.box[2], h: d.box[3] });

/**
 * Crops scaled at least this much (cut for objects of 20 px or less, which the models find 58–78%
 * of the time at best) get a second look, mirrored left to right, when a region they were cut for
 * shows nothing. A network is not mirror-invariant: a marginal object often passes the threshold
 * in one view and not the other. Small-objects seeds 1–3, 12–24 px recall: YOLOv5s int8 0.375 /
 * 0.288 / 0.275 → 0.425 / 0.363 / 0.35, NanoDet-g int8 0.338 / 0.375 / 0.363 → 0.425 / 0.425 /
 * 0.388, for 0.5–1.0 more model runs a sample (a second look at every such crop: YOLOv5s 0.45 /
 * 0.388 / 0.35 for 45% more CPU).
 */
export const SECOND_LOOK_MIN_SCALE = 2;

/**
 * Where a region detector has a second-opinion model (the worker's whole-frame model, NanoDet-g,
 * beside YOLOv5s as `detectors.region_model`), a crop of any scale where a region it was cut for
 * shows nothing is run through it too, before the mirrored look; its boxes count from this score,
 * and only inside those regions (elsewhere in the crop it calls cones and posts people: on
 * vtest.avi that doubled the person boxes YOLOv5s fp32 does not have). Two differently trained
 * networks miss different small objects. Small-objects seeds 1–6, YOLOv5s int8: 12–24 px recall
 * 0.425 / 0.363 / 0.35 / 0.438 / 0.438 / 0.413 → 0.45 / 0.425 / 0.425 / 0.55 / 0.5 / 0.413,
 * 24–48 px 0.65 / 0.688 / 0.663 / 0.488 / 0.75 / 0.85 → 0.65 / 0.725 / 0.675 / 0.55 / 0.788 /
 * 0.888, for about 2 more model runs a sample there (a NanoDet-g run costs half a YOLOv5s run).
 * From 0.35 the false detections rose; from 0.5 most of the gain was gone.
 */
export const SECOND_OPINION_MIN_SCORE = 0.4;

/**
 * A crop scaled less than SECOND_LOOK_MIN_SCALE (cut for objects of 20 px or more) whose regions
 * still show nothing gets a closer look instead of a mirrored one: a crop centred on the first
 * such region at this many times its scale (at least SECOND_LOOK_MIN_SCALE, at most MAX_UPSCALE),
 * keeping only what it finds in those regions. Small objects at 24–48 px are most often missed
 * or misnamed near the size the crop gives them (a 40 px dog called a person); twice as large,
 * and centred, the model often names them right. Small-objects seeds 11–13 (120 samples),
 * YOLOv5s int8, 24–48 px recall 0.696 / 0.688 / 0.692 → 0.70 / 0.692 / 0.725, for 1.3 more model
 * runs a sample; at 3× (as for the smallest) 0.704 / 0.708 / 0.733, but 2–4× the false vehicles.
 */
export const CLOSER_LOOK_ZOOM = 2;

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
  readonly #secondOpinion: Detector | undefined;
  #scratch = new Uint8Array(0);
  #mirrored = new Uint8Array(0);

  /** `secondOpinion`: another model for crops where `detector` finds nothing it was looking for (SECOND_OPINION_MIN_SCORE). */
  constructor(detector: Detector, secondOpinion?: Detector) {
    this.#detector = detector;
    this.#secondOpinion = secondOpinion;
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
    const deferred = plan.left.map((r) => ({ ...r, age: r.age + 1 })).filter((r) => r.age <= MAX_DEFERRED_SAMPLES);
    const all: CropDetection[] = [];
    const regions = [...changes, ...waiting, ...job.tracked];
    const opinion = job.settings.secondOpinion === false ? undefined : this.#secondOpinion;
    let secondLooks = 0;
    for (const crop of plan.crops) {
      const input = crop.why === 'whole' ? frame : this.#cut(frame, crop);
      const found = toFrame((await this.#detector.detect(input)).detections, crop, frame.width, frame.height);
      const keep = (ds: CropDetection[], from: Crop = crop): void => { for (const d of ds) if (keptFromCrop(d, from, job.settings)) all.push(d); };
      keep(found);
      if (crop.why === 'whole') continue;
      // The regions the crop was cut for (changes, waiting changes, objects seen last time) where it found nothing.
      const missed = (): Rect[] => regions.filter((g) => contains(crop, g) && !found.some((d) => overlaps(g, asRect(d))));
      const unseen = opinion ? missed() : [];
      if (opinion && unseen.length) {
        secondLooks++;
        // Only what it sees in those regions: elsewhere in the crop it would add its own false boxes (cones taken for people).
        const more = toFrame((await opinion.detect(input)).detections.filter((d) => d.score >= SECOND_OPINION_MIN_SCORE), crop, frame.width, frame.height)
          .filter((d) => unseen.some((g) => overlaps(g, asRect(d))));
        keep(more);
        found.push(...more);
      }
      const still = missed();
      if (!still.length) continue;
      secondLooks++;
      if (crop.scale < SECOND_LOOK_MIN_SCALE) {
        // Still nothing there: look closer, at the first such region.
        const g = still[0]!;
        const side = this.#detector.adapter.inputSize / Math.min(MAX_UPSCALE, Math.max(SECOND_LOOK_MIN_SCALE, crop.scale * CLOSER_LOOK_ZOOM));
        const rect = square(g.x + g.w / 2, g.y + g.h / 2, side, frame.width, frame.height);
        const closer: Crop = { ...rect, why: crop.why, scale: this.#detector.adapter.inputSize / rect.w };
        const seen = toFrame((await this.#detector.detect(this.#cut(frame, closer))).detections, closer, frame.width, frame.height)
          .filter((d) => still.some((r) => overlaps(r, asRect(d))));
        keep(seen, closer);
        continue;
      }
      // Still nothing there: look again, mirrored.
      const mirrored = (await this.#detector.detect(this.#mirror(input))).detections.map((d) => ({ ...d, box: [input.width - d.box[0] - d.box[2], d.box[1], d.box[2], d.box[3]] as Detection['box'] }));
      keep(toFrame(mirrored, crop, frame.width, frame.height));
    }
    const o = this.#detector.options;
    return { detections: mergeDetections(all, o.iouThreshold, o.maxDetections), inferences: plan.crops.length + secondLooks, inferenceMs: performance.now() - t0, crops: plan.crops, grey, tilesVisited: plan.tilesVisited, deferred };
  }

  /** The crop mirrored left to right, into a reused buffer. */
  #mirror(f: RgbFrame): RgbFrame {
    const bytes = f.width * f.height * 3;
    if (this.#mirrored.length < bytes) this.#mirrored = new Uint8Array(bytes);
    const rgb = this.#mirrored.subarray(0, bytes);
    for (let y = 0; y < f.height; y++) {
      const row = y * f.width * 3;
      for (let x = 0, m = (f.width - 1) * 3; x < f.width * 3; x += 3, m -= 3) {
        rgb[row + x] = f.rgb[row + m]!; rgb[row + x + 1] = f.rgb[row + m + 1]!; rgb[row + x + 2] = f.rgb[row + m + 2]!;
      }
    }
    return { width: f.width, height: f.height, rgb };
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
