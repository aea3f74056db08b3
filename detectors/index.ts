/**
 * Detectors: the NanoDet converter, model adapters, the worker pool with change gating, the
 * tracker and dwell rules, evidence, replay. The engine needs `DetectorStage`; the router needs
 * the `Violation` type.
 */
export { ModelLoadError, ModelConvertError, FrameInvalidError, ZoneInvalidError, DetectionsFileError, InferenceError } from './errors.ts';
export { convertFile, defaultModelPath, int8ModelPath, wideModelPath, NANODET_WIDE, ensureDefaultModel, nanodetSourcePath, NANODET_NAME, NANODET_VERSION, NANODET_METADATA, LEGACY_NANODET_FILE, SUPPORTED_OPS, ensureYolov5s, yolov5sModelPath, yolov5sNet, YOLOV5S_NAME, YOLOV5S_VERSION, YOLOV5S_INT8_VERSION } from './convert/index.ts';
export { verifyAgainstTfjs, type VerifyResult } from './convert/verify.ts';
export type { Detection, SampleResult, ModelType } from './types.ts';
export { Detector, detectorOptions, type DetectorOptions } from './model/detector.ts';
export { createAdapter, nms, type ModelAdapter, type TensorInfo } from './model/adapters.ts';
export { COCO_CLASSES } from './model/coco.ts';
export { Preprocessor, type RgbFrame, type Normalisation, type InputTransform } from './model/preprocess.ts';
export { readImage } from './image.ts';
export { readVideo, probeVideo, type VideoFrame } from './video.ts';
export { ReferenceCheck, MATCH_IOU, type ReferenceCheckOptions, type FrameCheck, type CheckSummary } from './reference-check.ts';
export { DetectorPool, type PoolOptions, type PoolStatus } from './pool/pool.ts';
export type { CameraStatus } from './pool/camera-queue.ts';
export { thumbnail, thumbDiff } from './gate.ts';
export { DwellRules, type Violation, type ViolationState, type DwellOptions, type DwellSnapshot } from './rules/dwell.ts';
export { compileZones, inZone, type CompiledZone, type Rule } from './rules/zones.ts';
export { IouTracker } from './rules/tracker.ts';
export { replay, replayDetections, readMot, type ReplayOptions, type ReplayViolation, type MotDetections } from './replay.ts';
export { iou as boxIou } from './rules/box.ts';
export { greedyMatch } from './rules/match.ts';
export { DetectorStage, type DetectorStageOptions, type StageStatus } from './stage.ts';
export { annotatedEvidence, writeEvidence } from './evidence.ts';
export { FrameSnapshots, type FrameSnapshot, type SnapshotCounts } from './snapshot.ts';
export { RegionDetector, RegionSequence, planCrops, mergeDetections, toFrame, greyMap, changeBoxes, WELL_FOUND_PX, type RegionJob, type RegionResult, type RegionSettings, type RegionsMode, type Crop, type Rect, type GreyMap, type DeferredRegion } from './regions/index.ts';
export { ensureInt8Model, cacheInt8Model, modelCacheDir } from './quantize/index.ts';
export { quantizeFile, verifyInt8, calibrationFrames, agreementFrames, sixteenByNine, agreement, KEEP_FLOAT, type VerifyInt8Result, type AgreementResult } from './quantize/index.ts';
