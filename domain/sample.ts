/**
 * One decoded frame of a camera, packed RGB: what camera ingest hands the detectors. Ingest's
 * own `Sample` adds when it was due and picked.
 */
export interface CameraSample {
  cameraId: string;
  /** When the camera captured the frame (ms since the epoch), from the stream, never wall-clock at arrival. */
  captureTimeMs: number;
  width: number;
  height: number;
  /** width × height × 3 bytes, RGB, row-major; owned by the receiver. */
  rgb: Uint8Array;
}

/**
 * Whether a camera's sample must be inferred whatever its picture, so that the camera is
 * inferred at least once per `reverifyMs`: the last sample before that deadline is, judged by
 * the interval from the camera's previous sample (the next one would come past it). Without a
 * previous sample, the first at or past the deadline. Both gates (before decoding, and the
 * detectors' pixel gate) ask this, so they agree on which sample it is.
 */
export function reverifyDue(captureTimeMs: number, lastInferredMs: number, previousSampleMs: number, reverifyMs: number): boolean {
  const interval = captureTimeMs - previousSampleMs;
  const lead = interval > 0 && interval < reverifyMs ? interval : 0;
  const elapsed = captureTimeMs - lastInferredMs;
  return elapsed >= reverifyMs || elapsed + lead > reverifyMs;
}
