/**
 * The zone types, the rule each runs, and the defaults that differ by type. One table, so that a
 * new rule is one row here, one module in detectors/rules/, and its docs.
 */
export const ZONE_TYPES = ['no_parking', 'road_occupation', 'non_motor_parking', 'shopfront_spillover', 'mobile_vendor', 'crowd_gathering'] as const;
export type ZoneType = (typeof ZONE_TYPES)[number];

/** The rule a zone type runs; it is also the event type and the category code the event carries. */
export const ZONE_RULES = {
  no_parking: 'illegal_parking',
  road_occupation: 'road_vending',
  non_motor_parking: 'non_motor_parking',
  shopfront_spillover: 'shopfront_spillover',
  mobile_vendor: 'mobile_vendor',
  crowd_gathering: 'crowd_gathering',
} as const satisfies Record<ZoneType, string>;
export type ZoneRule = (typeof ZONE_RULES)[ZoneType];
export const CAMERA_RULES = Object.values(ZONE_RULES) as readonly ZoneRule[];

export const VEHICLE_CLASSES = ['car', 'truck', 'bus', 'motorcycle'];
export const STALL_CLASSES = ['umbrella', 'dining table', 'bench', 'chair', 'handbag', 'suitcase', 'bicycle', 'backpack'];
/** Bicycles, e-bikes (seen as bicycle or motorcycle) and motorcycles. */
export const NON_MOTOR_CLASSES = ['bicycle', 'motorcycle'];
/** What a shop puts out on the pavement: tables, chairs, racks, umbrellas and goods. */
export const SPILLOVER_CLASSES = ['chair', 'dining table', 'bench', 'couch', 'umbrella', 'potted plant', 'suitcase', 'refrigerator'];
/** A mobile vendor's cart, tricycle, umbrella or goods: not what a passer-by wears (bags). */
export const MOBILE_STALL_CLASSES = ['umbrella', 'dining table', 'chair', 'suitcase', 'bicycle', 'motorcycle'];

/**
 * Defaults that differ by zone type, applied to keys the zone leaves out before the schema's own
 * defaults: a mobile vendor is reported after a minute, a fixed stall after five.
 */
export const ZONE_TYPE_DEFAULTS: Readonly<Record<ZoneType, Readonly<Record<string, unknown>>>> = {
  no_parking: { dwell_s: 300 },
  road_occupation: { dwell_s: 300 },
  non_motor_parking: { dwell_s: 600, min_count: 1, cluster_gap: 2, leave_s: 120 },
  shopfront_spillover: { dwell_s: 600, min_count: 1, cluster_gap: 2, leave_s: 120, shop_side: 'left' },
  mobile_vendor: { dwell_s: 60, min_move: 1, max_step: 2, max_gap_s: 30, presence_ratio: 0.6 },
  crowd_gathering: { dwell_s: 300, min_people: 10, leave_s: 60 },
};

/** Keys that only some types read; any other type refuses them. */
export const TYPE_ONLY_KEYS: Readonly<Record<string, readonly ZoneType[]>> = {
  stall_classes: ['road_occupation', 'mobile_vendor'],
  min_count: ['non_motor_parking', 'shopfront_spillover'],
  cluster_gap: ['non_motor_parking', 'shopfront_spillover'],
  shop_line: ['shopfront_spillover'],
  shop_side: ['shopfront_spillover'],
  min_move: ['mobile_vendor'],
  max_step: ['mobile_vendor'],
  min_people: ['crowd_gathering'],
};

/**
 * Fills each zone's type defaults into a raw (not yet validated) list of zones, in place. Keys
 * the zone sets are kept; a zone of an unknown type is left for the schema to refuse.
 */
export function applyZoneTypeDefaults(zones: unknown): void {
  if (!Array.isArray(zones)) return;
  for (const z of zones) {
    if (!z || typeof z !== 'object') continue;
    const d = ZONE_TYPE_DEFAULTS[(z as { type?: unknown }).type as ZoneType];
    if (!d) continue;
    for (const [k, v] of Object.entries(d)) if (!(k in z)) (z as Record<string, unknown>)[k] = v;
  }
}

/** What a zone's type says about its keys: keys of other types, and the shop line a spill-over zone needs. */
export function zoneTypeIssues(z: { type: ZoneType; shop_line?: unknown }, path: string): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  for (const [key, types] of Object.entries(TYPE_ONLY_KEYS)) {
    if ((z as Record<string, unknown>)[key] !== undefined && !types.includes(z.type)) issues.push({ path: `${path}.${key}`, message: `applies only to ${types.join(', ')} zones` });
  }
  if (z.type === 'shopfront_spillover' && !z.shop_line) issues.push({ path: `${path}.shop_line`, message: 'is required for a shopfront_spillover zone: the shop fronts as a polyline' });
  return issues;
}
