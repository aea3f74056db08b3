import { Type, type Static } from 'typebox';
import { Strict, Section, Id, LatLon, Pixel } from './common.ts';
import { ZONE_TYPES } from './zone-types.ts';

/**
 * A zone of one camera. `type` picks the rule; keys that only some types read say so, and their
 * defaults by type are in `zone-types.ts` (README "Event types and their rules" has the table).
 */

export const Zone = Strict({
  id: Id,
  name: Type.Optional(Type.String()),
  type: Type.Enum([...ZONE_TYPES]),
  polygon: Type.Array(Pixel, { description: 'a closed ring in image pixels: the last point repeats the first' }),
  dwell_s: Type.Number({ exclusiveMinimum: 0, default: 300, description: 'how long it must last; the default depends on the type' }),
  classes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'the watched classes: vehicles (no_parking), bicycles and motorcycles (non_motor_parking), furniture and goods (shopfront_spillover), people (road_occupation, mobile_vendor, crowd_gathering)' })),
  stall_classes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'road_occupation, mobile_vendor: stall-like objects' })),
  presence_ratio: Type.Number({ minimum: 0, maximum: 1, default: 0.6, description: 'road_occupation, mobile_vendor: share of samples with people at the stall; crowd_gathering: share of samples with min_people' }),
  seen_ratio: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'no_parking, non_motor_parking, shopfront_spillover: share of samples in which the object must be seen (things passing over one spot now and then do not add up)' }),
  min_count: Type.Optional(Type.Integer({ minimum: 1, description: 'non_motor_parking, shopfront_spillover: objects a cluster needs to be a violation' })),
  cluster_gap: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10, description: 'non_motor_parking, shopfront_spillover: objects this many box sizes apart or closer are one cluster (one case)' })),
  shop_line: Type.Optional(Type.Array(Pixel, { minItems: 2, description: 'shopfront_spillover: the shop fronts as a polyline in image pixels' })),
  shop_side: Type.Optional(Type.Enum(['left', 'right'], { description: 'shopfront_spillover: walking along shop_line from its first point to its last, as drawn on the image, the shops are on this hand' })),
  min_move: Type.Optional(Type.Number({ minimum: 0, description: 'mobile_vendor: how far (in box sizes) the stall must have moved while followed; a stall that never moves is a fixed one (road_occupation)' })),
  max_step: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'mobile_vendor: how far (in box sizes) a stall may move between two samples and still be followed' })),
  min_people: Type.Optional(Type.Integer({ minimum: 2, description: 'crowd_gathering: people in the zone at once' })),
  min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.35 }),
  min_box_px: Type.Number({ minimum: 0, default: 12 }),
  cooldown_s: Type.Number({ minimum: 0, default: 600, description: 'after a violation ends, none is raised again at the same place in this zone for this long' }),
  max_gap_s: Type.Number({ exclusiveMinimum: 0, default: 120, description: 'road_occupation, mobile_vendor, non_motor_parking, shopfront_spillover: an object unseen for longer than this (occlusion, missed detections) has left' }),
  leave_s: Type.Number({ exclusiveMinimum: 0, default: 60, description: 'no_parking: a violation ends when its spot has been empty this long (at least three sample periods); non_motor_parking, shopfront_spillover, crowd_gathering: when the cluster or crowd has been gone this long' }),
  max_speed_kmh: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 8, description: 'no_parking: a vehicle slower than this on the ground is stopped (with a homography; without, speed on a plane fitted from vehicle sizes)' }),
  position_tolerance: Type.Number({ exclusiveMinimum: 0, maximum: 2, default: 0.3, description: 'road_occupation, non_motor_parking, shopfront_spillover: how far an object may seem to move, as a share of its box size (sqrt of w*h)' }),
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
 * around tracked objects and where the picture changed (in the zones, when the camera has any),
 * then zone tiles with what is left of `max_crops`. See detectors/README.md "Regions".
 */
export const CameraDetect = Section({
  regions: Type.Enum(['whole', 'zones', 'auto'], { default: 'auto' }),
  max_crops: Type.Integer({ minimum: 0, maximum: 64, default: 8, description: 'crops per sample besides the whole frame; each costs one model run' }),
  min_object_px: Type.Number({ minimum: 4, maximum: 1000, default: 12, description: 'longer side, in frame pixels, of the smallest objects zone tiles are scaled for; boxes found in crops under 0.8 of it are dropped' }),
  crop_vehicle_min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'least score of a vehicle found in a crop (not the whole frame): upscaled clutter passes for a truck at 0.3-0.4' }),
  second_opinion: Type.Boolean({ default: true, description: 'with detectors.region_model set: a crop where a change or a tracked object shows nothing is run again through detectors.model (NanoDet-g beside YOLOv5s), whose boxes count from a score of 0.4 and only in those regions: 12-24 px recall 0.35-0.43 -> 0.43-0.45 (small-objects), for 2 (small-objects) to 4.7 (the demo city) more model runs a sample, 0.09 more on a node that sheds crops under load' }),
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
