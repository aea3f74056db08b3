import { Type, type Static } from 'typebox';
import { Strict, Section } from './common.ts';

/** Camera ingest settings shared by all cameras; a camera may override the sampling period. */
export const Ingest = Section({
  sample_period_s: Type.Number({ exclusiveMinimum: 0, default: 10 }),
  max_connects_in_flight: Type.Integer({ minimum: 1, default: 64 }),
  stall_timeout_s: Type.Number({ exclusiveMinimum: 0, default: 10 }),
  backoff_initial_ms: Type.Integer({ minimum: 1, default: 1000 }),
  backoff_max_ms: Type.Integer({ minimum: 1, default: 60_000 }),
  frame_width: Type.Integer({ minimum: 16, default: 640, description: 'decoded samples are scaled to this width for the detectors and the evidence' }),
  frame_height: Type.Integer({ minimum: 16, default: 360 }),
  max_frame_width: Type.Integer({ minimum: 16, default: 1920, description: 'cameras whose detect.regions is not whole are decoded at their image_size, fitted within max_frame_width x max_frame_height' }),
  max_frame_height: Type.Integer({ minimum: 16, default: 1080 }),
  decode_budget_per_s: Type.Number({ exclusiveMinimum: 0, default: 200, description: 'keyframes decoded per second, over all cameras' }),
  decoders_per_codec: Type.Integer({ minimum: 1, default: 2, description: 'long-lived ffmpeg keyframe decoders per codec' }),
  connect_timeout_ms: Type.Integer({ minimum: 1, default: 5000, description: 'TCP connect and each RTSP request' }),
  gate_before_decode: Type.Boolean({ default: true, description: "rtsp cameras: a sample whose P-frames since the last one stay within the camera's own noise band is not decoded (never while the rules time a dwell on it; every camera is reverified at detectors.reverify_s)" }),
}, { description: 'camera ingest' });

/** The detector model; `type` picks the adapter. */
const MODEL = {
  type: Type.Enum(['nanodet', 'yolov8', 'yolov5'], { default: 'nanodet', description: 'the adapter; without `path`, yolov5 runs the built-in YOLOv5s (finds 24-48 px objects in region crops NanoDet-g misses, at 1.7x its CPU with int8), any other type NanoDet-g 416' }),
  path: Type.Optional(Type.String({ minLength: 1, description: 'an .onnx file; a built-in model converted in the data folder when absent (NanoDet-g 416, or YOLOv5s with type yolov5)' })),
  name: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  input_size: Type.Optional(Type.Integer({ minimum: 32 })),
  resize: Type.Optional(Type.Enum(['letterbox', 'stretch'])),
  classes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'class names; COCO when absent' })),
  score_threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.3 }),
  iou_threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
  precision: Type.Enum(['fp32', 'int8'], { default: 'int8', description: 'the built-in models only (no path): int8 runs the QDQ model `gridwatch model quantize [--model yolov5s]` writes (NanoDet-g 1.8x the frames per second of fp32, 95-96% of its boxes; YOLOv5s 1.5-1.7x, 96-97%)' }),
  wide_input: Type.Boolean({ default: true, description: 'the built-in models only: frames and crops at least as wide as 16:10 (16:9 cameras) run on the model converted for a 416x256 input (0.61x the work of 416x416), not stretched into the square' }),
  variants: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 4, description: 'with `path`: the same model converted for other input shapes (.onnx, same longest side); each frame or crop runs on the shape nearest its aspect ratio that is no wider than it' })),
};
export const Model = Section(MODEL);

export const Detectors = Section({
  model: Model,
  region_model: Type.Optional(Strict(MODEL, { description: 'the model region cameras (detect.regions zones or auto) run on, whole frame and crops, when it should be another than `model`: e.g. { type: yolov5 } for the built-in YOLOv5s, which finds small objects NanoDet-g misses, while whole-frame cameras stay on NanoDet-g; each worker then holds both' })),
  workers: Type.Optional(Type.Integer({ minimum: 1, description: 'as many as cores when absent' })),
  intra_op_threads: Type.Integer({ minimum: 1, default: 1 }),
  queue_per_camera: Type.Integer({ minimum: 1, default: 2 }),
  reverify_s: Type.Number({ exclusiveMinimum: 0, default: 60 }),
  gate_threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.01, description: 'share of 32x24 thumbnail cells changed by more than 10 grey levels below which a sample is not inferred; 0 turns gating off' }),
  infer_timeout_ms: Type.Integer({ minimum: 100, default: 10_000, description: 'a worker busy longer than this on one sample is restarted' }),
  max_restarts: Type.Integer({ minimum: 0, default: 5, description: 'restarts per worker within restart_window_s before it stays down' }),
  restart_window_s: Type.Number({ exclusiveMinimum: 0, default: 600 }),
  warmup_runs: Type.Integer({ minimum: 0, default: 2 }),
  snapshot_width_px: Type.Integer({ minimum: 0, default: 480, description: "width of each camera's latest-frame JPEG for the console (camera wall, zone editor); 0 makes none" }),
  snapshots_per_s: Type.Number({ exclusiveMinimum: 0, default: 10, description: "the most latest-frame JPEGs a node makes a second for cameras nobody watches: with more cameras than snapshot_period_s allows at this rate, each camera's JPEG rests longer (1,000 cameras at 10: every 100 s); watched cameras are not counted" }),
  snapshot_period_s: Type.Number({ minimum: 0, default: 30, description: "a camera's latest-frame JPEG is remade at most this often, and from every sample while an operator watches it (its frame was asked for within the last minute); 0: from every sample" }),
}, { description: 'detectors' });

export type IngestT = Static<typeof Ingest>;
export type DetectorsT = Static<typeof Detectors>;
export type ModelT = Static<typeof Model>;
