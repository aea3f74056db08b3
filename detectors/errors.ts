import { GridwatchError } from '../core/index.ts';

/** The model file is missing, unreadable, or does not fit its adapter. */
export class ModelLoadError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('DETECT_MODEL_LOAD', message, options);
  }
}

/** The TF.js graph uses something the converter does not handle. */
export class ModelConvertError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('DETECT_MODEL_CONVERT', message, options);
  }
}

/** A frame that cannot be decoded or has the wrong size. */
export class FrameInvalidError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('DETECT_FRAME_INVALID', message, options);
  }
}

/** A zone that does not fit the image (polygon outside it, unknown class). */
export class ZoneInvalidError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('DETECT_ZONE_INVALID', message, options);
  }
}

/** A line of a detections file that cannot be read; names file and line. */
export class DetectionsFileError extends GridwatchError {
  constructor(file: string, line: number, message: string) {
    super('DETECT_DETECTIONS_FILE', `${file}:${line}: ${message}`, { details: { file, line } });
  }
}

/** An inference failed or timed out in a worker. */
export class InferenceError extends GridwatchError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('DETECT_INFERENCE', message, options);
  }
}
