/**
 * `gridwatch model quantize`: converts NanoDet-g 416 again in memory, measures the ranges of every
 * quantised op's input and output on real frames, writes the QDQ int8 model beside the fp32 one,
 * and (with `verify`) checks that int8 and fp32 detections agree.
 */
export { int8ModelPath, NANODET_INT8_VERSION } from '../convert/index.ts';
export { quantizeQdq, calibrationTensors, withCalibrationOutputs, type Range } from './qdq.ts';
export { agreement, type AgreementResult } from './agreement.ts';
export { calibrate, quantizeFile, KEEP_FLOAT, type QuantizeFileOptions } from './calibrate.ts';
export { layerErrors, type LayerError } from './layers.ts';
export { verifyInt8, calibrationFrames, agreementFrames, sixteenByNine, STREET_CLIP, type VerifyInt8Result } from './run.ts';
export { ensureInt8Model, cacheInt8Model, modelCacheDir } from './ensure.ts';
