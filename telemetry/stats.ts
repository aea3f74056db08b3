import { cellToBoundary, cellToLatLng, latLngToCell } from 'h3-js';
import type { City } from '../config/index.ts';
import type { TelemetryStore } from './store.ts';
import { TelemetryStatsQueryError } from './errors.ts';
import { readIndicators, type IndicatorDimension, type Indicators } from './indicators.ts';

/**
 * What the statistics need to know about the city: its time zone (days are local days), the area
 * tree (to filter by any area), the terminals (every worker is ranked, idle ones too) and where
 * the cameras stand.
 */
export interface StatsCity {
  readonly timezone: string;
  readonly areas: ReadonlyMap<string, { readonly id: string; readonly level: string; readonly path: readonly string[] }>;
  readonly terminals: ReadonlyMap<string, { readonly worker: string; readonly cell: string }>;
  /** camera id → its cell, when known */
  readonly cameraCells?: ReadonlyMap<string, string>;
}

export function statsCity(city: City): StatsCity {
  const cameraCells = new Map<string, string>();
  for (const cam of city.cameras.values()) {
    const cell = cam.cell ?? city.grid.locate(cam.lat, cam.lon)?.cell.id;
    if (cell) cameraCells.set(cam.id, cell);
  }
  return { timezone: city.config.city.timezone, areas: city.areas, terminals: city.terminals, cameraCells };
}

/** A time range, `from_ms` inclusive and `to_ms` exclusive, and optionally an area at any level. */
export interface StatsFilter {
  readonly from_ms: number;
  readonly to_ms: number;
  readonly area?: string;
}

export interface CaseCounts {
  created: number;
  dispatched: number;
  signed: number;
  signed_on_time: number;
  resolved: number;
  resolved_on_time: number;
  closed: number;
  closed_on_time: number;
  escalated: number;
}

export interface Summary extends CaseCounts {
  /** closed / created */
  closure_rate: number | null;
  /** signed on time / signed */
  on_time_sign_rate: number | null;
  /** closed on time / closed */
  on_time_close_rate: number | null;
  mean_resolve_s: number | null;
  /** mean of the satisfaction scores given (0..1) */
  satisfaction: number | null;
  satisfaction_n: number;
}

export interface CategoryShare { category: string; cases: number; share: number }
export interface CellRank { rank: number; cell: string; created: number; closed: number; closure_rate: number | null; on_time_close_rate: number | null }
export interface DepartmentRank {
  rank: number; department: string; received: number; signed: number; resolved: number;
  closure_rate: number | null; on_time_sign_rate: number | null; on_time_close_rate: number | null;
  satisfaction: number | null; mean_resolve_s: number | null;
}
export interface WorkerRank { rank: number; worker: string; reports: number; online_s: number; distance_m: number }
export interface HeatCell { h3: string; count: number; lat: number; lon: number; boundary: [number, number][] }
export interface CameraUptime { camera: string; uptime: number | null; up_s: number; total_s: number; samples: number; reconnects: number; gaps: number; drops: number }
export interface DetectorQuality { camera: string; zone: string; raised: number; confirmed: number; dismissed: number; false_positive_rate: number | null }

/** Positions further apart in time than this are not counted as walking or as time online. */
export const ONLINE_GAP_S = 300;

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The centre's statistics, read from the daily rollups (cases, camera uptime, detector quality),
 * the worker view and the raw events (heatmap). Rollups count whole local days: a range covers
 * every day it touches.
 */
export class TelemetryStats {
  readonly #store: TelemetryStore;
  readonly #city: StatsCity;

  constructor(store: TelemetryStore, city: StatsCity) {
    if (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(city.timezone)) throw new TelemetryStatsQueryError(`bad time zone ${city.timezone}`);
    this.#store = store;
    this.#city = city;
  }

  #check(f: StatsFilter): void {
    if (!Number.isFinite(f.from_ms) || !Number.isFinite(f.to_ms) || f.to_ms <= f.from_ms) throw new TelemetryStatsQueryError(`empty or bad time range: from ${f.from_ms} to ${f.to_ms}`);
    if (f.area !== undefined && !this.#city.areas.has(f.area)) throw new TelemetryStatsQueryError(`unknown area ${f.area}; use an area id from the city config`);
  }

  /** The local days a range touches, as a rollup `day` condition. */
  #days(f: StatsFilter): string {
    const tz = q(this.#city.timezone);
    return `day >= toDate(fromUnixTimestamp64Milli(${Math.trunc(f.from_ms)}), ${tz}) AND day <= toDate(fromUnixTimestamp64Milli(${Math.trunc(f.to_ms) - 1}), ${tz})`;
  }

  #ts(f: StatsFilter): string {
    return `ts >= fromUnixTimestamp64Milli(${Math.trunc(f.from_ms)}) AND ts < fromUnixTimestamp64Milli(${Math.trunc(f.to_ms)})`;
  }

  #cellsUnder(area: string): string[] {
    const cells: string[] = [];
    for (const a of this.#city.areas.values()) if (a.level === 'cell' && a.path.includes(area)) cells.push(a.id);
    return cells;
  }

  /** A condition on district / street / cell columns for an area at any level. */
  #area(f: StatsFilter): string {
    if (f.area === undefined) return '1';
    const a = this.#city.areas.get(f.area)!;
    if (a.level === 'district') return `district = ${q(a.id)}`;
    if (a.level === 'street') return `street = ${q(a.id)}`;
    if (a.level === 'cell') return `cell = ${q(a.id)}`;
    const cells = this.#cellsUnder(a.id);
    return cells.length ? `cell IN (${cells.map(q).join(', ')})` : '0';
  }

  /** A condition on a camera column: cameras that stand in the area. */
  #cameraArea(f: StatsFilter): string {
    if (f.area === undefined) return '1';
    const cells = new Set(this.#cellsUnder(f.area));
    if (this.#city.areas.get(f.area)!.level === 'cell') cells.add(f.area);
    const cams = [...(this.#city.cameraCells ?? new Map<string, string>())].filter(([, cell]) => cells.has(cell)).map(([id]) => id);
    return cams.length ? `camera IN (${cams.map(q).join(', ')})` : '0';
  }

  async #cases<T>(f: StatsFilter, select: string, groupBy = '', tail = ''): Promise<T[]> {
    this.#check(f);
    const sql = `SELECT ${select} FROM cases_daily WHERE ${this.#days(f)} AND ${this.#area(f)}${groupBy ? ` GROUP BY ${groupBy}` : ''}${tail}`;
    return this.#store.query<T>(sql);
  }

  async summary(f: StatsFilter): Promise<Summary> {
    const [r] = await this.#cases<Record<string, unknown>>(f, `sum(created) AS created, sum(dispatched) AS dispatched, sum(signed) AS signed,
      sum(signed_on_time) AS signed_on_time, sum(resolved) AS resolved, sum(resolved_on_time) AS resolved_on_time,
      sum(closed) AS closed, sum(closed_on_time) AS closed_on_time, sum(escalated) AS escalated,
      sum(resolve_s_sum) AS rs, sum(resolve_n) AS rn, sum(satisfaction_sum) AS ss, sum(satisfaction_n) AS sn`);
    const c = (k: string) => num(r?.[k]);
    return {
      created: c('created'), dispatched: c('dispatched'), signed: c('signed'), signed_on_time: c('signed_on_time'),
      resolved: c('resolved'), resolved_on_time: c('resolved_on_time'), closed: c('closed'), closed_on_time: c('closed_on_time'), escalated: c('escalated'),
      closure_rate: ratio(c('closed'), c('created')),
      on_time_sign_rate: ratio(c('signed_on_time'), c('signed')),
      on_time_close_rate: ratio(c('closed_on_time'), c('closed')),
      mean_resolve_s: ratio(c('rs'), c('rn')),
      satisfaction: ratio(c('ss'), c('sn')),
      satisfaction_n: c('sn'),
    };
  }

  /** Each category's share of the cases created in the range. */
  async categories(f: StatsFilter): Promise<CategoryShare[]> {
    const rows = await this.#cases<{ category: string; n: unknown }>(f, 'category, sum(created) AS n', 'category', ' HAVING n > 0 ORDER BY n DESC, category');
    const total = rows.reduce((s, r) => s + num(r.n), 0);
    return rows.map((r) => ({ category: r.category, cases: num(r.n), share: num(r.n) / total }));
  }

  /** Cells by cases created, most first (the hot spots). */
  async cells(f: StatsFilter, limit = 50): Promise<CellRank[]> {
    const rows = await this.#cases<Record<string, unknown>>(f, 'cell, sum(created) AS created, sum(closed) AS closed, sum(closed_on_time) AS cot', 'cell',
      ` HAVING created > 0 OR closed > 0 ORDER BY created DESC, cell LIMIT ${Math.max(1, Math.min(10_000, Math.trunc(limit)))}`);
    return rows.map((r, i) => ({ rank: i + 1, cell: String(r.cell), created: num(r.created), closed: num(r.closed), closure_rate: ratio(num(r.closed), num(r.created)), on_time_close_rate: ratio(num(r.cot), num(r.closed)) }));
  }

  /**
   * Departments, best first: by on-time close rate, then closure rate, then on-time sign rate.
   * A department receives a case on `dispatched` and handles it on `resolved`.
   */
  async departments(f: StatsFilter): Promise<DepartmentRank[]> {
    const rows = await this.#cases<Record<string, unknown>>(f, `department, sum(dispatched) AS received, sum(signed) AS signed, sum(signed_on_time) AS sot,
      sum(resolved) AS resolved, sum(resolved_on_time) AS rot, sum(resolve_s_sum) AS rs, sum(resolve_n) AS rn, sum(satisfaction_sum) AS ss, sum(satisfaction_n) AS sn`,
    'department', " HAVING department != ''");
    const list = rows.map((r) => ({
      rank: 0, department: String(r.department), received: num(r.received), signed: num(r.signed), resolved: num(r.resolved),
      closure_rate: ratio(num(r.resolved), num(r.received)), on_time_sign_rate: ratio(num(r.sot), num(r.signed)),
      on_time_close_rate: ratio(num(r.rot), num(r.resolved)), satisfaction: ratio(num(r.ss), num(r.sn)), mean_resolve_s: ratio(num(r.rs), num(r.rn)),
    }));
    const key = (v: number | null) => v ?? -1;
    list.sort((a, b) => key(b.on_time_close_rate) - key(a.on_time_close_rate) || key(b.closure_rate) - key(a.closure_rate) || key(b.on_time_sign_rate) - key(a.on_time_sign_rate) || a.department.localeCompare(b.department));
    list.forEach((d, i) => (d.rank = i + 1));
    return list;
  }

  /**
   * Every worker who carries a terminal in the area, ranked by reports filed, then time online,
   * then distance walked. The last ten are the month's yellow-light list.
   */
  async workers(f: StatsFilter): Promise<{ workers: WorkerRank[]; yellow_light: WorkerRank[] }> {
    this.#check(f);
    const rows = await this.#store.query<Record<string, unknown>>(`SELECT worker, sum(distance_m) AS distance_m, sum(online_s) AS online_s, sum(reports) AS reports
      FROM worker_daily(gap_s = ${ONLINE_GAP_S}, from_ms = ${Math.trunc(f.from_ms)}, to_ms = ${Math.trunc(f.to_ms)}) GROUP BY worker`);
    const inArea = (cell: string) => f.area === undefined || cell === f.area || (this.#city.areas.get(cell)?.path.includes(f.area) ?? false);
    const byWorker = new Map<string, WorkerRank>();
    for (const t of this.#city.terminals.values()) if (inArea(t.cell)) byWorker.set(t.worker, { rank: 0, worker: t.worker, reports: 0, online_s: 0, distance_m: 0 });
    for (const r of rows) {
      const w = byWorker.get(String(r.worker));
      if (!w) continue; // a worker outside the area, or no longer in the config
      w.reports += num(r.reports);
      w.online_s += num(r.online_s);
      w.distance_m += num(r.distance_m);
    }
    const list = [...byWorker.values()].sort((a, b) => b.reports - a.reports || b.online_s - a.online_s || b.distance_m - a.distance_m || a.worker.localeCompare(b.worker));
    list.forEach((w, i) => (w.rank = i + 1));
    return { workers: list, yellow_light: list.slice(-10).reverse() };
  }

  /** Events counted in H3 cells at resolution `res` (7 ≈ 1.2 km, 9 ≈ 170 m across). */
  async heatmap(f: StatsFilter, res = 8, category?: string): Promise<HeatCell[]> {
    this.#check(f);
    if (!Number.isInteger(res) || res < 0 || res > 15) throw new TelemetryStatsQueryError(`H3 resolution must be 0..15, got ${res}`);
    const rows = await this.#store.query<{ lat: number; lon: number; n: unknown }>(`SELECT lat, lon, count() AS n FROM events
      WHERE ${this.#ts(f)} AND ${this.#area(f)}${category ? ` AND category = ${q(category)}` : ''} GROUP BY lat, lon LIMIT 500000`);
    const counts = new Map<string, number>();
    for (const r of rows) {
      const h = latLngToCell(Number(r.lat), Number(r.lon), res);
      counts.set(h, (counts.get(h) ?? 0) + num(r.n));
    }
    return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([h3, count]) => {
      const [lat, lon] = cellToLatLng(h3);
      return { h3, count, lat, lon, boundary: cellToBoundary(h3) as [number, number][] };
    });
  }

  /**
   * The loop's assessment indicators (按时立案率, 准确派遣率, 按期处置率, 结案率, 按期结案率, 返工率,
   * 重复案件率) over the range, overall or by department, cell, street or category.
   */
  async indicators(f: StatsFilter, by?: IndicatorDimension): Promise<Indicators[]> {
    this.#check(f);
    return readIndicators(this.#store, `${this.#ts(f)} AND ${this.#area(f)}`, by);
  }

  /** Cameras by uptime over the range, worst first. */
  async cameraUptime(f: StatsFilter): Promise<CameraUptime[]> {
    this.#check(f);
    const rows = await this.#store.query<Record<string, unknown>>(`SELECT camera, sum(up_s) AS up_s, sum(total_s) AS total_s, sum(samples) AS samples,
      sum(reconnects) AS reconnects, sum(gaps) AS gaps, sum(drops) AS drops
      FROM camera_uptime_daily WHERE ${this.#days(f)} AND ${this.#cameraArea(f)} GROUP BY camera`);
    const list = rows.map((r) => ({ camera: String(r.camera), uptime: ratio(num(r.up_s), num(r.total_s)), up_s: num(r.up_s), total_s: num(r.total_s), samples: num(r.samples), reconnects: num(r.reconnects), gaps: num(r.gaps), drops: num(r.drops) }));
    return list.sort((a, b) => (a.uptime ?? 2) - (b.uptime ?? 2) || a.camera.localeCompare(b.camera));
  }

  /**
   * Per camera and zone: alerts raised, and how operators judged them. The false-positive rate is
   * dismissed / (confirmed + dismissed): the share of judged alerts that were wrong.
   */
  async detectors(f: StatsFilter): Promise<{ zones: DetectorQuality[]; dismiss_reasons: { reason: string; count: number }[] }> {
    this.#check(f);
    const rows = await this.#store.query<Record<string, unknown>>(`SELECT camera, zone, sum(raised) AS raised, sum(confirmed) AS confirmed, sum(dismissed) AS dismissed
      FROM detector_quality_daily WHERE ${this.#days(f)} AND ${this.#cameraArea(f)} GROUP BY camera, zone ORDER BY camera, zone`);
    const reasons = await this.#store.query<{ reason: string; n: unknown }>(`SELECT reason, count() AS n FROM verdicts
      WHERE verdict = 'dismissed' AND ${this.#ts(f)} AND ${this.#cameraArea(f)} GROUP BY reason ORDER BY n DESC, reason`);
    const zones = rows.map((r) => ({ camera: String(r.camera), zone: String(r.zone), raised: num(r.raised), confirmed: num(r.confirmed), dismissed: num(r.dismissed), false_positive_rate: ratio(num(r.dismissed), num(r.confirmed) + num(r.dismissed)) }));
    zones.sort((a, b) => (b.false_positive_rate ?? -1) - (a.false_positive_rate ?? -1) || a.camera.localeCompare(b.camera) || a.zone.localeCompare(b.zone));
    return { zones, dismiss_reasons: reasons.map((r) => ({ reason: r.reason, count: num(r.n) })) };
  }
}
