/** One detected object, in frame pixels. */
export interface Detection {
  classId: number;
  label: string;
  score: number;
  /** [left, top, width, height] in frame pixels. */
  box: [number, number, number, number];
}

/** Detections of one sample, as the pool returns them. */
export interface SampleResult {
  cameraId: string;
  captureTimeMs: number;
  width: number;
  height: number;
  detections: Detection[];
  /** false when change gating skipped inference and `detections` repeats the last ones. */
  inferred: boolean;
  inferenceMs: number;
  /** Model runs for this sample: 1 for the whole frame, plus one per region crop; 0 when gated. */
  inferences: number;
}

export type ModelType = 'nanodet' | 'yolov8' | 'yolov5';
