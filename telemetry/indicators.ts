import type { TelemetryStore } from './store.ts';
import { TelemetryStatsQueryError } from './errors.ts';

/** What the indicators can be broken down by. */
export const INDICATOR_DIMENSIONS = ['department', 'cell', 'street', 'category'] as const;
export type IndicatorDimension = (typeof INDICATOR_DIMENSIONS)[number];

/**
 * The assessment indicators of GB/T 30428's seven-step loop, over a period, from the
 * `case_transitions` rows (docs/telemetry.md has each definition). Counts are of steps in the
 * period; rates are null when their denominator is zero.
 */
export interface Indicators {
  /** the department, cell, street or category; `all` without a breakdown */
  key: string;
  reported: number; repeats: number;
  filed: number; filed_on_time: number;
  dispatched: number; returned: number;
  resolved: number; resolved_on_time: number;
  closed: number; closed_on_time: number;
  reworked: number;
  /** 按时立案率: filed within `file_within_s` of the report / filed */
  on_time_filing_rate: number | null;
  /** 准确派遣率: dispatches not returned by the department / dispatches */
  accurate_dispatch_rate: number | null;
  /** 按期处置率: resolved within the handling limit / resolved */
  on_time_handling_rate: number | null;
  /** 结案率: closed / filed */
  closure_rate: number | null;
  /** 按期结案率: closed within the whole loop's limit / closed */
  on_time_closure_rate: number | null;
  /** 返工率: sent back after resolving / verifications (closed + sent back) */
  rework_rate: number | null;
  /** 重复案件率: reported within `repeat_window_s` after a closed case of the same category nearby / reported */
  repeat_rate: number | null;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const onTime = (state: string) => `countIf(to_state = '${state}' AND (deadline IS NULL OR ts <= deadline))`;

/**
 * Reads the indicators. `where` is the time and area condition (from `TelemetryStats`). Reports
 * and repeats are counted per case, under the department that received it (its filing or
 * dispatch row), since a report has none yet; the other steps under the row's own key.
 */
export async function readIndicators(store: Pick<TelemetryStore, 'query'>, where: string, by?: IndicatorDimension): Promise<Indicators[]> {
  if (by !== undefined && !INDICATOR_DIMENSIONS.includes(by)) throw new TelemetryStatsQueryError(`by must be one of ${INDICATOR_DIMENSIONS.join(', ')}; got ${by}`);
  const key = by ?? "'all'";
  const steps = await store.query<Record<string, unknown>>(`SELECT ${key} AS key,
      countIf(to_state = 'filed') AS filed, ${onTime('filed')} AS filed_on_time,
      countIf(to_state = 'dispatched') AS dispatched, countIf(to_state = 'returned') AS returned,
      countIf(to_state = 'resolved') AS resolved, ${onTime('resolved')} AS resolved_on_time,
      countIf(to_state = 'closed') AS closed, ${onTime('closed')} AS closed_on_time,
      countIf(to_state = 'reworked') AS reworked
    FROM case_transitions WHERE ${where} AND to_state != 'reported' GROUP BY key`);
  const caseKey = by === 'department' ? "anyIf(department, to_state IN ('filed', 'dispatched'))" : by ? `any(${by})` : "'all'";
  const reports = await store.query<Record<string, unknown>>(`SELECT key, count() AS reported, countIf(repeat_of != '') AS repeats FROM (
      SELECT case_id, ${caseKey} AS key, anyIf(repeat_of, to_state = 'reported') AS repeat_of, countIf(to_state = 'reported') AS n
      FROM case_transitions WHERE ${where} GROUP BY case_id HAVING n > 0
    ) GROUP BY key`);
  const rows = new Map<string, Indicators>();
  const get = (k: string): Indicators => {
    let r = rows.get(k);
    if (!r) rows.set(k, (r = { key: k, reported: 0, repeats: 0, filed: 0, filed_on_time: 0, dispatched: 0, returned: 0, resolved: 0, resolved_on_time: 0, closed: 0, closed_on_time: 0, reworked: 0, on_time_filing_rate: null, accurate_dispatch_rate: null, on_time_handling_rate: null, closure_rate: null, on_time_closure_rate: null, rework_rate: null, repeat_rate: null }));
    return r;
  };
  for (const s of steps) {
    const r = get(String(s.key));
    for (const f of ['filed', 'filed_on_time', 'dispatched', 'returned', 'resolved', 'resolved_on_time', 'closed', 'closed_on_time', 'reworked'] as const) r[f] = num(s[f]);
  }
  for (const s of reports) Object.assign(get(String(s.key)), { reported: num(s.reported), repeats: num(s.repeats) });
  for (const r of rows.values()) {
    r.on_time_filing_rate = ratio(r.filed_on_time, r.filed);
    r.accurate_dispatch_rate = r.dispatched > 0 ? Math.max(0, r.dispatched - r.returned) / r.dispatched : null;
    r.on_time_handling_rate = ratio(r.resolved_on_time, r.resolved);
    r.closure_rate = ratio(r.closed, r.filed);
    r.on_time_closure_rate = ratio(r.closed_on_time, r.closed);
    r.rework_rate = ratio(r.reworked, r.closed + r.reworked);
    r.repeat_rate = ratio(r.repeats, r.reported);
  }
  return [...rows.values()].filter((r) => !(by && r.key === '')).sort((a, b) => a.key.localeCompare(b.key));
}
