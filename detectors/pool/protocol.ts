import type { Detection } from '../types.ts';
import type { DetectorOptions } from '../model/detector.ts';
import type { DeferredRegion, GreyMap, RegionJob } from '../regions/index.ts';

/** Messages from the pool to a detector worker. */
export type ToWorker =
  /** `regionOptions`: the model for region cameras' samples (those with a RegionJob), when not the same. */
  | { type: 'init'; options: DetectorOptions; regionOptions?: DetectorOptions | undefined; warmupRuns: number }
  /** Pixels travel in `rgb` (transferred, or a view of a SharedArrayBuffer). */
  | { type: 'infer'; job: number; width: number; height: number; rgb: Uint8Array; regions?: RegionJob | undefined }
  /** Test hook: block the worker's thread for `ms`, as a hung native call would. */
  | { type: 'stall'; ms: number }
  /** Test hook: the worker exits with code 3, as a crash would. */
  | { type: 'crash' };

/** Messages from a detector worker to the pool. */
export type FromWorker =
  | { type: 'boot' }
  | { type: 'ready'; name: string; version: string; region?: { name: string; version: string } | undefined; warmupMs: number }
  /** `rgb` comes back (transferred) so the pool can hand the frame on, e.g. to evidence. */
  /** `inferences`: model runs (whole frame and crops); `grey`: the sample's grey map for the camera's next change regions; `deferred`: changes its crop budget left out. */
  | { type: 'result'; job: number; detections: Detection[]; inferenceMs: number; inferences: number; grey?: GreyMap | undefined; tilesVisited: number; deferred: DeferredRegion[]; rgb: Uint8Array }
  | { type: 'error'; job: number | null; code: string; message: string; rgb?: Uint8Array };
