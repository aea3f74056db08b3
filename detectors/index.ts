export { ModelLoadError, ModelConvertError, FrameInvalidError, ZoneInvalidError, DetectionsFileError, InferenceError } from './errors.ts';
export { convertFile, defaultModelPath, ensureDefaultModel, nanodetSourcePath, NANODET_NAME, NANODET_VERSION, SUPPORTED_OPS } from './convert/index.ts';
export { verifyAgainstTfjs, type VerifyResult } from './convert/verify.ts';
