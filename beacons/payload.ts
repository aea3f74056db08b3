/**
 * Parsing and validation of terminal payloads. Pure functions: a payload either becomes a typed
 * message or a rejection reason; nothing here throws on bad input.
 */

export const REJECT_REASONS = [
  'too_large', 'not_json', 'not_object', 'missing_field', 'bad_field', 'coordinates_out_of_range', 'outside_city',
  'future_timestamp', 'unknown_category', 'bad_photo', 'photo_too_large', 'unknown_terminal', 'unsupported_type',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Location {
  readonly kind: 'location';
  readonly lat: number;
  readonly lon: number;
  /** Seconds since the epoch, as OwnTracks sends it (fractions allowed). */
  readonly tst: number;
  readonly acc: number | null;
  readonly alt: number | null;
  /** km/h, as OwnTracks sends it. */
  readonly vel: number | null;
  readonly cog: number | null;
  readonly batt: number | null;
  readonly conn: string;
  readonly created_at: number | null;
}

export interface Report {
  readonly kind: 'report';
  readonly category: string;
  readonly text: string;
  readonly lat: number;
  readonly lon: number;
  readonly tst: number;
  /** The decoded JPEG, when one came. */
  readonly photo: Buffer | null;
}

export interface Status {
  readonly kind: 'status';
  readonly online: boolean;
  readonly tst: number | null;
}

/** OwnTracks types other than location that the app sends and gridwatch has no use for. */
export interface Ignored {
  readonly kind: 'ignored';
  readonly type: string;
}

export type Message = Location | Report | Status | Ignored;
/** A rejection: a class, so that no JSON payload can pass for one. */
export class Rejected {
  readonly kind = 'rejected' as const;
  constructor(readonly reason: RejectReason, readonly detail: string) {}
}

export type Parsed = Message | Rejected;

export interface Limits {
  readonly maxPayloadBytes: number;
  readonly photoMaxBytes: number;
  readonly futureToleranceS: number;
  /** [minLon, minLat, maxLon, maxLat] with the margin already added. */
  readonly bounds: readonly [number, number, number, number];
  readonly categories: ReadonlySet<string>;
}

const reject = (reason: RejectReason, detail: string): Rejected => new Rejected(reason, detail);

/** The report cap: the base64 photo plus room for the rest. */
export function reportCapBytes(limits: Pick<Limits, 'photoMaxBytes'>): number {
  return Math.ceil(limits.photoMaxBytes / 3) * 4 + 16_384;
}

/** Degrees of latitude and longitude that `m` metres span at latitude `lat`. */
export function marginDeg(m: number, lat: number): [number, number] {
  return [m / 111_320, m / (111_320 * Math.max(0.01, Math.cos((lat * Math.PI) / 180)))];
}

function num(o: Record<string, unknown>, key: string, required: true): number | Rejected;
function num(o: Record<string, unknown>, key: string, required: false): number | null | Rejected;
function num(o: Record<string, unknown>, key: string, required: boolean): number | null | Rejected {
  const v = o[key];
  if (v === undefined || v === null) return required ? reject('missing_field', `${key} is required`) : null;
  // OwnTracks sends numbers; some clients send numeric strings for acc/alt/batt.
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : reject('bad_field', `${key} must be a number`);
}

const isRejection = (v: unknown): v is Rejected => v instanceof Rejected;

function checkPlace(lat: number, lon: number, limits: Limits): Rejected | null {
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return reject('coordinates_out_of_range', `lat ${lat}, lon ${lon} is not on Earth`);
  const [x0, y0, x1, y1] = limits.bounds;
  if (lon < x0 || lon > x1 || lat < y0 || lat > y1) return reject('outside_city', `lat ${lat}, lon ${lon} is far outside the city`);
  return null;
}

function checkTime(tst: number, nowMs: number, limits: Limits): Rejected | null {
  if (tst <= 0) return reject('bad_field', 'tst must be seconds since 1970');
  if (tst * 1000 > nowMs + limits.futureToleranceS * 1000) return reject('future_timestamp', `tst ${tst} is more than ${limits.futureToleranceS} s in the future`);
  return null;
}

function parseJson(payload: Uint8Array, cap: number): Record<string, unknown> | Rejected {
  if (payload.byteLength > cap) return reject('too_large', `${payload.byteLength} bytes is over the cap of ${cap}`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return reject('not_json', 'payload is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return reject('not_object', 'payload is not a JSON object');
  return v as Record<string, unknown>;
}

const isObj = (v: Record<string, unknown> | Rejected): v is Record<string, unknown> => !(v instanceof Rejected);

/** An OwnTracks-compatible location (also the OwnTracks topic, where `lwt` means offline). */
export function parseLocation(payload: Uint8Array, nowMs: number, limits: Limits, owntracks = false): Parsed {
  const o = parseJson(payload, limits.maxPayloadBytes);
  if (!isObj(o)) return o;
  const type = o._type;
  if (type === undefined) return reject('missing_field', '_type is required');
  if (type !== 'location') {
    if (owntracks && type === 'lwt') return { kind: 'status', online: false, tst: typeof o.tst === 'number' ? o.tst : null };
    if (owntracks && typeof type === 'string') return { kind: 'ignored', type };
    return reject('bad_field', '_type must be "location"');
  }
  const lat = num(o, 'lat', true), lon = num(o, 'lon', true), tst = num(o, 'tst', true);
  if (isRejection(lat)) return lat;
  if (isRejection(lon)) return lon;
  if (isRejection(tst)) return tst;
  const acc = num(o, 'acc', false), alt = num(o, 'alt', false), vel = num(o, 'vel', false), cog = num(o, 'cog', false), batt = num(o, 'batt', false), created = num(o, 'created_at', false);
  for (const v of [acc, alt, vel, cog, batt, created]) if (isRejection(v)) return v;
  if (o.conn !== undefined && typeof o.conn !== 'string') return reject('bad_field', 'conn must be a string');
  const bad = checkPlace(lat, lon, limits) ?? checkTime(tst, nowMs, limits);
  if (bad) return bad;
  return { kind: 'location', lat, lon, tst, acc: acc as number | null, alt: alt as number | null, vel: vel as number | null, cog: cog as number | null, batt: batt as number | null, conn: (o.conn as string | undefined) ?? '', created_at: created as number | null };
}

const JPEG_MAGIC = [0xff, 0xd8, 0xff];

/** An inspection report: category code, text, place, time and an optional base64 JPEG. */
export function parseReport(payload: Uint8Array, nowMs: number, limits: Limits): Parsed {
  const o = parseJson(payload, reportCapBytes(limits));
  if (!isObj(o)) return o;
  if (o._type !== undefined && o._type !== 'report') return reject('bad_field', '_type must be "report"');
  if (o.category === undefined) return reject('missing_field', 'category is required');
  if (typeof o.category !== 'string') return reject('bad_field', 'category must be a string');
  if (!limits.categories.has(o.category)) return reject('unknown_category', `category ${o.category} is not in the city config`);
  if (o.text !== undefined && typeof o.text !== 'string') return reject('bad_field', 'text must be a string');
  const lat = num(o, 'lat', true), lon = num(o, 'lon', true), tst = num(o, 'tst', true);
  if (isRejection(lat)) return lat;
  if (isRejection(lon)) return lon;
  if (isRejection(tst)) return tst;
  const bad = checkPlace(lat, lon, limits) ?? checkTime(tst, nowMs, limits);
  if (bad) return bad;
  let photo: Buffer | null = null;
  if (o.photo !== undefined && o.photo !== null) {
    if (typeof o.photo !== 'string') return reject('bad_photo', 'photo must be a base64 string');
    const b64 = o.photo.startsWith('data:') ? o.photo.slice(o.photo.indexOf(',') + 1) : o.photo;
    if (Math.floor((b64.length * 3) / 4) > limits.photoMaxBytes + 2) return reject('photo_too_large', `photo is over ${limits.photoMaxBytes} bytes`);
    photo = Buffer.from(b64, 'base64');
    if (photo.length > limits.photoMaxBytes) return reject('photo_too_large', `photo is ${photo.length} bytes, over ${limits.photoMaxBytes}`);
    if (photo.length < 4 || JPEG_MAGIC.some((b, i) => photo![i] !== b)) return reject('bad_photo', 'photo is not a base64 JPEG');
  }
  return { kind: 'report', category: o.category, text: ((o.text as string | undefined) ?? '').slice(0, 4000), lat, lon, tst, photo };
}

/** `online` / `offline`, as plain text or `{"state": "online", "tst": …}`. */
export function parseStatus(payload: Uint8Array, limits: Pick<Limits, 'maxPayloadBytes'>): Parsed {
  if (payload.byteLength > limits.maxPayloadBytes) return reject('too_large', `${payload.byteLength} bytes is over the cap of ${limits.maxPayloadBytes}`);
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8').trim();
  if (text === 'online' || text === 'offline') return { kind: 'status', online: text === 'online', tst: null };
  const o = parseJson(payload, limits.maxPayloadBytes);
  if (!isObj(o)) return o;
  const state = o.state ?? o.status;
  if (state === undefined) return reject('missing_field', 'state is required');
  if (state !== 'online' && state !== 'offline') return reject('bad_field', 'state must be "online" or "offline"');
  return { kind: 'status', online: state === 'online', tst: typeof o.tst === 'number' && Number.isFinite(o.tst) ? o.tst : null };
}
