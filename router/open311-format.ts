import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { City } from '../config/index.ts';
import { CASE_LIGHTS, OPEN_STATES, type CaseRecord, type CaseState } from '../domain/index.ts';

/** Who calls the Open311 API: a configured client (by its key) or a console user (by its session). */
export interface Open311Caller {
  readonly name: string;
  /** reads only this department's cases */
  readonly department?: string;
  readonly read: boolean;
  readonly report: boolean;
  /** sees internal notes (a department's own client, a console user) */
  readonly internal: boolean;
}

export interface Open311Client {
  readonly id: string;
  readonly api_key: string;
  readonly department?: string | undefined;
  readonly read: boolean;
  readonly report: boolean;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Finds the client whose key this is; every key is compared, in constant time. */
export function clientByKey(clients: readonly Open311Client[], key: string | undefined): Open311Caller | null {
  if (!key || key.length > 256) return null;
  const given = digest(key);
  let found: Open311Client | null = null;
  for (const c of clients) if (timingSafeEqual(given, digest(c.api_key)) && !found) found = c;
  return found ? { name: found.id, ...(found.department ? { department: found.department } : {}), read: found.read, report: found.report, internal: found.department !== undefined } : null;
}

/** Longest media_url taken; a longer one is refused. */
export const MAX_MEDIA_URL = 2048;

/**
 * A citizen's `media_url` is a link the public typed: only http(s), no user info, no address on
 * this machine or a private network (dispatch systems that fetch it must not be pointed inward),
 * at most 2048 characters. Answers the reason it is refused, or null.
 */
export function mediaUrlProblem(raw: string): string | null {
  if (raw.length > MAX_MEDIA_URL) return `media_url is longer than ${MAX_MEDIA_URL} characters`;
  let u: URL;
  try { u = new URL(raw); } catch { return 'media_url is not a URL'; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'media_url must be an http or https URL';
  if (u.username || u.password) return 'media_url must not carry a user name or password';
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal') || !host.includes('.') && !isIP(host)) return 'media_url must name a public host';
  if (isIP(host) && isPrivateAddress(host)) return 'media_url must not point at a loopback, link-local or private address';
  return null;
}

function isPrivateAddress(ip: string): boolean {
  if (isIP(ip) === 6) {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
    if (v4) return isPrivateAddress(v4[1]!);
    return ip === '::' || ip === '::1' || /^f[cd]/.test(ip) || /^fe[89ab]/.test(ip);
  }
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127) || a >= 224;
}

/** FixMyStreet's statuses for `servicerequestupdates`. */
const UPDATE_STATUS: Record<CaseState, string> = {
  reported: 'OPEN', filed: 'CONFIRMED', dispatched: 'ACTION_SCHEDULED', signed: 'IN_PROGRESS', resolved: 'FIXED', closed: 'CLOSED',
  reopened: 'OPEN', returned: 'INVESTIGATING', invalid: 'NO_FURTHER_ACTION', transferred: 'INTERNAL_REFERRAL',
};

export type Open311Request = ReturnType<typeof toOpen311>;

export function toOpen311(city: City, c: CaseRecord, revision: number, caller: Open311Caller) {
  const cat = city.categories.get(c.category);
  const last = c.history[c.history.length - 1];
  // Only media from the city's own cameras and terminals are linked back out; a citizen's link is theirs.
  const media = c.reports.find((r) => r.evidence.length && r.source.kind !== 'citizen' && r.source.kind !== 'hotline')?.evidence[0];
  return {
    service_request_id: c.id,
    status: OPEN_STATES.has(c.state) ? 'open' : 'closed',
    ...(caller.internal && last?.reason ? { status_notes: last.reason } : {}),
    service_name: cat?.name_en ?? c.category,
    service_code: cat?.standard_code ?? c.category,
    ...(c.reports[0]?.description ? { description: c.reports[0].description } : {}),
    agency_responsible: c.department,
    requested_datetime: c.created_at,
    updated_datetime: c.updated_at,
    ...(c.deadline ? { expected_datetime: c.deadline.at } : {}),
    lat: c.place.lat,
    long: c.place.lon,
    ...(media ? { media_url: media } : {}),
    // gridwatch extensions: the category's own code and its local code beside the standard's service_code
    category: c.category,
    ...(cat?.local_code ? { local_code: cat.local_code } : {}),
    state: c.state,
    light: CASE_LIGHTS[c.state],
    reports: c.report_count,
    area_path: [...c.place.path],
    revision,
  };
}

/** The case's steps as FixMyStreet's service request updates. */
export function updatesOf(c: CaseRecord, from: string | undefined, to: string | undefined, caller: Open311Caller) {
  return c.history.filter((t) => (!from || t.at >= from) && (!to || t.at <= to)).map((t) => ({
    update_id: `${c.id}-${t.seq}`,
    service_request_id: c.id,
    status: UPDATE_STATUS[t.to],
    updated_datetime: t.at,
    description: caller.internal && t.reason ? t.reason : `${t.action}: ${t.to}`,
    media_url: '',
  }));
}

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch]!);

function xmlValue(name: string, v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return `<${name}>${v.map((x) => xmlValue('item', x)).join('')}</${name}>`;
  if (typeof v === 'object') return `<${name}>${Object.entries(v).map(([k, x]) => xmlValue(k, x)).join('')}</${name}>`;
  return `<${name}>${xmlEscape(String(v))}</${name}>`;
}

/** GeoReport v2's XML form of a list: `<root><item>…</item>…</root>`. */
export function toXml(root: string, item: string, list: readonly object[]): string {
  return `<?xml version="1.0" encoding="utf-8"?>\n<${root}>${list.map((x) => xmlValue(item, x)).join('')}</${root}>`;
}
