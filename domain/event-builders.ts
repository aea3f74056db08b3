import type { City } from '../config/index.ts';
import { EVENT_SCHEMA, type GridEventT } from './event.ts';
import { geolocateCameraPoint, type GeoPoint } from './place.ts';

/**
 * The one way each source's sighting becomes a grid event: a camera's violation, a grid worker's
 * report from a terminal, and a citizen's or the hotline's request.
 */

/** The codes other systems know a category by (`categories[].standard_code`, `local_code`). */
export interface CategoryCodes {
  readonly standard_code?: string;
  readonly local_code?: string;
}

/** The category's codes from the city config; none for a category it does not list. */
export function categoryCodes(city: City, category: string): CategoryCodes {
  const c = city.categories.get(category);
  return { ...(c?.standard_code ? { standard_code: c.standard_code } : {}), ...(c?.local_code ? { local_code: c.local_code } : {}) };
}

export type CameraEventType = 'illegal_parking' | 'road_vending' | 'non_motor_parking' | 'shopfront_spillover' | 'mobile_vendor' | 'crowd_gathering';

export interface CameraDetection {
  /** Stable: the same incident gives the same id (e.g. camera, zone, locked position, first-seen time). */
  readonly id: string;
  readonly type: CameraEventType;
  /** The category's codes; `cameraEvent` looks them up when absent. */
  readonly codes?: CategoryCodes;
  /** Category code; the type when absent. */
  readonly category?: string;
  readonly cameraId: string;
  readonly zoneId: string;
  readonly class: string;
  /** [x, y, width, height] in image pixels. */
  readonly box: readonly [number, number, number, number];
  readonly dwell_s: number;
  readonly score: number;
  /** How many objects or people the violation counts (clusters, crowds); absent for one object. */
  readonly count?: number | null;
  readonly firstSeen: Date;
  readonly confirmedAt: Date;
  readonly evidence: readonly string[];
  readonly model?: { readonly name: string; readonly version: string };
}

/** Where a camera event happened, when it is already known (an alert carries its place). */
export interface EventPlace {
  readonly lat: number;
  readonly lon: number;
  readonly path: readonly string[];
  readonly method?: GeoPoint['method'];
}

/**
 * Builds a camera event: the box's bottom-centre point (where the object meets the ground) is
 * geolocated and placed in a cell. Returns null for an unknown camera.
 */
export function cameraEvent(city: City, d: CameraDetection): GridEventT | null {
  const [x, y, w, h] = d.box;
  const g = geolocateCameraPoint(city, d.cameraId, d.zoneId, [x + w / 2, y + h]);
  return g ? cameraEventAt({ ...d, codes: d.codes ?? categoryCodes(city, d.category ?? d.type) }, g) : null;
}

/** A camera event at a place already found. */
export function cameraEventAt(d: CameraDetection, place: EventPlace): GridEventT {
  const [x, y, w, h] = d.box;
  return {
    schema: EVENT_SCHEMA, id: d.id, type: d.type, category: d.category ?? d.type, ...d.codes,
    source: { kind: 'camera', id: d.cameraId, zone: d.zoneId },
    first_seen: d.firstSeen.toISOString(), confirmed_at: d.confirmedAt.toISOString(),
    place: { lat: place.lat, lon: place.lon, path: [...place.path], ...(place.method ? { method: place.method } : {}) },
    object: { class: d.class, box: [x, y, w, h], dwell_s: d.dwell_s, score: d.score, ...(d.count != null ? { count: d.count } : {}) },
    evidence: [...d.evidence], ...(d.model ? { model: { name: d.model.name, version: d.model.version } } : {}),
  };
}

export interface TerminalSighting {
  readonly id: string;
  readonly terminalId: string;
  readonly category: string;
  /** when the worker saw it (the terminal's clock) */
  readonly seenAt: Date;
  /** when gridwatch received it */
  readonly receivedAt: Date;
  readonly lat: number;
  readonly lon: number;
  readonly path: readonly string[];
  readonly text?: string;
  readonly evidence: readonly string[];
  readonly codes?: CategoryCodes;
}

/** A grid worker's report from a terminal, placed by its GPS fix. */
export function terminalEvent(s: TerminalSighting): GridEventT {
  return {
    schema: EVENT_SCHEMA, id: s.id, type: 'terminal_report', category: s.category, ...s.codes,
    source: { kind: 'terminal', id: s.terminalId },
    first_seen: s.seenAt.toISOString(), confirmed_at: s.receivedAt.toISOString(),
    place: { lat: s.lat, lon: s.lon, path: [...s.path], method: 'gps' },
    ...(s.text ? { description: s.text.slice(0, 4000) } : {}),
    evidence: [...s.evidence],
  };
}

export interface CitizenRequest {
  readonly id: string;
  readonly channel: 'citizen' | 'hotline';
  /** the reporter's reference (account, device or e-mail) */
  readonly reporter: string;
  readonly category: string;
  readonly at: Date;
  readonly lat: number;
  readonly lon: number;
  readonly path: readonly string[];
  readonly address?: string;
  readonly description?: string;
  readonly evidence: readonly string[];
  readonly codes?: CategoryCodes;
}

/** A citizen's or the hotline's request, placed where the reporter said. */
export function citizenEvent(r: CitizenRequest): GridEventT {
  const at = r.at.toISOString();
  return {
    schema: EVENT_SCHEMA, id: r.id, type: r.channel === 'hotline' ? 'hotline_report' : 'citizen_report', category: r.category, ...r.codes,
    source: { kind: r.channel, id: r.reporter }, first_seen: at, confirmed_at: at,
    place: { lat: r.lat, lon: r.lon, path: [...r.path], method: 'reported', ...(r.address ? { address: r.address } : {}) },
    evidence: [...r.evidence], ...(r.description ? { description: r.description } : {}),
  };
}
