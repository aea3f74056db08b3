import type { Detection } from '../types.ts';
import type { RgbFrame } from '../model/preprocess.ts';
import type { GreyMap } from './motion.ts';
import type { DeferredRegion, RegionSettings } from './plan.ts';
import type { RegionDetector, RegionResult } from './region-detector.ts';

/**
 * One camera's region detection over its samples, taken one after another: what the pool keeps
 * per camera (pool/camera-queue.ts: the last sample's objects, grey map, zone-tile cursor and
 * deferred changes), for callers that run a single stream in order (`gridwatch detect`, the
 * small-objects benchmark).
 */
export class RegionSequence {
  readonly #regions: RegionDetector;
  readonly #settings: RegionSettings;
  readonly #tracks: (d: Detection) => boolean;
  #grey: GreyMap | undefined;
  #tracked: Detection[] = [];
  #cursor = 0;
  #deferred: DeferredRegion[] = [];

  /** `tracks`: which detections to crop around at the next sample (the engine: its zones' classes). */
  constructor(regions: RegionDetector, settings: RegionSettings, tracks: (d: Detection) => boolean = () => true) {
    this.#regions = regions;
    this.#settings = settings;
    this.#tracks = tracks;
  }

  async next(frame: RgbFrame): Promise<RegionResult> {
    const tracked = this.#tracked.map((d) => ({ x: d.box[0], y: d.box[1], w: d.box[2], h: d.box[3] }));
    const r = await this.#regions.detect(frame, { settings: this.#settings, tracked, previousGrey: this.#grey, tileCursor: this.#cursor, deferred: this.#deferred });
    this.#grey = r.grey;
    this.#tracked = r.detections.filter(this.#tracks);
    this.#cursor += r.tilesVisited;
    this.#deferred = r.deferred;
    return r;
  }
}
