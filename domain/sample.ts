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
