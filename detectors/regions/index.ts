/** Region detection: the whole frame plus full-resolution crops around zones, changes and tracked objects. */
export { planCrops, tiles, WELL_FOUND_PX, MAX_UPSCALE, MAX_DEFERRED_SAMPLES, TILE_OVERLAP, type DeferredRegion, type Crop, type Rect, type RegionSettings, type RegionsMode, type PlanInput } from './plan.ts';
export { greyMap, changeBoxes, MOTION_BLOCK, MOTION_THRESHOLD, type GreyMap } from './motion.ts';
export { keptFromCrop, mergeDetections, toFrame, type CropDetection } from './merge.ts';
export { RegionDetector, SECOND_LOOK_MIN_SCALE, SECOND_OPINION_MIN_SCORE, type RegionJob, type RegionResult } from './region-detector.ts';
export { RegionSequence } from './sequence.ts';
