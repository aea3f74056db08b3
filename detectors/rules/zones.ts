import {
  MOBILE_STALL_CLASSES, NON_MOTOR_CLASSES, pointInRing, SPILLOVER_CLASSES, STALL_CLASSES, VEHICLE_CLASSES, ZONE_RULES,
  type Ring, type ZoneRule, type ZoneT, type ZoneType,
} from '../../config/index.ts';
import { ZoneInvalidError } from '../errors.ts';

export type Rule = ZoneRule;

/** The classes a zone watches when it names none: its main objects, and the stall-like ones. */
const DEFAULT_CLASSES: Readonly<Record<ZoneType, { classes: readonly string[]; stall: readonly string[] }>> = {
  no_parking: { classes: VEHICLE_CLASSES, stall: [] },
  road_occupation: { classes: ['person'], stall: STALL_CLASSES },
  non_motor_parking: { classes: NON_MOTOR_CLASSES, stall: [] },
  shopfront_spillover: { classes: SPILLOVER_CLASSES, stall: [] },
  mobile_vendor: { classes: ['person'], stall: MOBILE_STALL_CLASSES },
  crowd_gathering: { classes: ['person'], stall: [] },
};

/** A zone ready for the hot path: sets instead of lists, thresholds with units resolved. */
export interface CompiledZone {
  id: string;
  rule: Rule;
  ring: Ring;
  bbox: [number, number, number, number];
  dwellMs: number;
  /** Vehicles (no_parking) or people (road_occupation). */
  classes: ReadonlySet<string>;
  /** Stall-like objects (road_occupation only). */
  stallClasses: ReadonlySet<string>;
  presenceRatio: number;
  seenRatio: number;
  minScore: number;
  minBoxPx: number;
  cooldownMs: number;
  maxGapMs: number;
  /** illegal_parking: the spot empty this long and the vehicle has left. */
  leaveMs: number;
  /** illegal_parking: a vehicle slower than this on the ground (m/s) is stopped. */
  maxSpeedMs: number;
  tolerance: number;
  /** non_motor_parking, shopfront_spillover: objects a cluster needs; crowd_gathering: people. */
  minCount: number;
  /** Objects this many box sizes apart are one cluster. */
  clusterGap: number;
  /** shopfront_spillover: the shop fronts, and on which hand of the line (as drawn) the shops are. */
  shopLine: readonly (readonly [number, number])[];
  shopSide: 'left' | 'right';
  /** mobile_vendor: how far it must have moved, and may move between samples, in box sizes. */
  minMove: number;
  maxStep: number;
}

/**
 * Checks and compiles a camera's zones. A polygon outside the image or a class the model does
 * not know is refused with the camera and zone named.
 */
export function compileZones(cameraId: string, zones: readonly ZoneT[], modelClasses: readonly string[], imageSize?: readonly [number, number]): CompiledZone[] {
  const known = new Set(modelClasses);
  return zones.map((z) => {
    const where = `camera ${cameraId} zone ${z.id}`;
    if (z.polygon.length < 4) throw new ZoneInvalidError(`${where}: polygon needs at least 3 points and must be closed`);
    if (imageSize) {
      const [w, h] = imageSize;
      const out = z.polygon.find(([x, y]) => x > w || y > h);
      if (out) throw new ZoneInvalidError(`${where}: polygon point [${out[0]}, ${out[1]}] lies outside the ${w}x${h} image`, { details: { cameraId, zoneId: z.id } });
    }
    const rule: Rule = ZONE_RULES[z.type];
    const dflt = DEFAULT_CLASSES[z.type];
    const classes = z.classes ?? dflt.classes;
    const stall = dflt.stall.length ? (z.stall_classes ?? dflt.stall) : [];
    if (z.type === 'shopfront_spillover' && !(z.shop_line && z.shop_line.length >= 2)) throw new ZoneInvalidError(`${where}: a shopfront_spillover zone needs shop_line`, { details: { cameraId, zoneId: z.id } });
    const unknown = [...classes, ...stall].filter((c) => !known.has(c));
    if (unknown.length) throw new ZoneInvalidError(`${where}: the model has no class ${unknown.map((c) => JSON.stringify(c)).join(', ')}`, { details: { cameraId, zoneId: z.id } });
    const xs = z.polygon.map((p) => p[0]);
    const ys = z.polygon.map((p) => p[1]);
    return {
      id: z.id,
      rule,
      ring: z.polygon as Ring,
      bbox: [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)],
      dwellMs: z.dwell_s * 1000,
      classes: new Set(classes),
      stallClasses: new Set(stall),
      presenceRatio: z.presence_ratio,
      seenRatio: z.seen_ratio,
      minScore: z.min_score,
      minBoxPx: z.min_box_px,
      cooldownMs: z.cooldown_s * 1000,
      maxGapMs: z.max_gap_s * 1000,
      leaveMs: z.leave_s * 1000,
      maxSpeedMs: z.max_speed_kmh / 3.6,
      tolerance: z.position_tolerance,
      minCount: (z.type === 'crowd_gathering' ? z.min_people : z.min_count) ?? 1,
      clusterGap: z.cluster_gap ?? 2,
      shopLine: (z.shop_line ?? []) as [number, number][],
      shopSide: z.shop_side ?? 'left',
      minMove: z.min_move ?? 1,
      maxStep: z.max_step ?? 2,
    };
  });
}

/** Is the image point inside the zone? Bounding box first, then the ring. */
export function inZone(z: CompiledZone, x: number, y: number): boolean {
  return x >= z.bbox[0] && x <= z.bbox[2] && y >= z.bbox[1] && y <= z.bbox[3] && pointInRing(x, y, z.ring);
}
