import { Type, type Static } from 'typebox';
import { Strict, Section, Id, LatLon, Pixel } from './common.ts';

export const ZONE_TYPES = ['no_parking', 'road_occupation'] as const;
export const VEHICLE_CLASSES = ['car', 'truck', 'bus', 'motorcycle'];
export const STALL_CLASSES = ['umbrella', 'dining table', 'bench', 'chair', 'handbag', 'suitcase', 'bicycle', 'backpack'];

export const Zone = Strict({
  id: Id,
  name: Type.Optional(Type.String()),
  type: Type.Enum([...ZONE_TYPES]),
  polygon: Type.Array(Pixel, { description: 'a closed ring in image pixels: the last point repeats the first' }),
  dwell_s: Type.Number({ exclusiveMinimum: 0, default: 300 }),
  classes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'vehicle classes (no_parking) or person classes (road_occupation)' })),
  stall_classes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
  presence_ratio: Type.Number({ minimum: 0, maximum: 1, default: 0.6, description: 'road_occupation: share of samples in the dwell window with people at the stall' }),
  seen_ratio: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'no_parking: share of samples in the dwell window in which the vehicle must be seen (cars passing over one spot now and then do not add up)' }),
  min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.35 }),
  min_box_px: Type.Number({ minimum: 0, default: 12 }),
  cooldown_s: Type.Number({ minimum: 0, default: 600, description: 'after a violation ends, none is raised again at the same place in this zone for this long' }),
  max_gap_s: Type.Number({ exclusiveMinimum: 0, default: 120, description: 'road_occupation: a stall unseen for longer than this (occlusion, missed detections) has left' }),
  leave_s: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'no_parking: a violation ends when its spot has been empty this long (at least three sample periods)' }),
  max_speed_kmh: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 8, description: 'no_parking: a vehicle slower than this on the ground is stopped (with a homography; without, speed on a plane fitted from vehicle sizes)' }),
  position_tolerance: Type.Number({ exclusiveMinimum: 0, maximum: 2, default: 0.3, description: 'road_occupation: how far a stall may seem to move, as a share of its box size (sqrt of w*h)' }),
  ground_point: Type.Optional(LatLon),
});

/** Four image points and the four ground points they show, for mapping any image point to lat/lon. */
export const Homography = Strict({
  image: Type.Array(Pixel, { minItems: 4, maxItems: 4 }),
  ground: Type.Array(LatLon, { minItems: 4, maxItems: 4 }),
});

/**
 * Where the detector looks: `whole` squeezes the whole frame into the model's input (cheapest,
 * misses small objects); `zones` adds full-resolution tiles over the zones; `auto` adds crops
 * around tracked objects and where the picture changed, then zone tiles with what is left of
 * `max_crops`. See detectors/README.md "Regions".
 */
export const CameraDetect = Section({
  regions: Type.Enum(['whole', 'zones', 'auto'], { default: 'auto' }),
  max_crops: Type.Integer({ minimum: 0, maximum: 64, default: 8, description: 'crops per sample besides the whole frame; each costs one model run' }),
  min_object_px: Type.Number({ minimum: 4, maximum: 1000, default: 12, description: 'longer side, in frame pixels, of the smallest objects zone tiles are scaled for' }),
}, { description: 'region detection' });

export const Camera = Strict({
  id: Id,
  name: Type.Optional(Type.String()),
  type: Type.Enum(['rtsp', 'ffmpeg'], { default: 'rtsp', description: 'rtsp: the in-process client; ffmpeg: one ffmpeg process per camera' }),
  url: Type.String({ pattern: '^rtsps?://', description: 'rtsp://host[:port]/path' }),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  lat: Type.Number({ minimum: -90, maximum: 90 }),
  lon: Type.Number({ minimum: -180, maximum: 180 }),
  heading_deg: Type.Number({ minimum: 0, maximum: 360, default: 0 }),
  cell: Type.Optional(Id),
  enabled: Type.Boolean({ default: true }),
  sample_period_s: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  image_size: Type.Optional(Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })], { description: '[width, height] the zones are drawn on' })),
  homography: Type.Optional(Homography),
  zones: Type.Array(Zone, { default: [] }),
  detect: CameraDetect,
});

export type CameraDetectT = Static<typeof CameraDetect>;
export type CameraT = Static<typeof Camera>;
export type ZoneT = Static<typeof Zone>;
