import { CASE_STATES, type CaseState } from '../domain/index.ts';

/**
 * The telemetry tables as the writer sees them: one TypeScript row type and one column list per
 * table written through the writer (`camera_status`, `events`, `case_transitions`, `verdicts`,
 * and the beacon tables `beacon_positions`, `beacon_reports`, `terminal_events`). The column
 * lists drive validation and encoding (JSONCompactEachRow, columns in this order); the DDL lives
 * in `migrations.ts`, and a test checks that both agree with ClickHouse. Tables that nothing
 * writes through the writer (`samples`, `detections`, the older `terminal_positions` and
 * `terminal_reports`) have no entry here.
 *
 * Times are epoch milliseconds (`number`) or `Date`. Counters in `camera_status` are deltas over
 * the sample's interval, so that sums over any window are meaningful.
 */

export type Millis = number | Date;

/** One periodic health sample of a camera session (ingest writes one per camera per interval). */
export interface CameraStatusRow {
  ts: Millis;
  node?: string;
  camera: string;
  state: 'connecting' | 'streaming' | 'stalled' | 'backoff' | 'offline' | 'stopped';
  /** seconds this sample covers; uptime = sum(interval_s where streaming) / sum(interval_s) */
  interval_s: number;
  fps: number;
  bitrate_kbps: number;
  gaps: number;
  reconnects: number;
  samples: number;
  drops: number;
}

export type EventSource = 'camera' | 'terminal' | 'hotline' | 'citizen';

/** One event as published on `gw.events.…` (the router's input). */
export interface EventRow {
  ts: Millis;
  event_id: string;
  version?: number;
  category: string;
  /** The category's codes in the national standard (CJ/T 214) and the city's own list; '' when it has none. */
  standard_code?: string;
  local_code?: string;
  source: EventSource;
  /** camera id or terminal id */
  source_id: string;
  district: string;
  street?: string;
  cell: string;
  lat: number;
  lon: number;
  class?: string;
  score?: number;
  dwell_s?: number;
  zone?: string;
  model?: string;
  model_version?: string;
  snapshot?: string;
  /** the node whose data folder holds `snapshot` */
  node?: string;
  /** the object's box in image pixels */
  box_x?: number;
  box_y?: number;
  box_w?: number;
  box_h?: number;
  community?: string;
  /** How many the violation counts (a cluster of bicycles, a crowd); 0 for one object. */
  count?: number;
}

/** A step of the closed loop as the rollups count it: the case's states, less the side states that are no step, plus `escalated`. */
/** Steps the indicators count: every state a case reaches (less invalid), plus `escalated` and `reworked` (返工: sent back after resolving). */
export type CaseStep = Exclude<CaseState, 'invalid'> | 'escalated' | 'reworked';

/**
 * One step of a case. A joint case writes one row per department. `opened_at` is when the case
 * was reported, so that a `closed` row carries its resolve time. `deadline` is the limit for this
 * step (the sign limit on `signed`, the resolve limit on `closed`); null means none.
 */
export interface CaseTransitionRow {
  ts: Millis;
  case_id: string;
  event_id?: string;
  from_state?: string;
  to_state: CaseStep;
  category: string;
  district: string;
  street?: string;
  cell: string;
  department?: string;
  actor?: string;
  opened_at: Millis;
  deadline?: Millis | null;
  /** the citizen's satisfaction, 0..1 (1 = satisfied), usually on the `closed` row */
  satisfaction?: number | null;
  note?: string;
  /** The category's codes (CJ/T 214 and the city's list); '' when it has none. */
  standard_code?: string;
  local_code?: string;
  /** On `reported`: the closed case of the same category and place this one repeats (重复案件). */
  repeat_of?: string;
}

/** An operator's verdict on an alert a camera raised. */
export interface VerdictRow {
  ts: Millis;
  event_id: string;
  case_id?: string;
  camera?: string;
  zone?: string;
  category: string;
  district?: string;
  cell?: string;
  verdict: 'confirmed' | 'dismissed';
  /** why it was dismissed: 'false_positive', 'duplicate', 'not_a_violation', … */
  reason?: string;
  operator?: string;
  model_version?: string;
}

/** One accepted terminal position, as received (`beacons/`). */
export interface BeaconPositionRow {
  terminal: string;
  /** who carried the terminal when it sent */
  worker: string;
  /** when the terminal took the fix */
  tst: Millis;
  received_at: Millis;
  source: 'gw' | 'owntracks';
  lat: number;
  lon: number;
  /** metres */
  acc?: number | null;
  /** metres */
  alt?: number | null;
  /** km/h */
  vel?: number | null;
  /** degrees */
  cog?: number | null;
  /** percent */
  batt?: number | null;
  conn?: string;
  district?: string;
  street?: string;
  community?: string;
  /** '' when the point is in no cell */
  cell?: string;
  /** 1 while the stuck-GPS flag is raised */
  stuck?: 0 | 1;
}

/** One report a worker filed from a terminal; `event_id` is the event it became. */
export interface BeaconReportRow {
  event_id: string;
  terminal: string;
  worker: string;
  tst: Millis;
  received_at: Millis;
  category: string;
  text?: string;
  lat: number;
  lon: number;
  /** district, street, community, cell */
  grid_path: readonly string[];
  evidence?: readonly string[];
}

export const TERMINAL_EVENT_KINDS = ['cell_enter', 'cell_exit', 'online', 'offline', 'inactive', 'stuck_gps', 'stuck_gps_cleared'] as const;
export type TerminalEventKind = (typeof TERMINAL_EVENT_KINDS)[number];

/** A terminal's cell change, status change or stuck-GPS flag; `at` is the fix time, or receipt time for status. */
export interface TerminalEventRow {
  terminal: string;
  at: Millis;
  kind: TerminalEventKind;
  cell: string;
  lat: number | null;
  lon: number | null;
}

export interface TableRows {
  camera_status: CameraStatusRow;
  events: EventRow;
  case_transitions: CaseTransitionRow;
  verdicts: VerdictRow;
  beacon_positions: BeaconPositionRow;
  beacon_reports: BeaconReportRow;
  terminal_events: TerminalEventRow;
}

export type TableName = keyof TableRows;

/** `strings` is Array(String). */
export type ColumnKind = 'ts' | 'string' | 'strings' | 'u8' | 'u16' | 'u32' | 'u64' | 'f32' | 'f64' | 'bool';

export interface Column {
  readonly name: string;
  readonly kind: ColumnKind;
  /** allowed values (an enum kept as LowCardinality(String)) */
  readonly values?: readonly string[];
  readonly nullable?: boolean;
  /** used when the field is absent; a column with no default is required */
  readonly default?: Value;
}

type Value = string | number | boolean | null | readonly string[];

const c = (name: string, kind: ColumnKind, more: Omit<Column, 'name' | 'kind'> = {}): Column => ({ name, kind, ...more });
const opt = (name: string, kind: ColumnKind, def: Value): Column => c(name, kind, { default: def });
const nul = (name: string, kind: ColumnKind): Column => c(name, kind, { nullable: true, default: null });

export const CAMERA_STATES = ['connecting', 'streaming', 'stalled', 'backoff', 'offline', 'stopped'] as const;
export const EVENT_SOURCES = ['camera', 'terminal', 'hotline', 'citizen'] as const;
const CASE_STEPS: readonly CaseStep[] = [...CASE_STATES.filter((st): st is Exclude<CaseState, 'invalid'> => st !== 'invalid'), 'escalated', 'reworked'];
export const VERDICTS = ['confirmed', 'dismissed'] as const;
export const BEACON_SOURCES = ['gw', 'owntracks'] as const;

export const TABLES: { readonly [T in TableName]: readonly Column[] } = {
  camera_status: [
    c('ts', 'ts'), opt('node', 'string', ''), c('camera', 'string'), c('state', 'string', { values: CAMERA_STATES }),
    c('interval_s', 'f32'), c('fps', 'f32'), c('bitrate_kbps', 'f32'),
    c('gaps', 'u32'), c('reconnects', 'u32'), c('samples', 'u32'), c('drops', 'u32'),
  ],
  events: [
    c('ts', 'ts'), c('event_id', 'string'), opt('version', 'u16', 1), c('category', 'string'), c('source', 'string', { values: EVENT_SOURCES }),
    c('source_id', 'string'), c('district', 'string'), opt('street', 'string', ''), c('cell', 'string'), c('lat', 'f64'), c('lon', 'f64'),
    opt('class', 'string', ''), opt('score', 'f32', 0), opt('dwell_s', 'f32', 0), opt('zone', 'string', ''),
    opt('model', 'string', ''), opt('model_version', 'string', ''), opt('snapshot', 'string', ''),
    opt('node', 'string', ''), opt('box_x', 'f32', 0), opt('box_y', 'f32', 0), opt('box_w', 'f32', 0), opt('box_h', 'f32', 0), opt('community', 'string', ''),
    opt('standard_code', 'string', ''), opt('local_code', 'string', ''), opt('count', 'u32', 0),
  ],
  case_transitions: [
    c('ts', 'ts'), c('case_id', 'string'), opt('event_id', 'string', ''), opt('from_state', 'string', ''), c('to_state', 'string', { values: CASE_STEPS }),
    c('category', 'string'), c('district', 'string'), opt('street', 'string', ''), c('cell', 'string'), opt('department', 'string', ''),
    opt('actor', 'string', ''), c('opened_at', 'ts'), nul('deadline', 'ts'), nul('satisfaction', 'f32'), opt('note', 'string', ''),
    opt('standard_code', 'string', ''), opt('local_code', 'string', ''), opt('repeat_of', 'string', ''),
  ],
  verdicts: [
    c('ts', 'ts'), c('event_id', 'string'), opt('case_id', 'string', ''), opt('camera', 'string', ''), opt('zone', 'string', ''),
    c('category', 'string'), opt('district', 'string', ''), opt('cell', 'string', ''), c('verdict', 'string', { values: VERDICTS }),
    opt('reason', 'string', ''), opt('operator', 'string', ''), opt('model_version', 'string', ''),
  ],
  beacon_positions: [
    c('terminal', 'string'), c('worker', 'string'), c('tst', 'ts'), c('received_at', 'ts'), c('source', 'string', { values: BEACON_SOURCES }),
    c('lat', 'f64'), c('lon', 'f64'), nul('acc', 'f32'), nul('alt', 'f32'), nul('vel', 'f32'), nul('cog', 'f32'), nul('batt', 'f32'), opt('conn', 'string', ''),
    opt('district', 'string', ''), opt('street', 'string', ''), opt('community', 'string', ''), opt('cell', 'string', ''), opt('stuck', 'u8', 0),
  ],
  beacon_reports: [
    c('event_id', 'string'), c('terminal', 'string'), c('worker', 'string'), c('tst', 'ts'), c('received_at', 'ts'), c('category', 'string'),
    opt('text', 'string', ''), c('lat', 'f64'), c('lon', 'f64'), c('grid_path', 'strings'), opt('evidence', 'strings', []),
  ],
  terminal_events: [
    c('terminal', 'string'), c('at', 'ts'), c('kind', 'string', { values: TERMINAL_EVENT_KINDS }), c('cell', 'string'), nul('lat', 'f64'), nul('lon', 'f64'),
  ],
};

export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

const RANGES: Partial<Record<ColumnKind, [number, number]>> = {
  u8: [0, 255], u16: [0, 65535], u32: [0, 4294967295], u64: [0, Number.MAX_SAFE_INTEGER],
};

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v === null) return 'null';
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : 'an object';
  return `${typeof v} ${String(v)}`;
}

/** A row that failed validation: which column, and why. */
export class RowError {
  constructor(readonly column: string, readonly reason: string) {}
  toString(): string {
    return `column ${this.column}: ${this.reason}`;
  }
}

/** Strings that JSON writes as they are (no quote, backslash, control character or lone surrogate). */
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** Milliseconds → the text DateTime64(3) parses exactly: seconds with a decimal fraction. */
function tsText(ms: number): string {
  const m = Math.round(ms);
  const f = m % 1000;
  return `"${(m - f) / 1000}.${f < 10 ? `00${f}` : f < 100 ? `0${f}` : f}"`;
}

const MAX_TS_MS = 4102444800000; // 2100-01-01

const strings = (v: unknown): v is readonly string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function encodeValue(col: Column, v: unknown): string | RowError {
  if (v === undefined) {
    if (col.default === undefined) return new RowError(col.name, 'required, missing');
    v = col.default;
  }
  if (v === null) return col.nullable ? 'null' : new RowError(col.name, 'must not be null');
  switch (col.kind) {
    case 'string':
      if (typeof v !== 'string') return new RowError(col.name, `expected a string, got ${describe(v)}`);
      if (col.values && !col.values.includes(v)) return new RowError(col.name, `expected one of ${col.values.join('|')}, got ${describe(v)}`);
      return PLAIN.test(v) ? `"${v}"` : JSON.stringify(v);
    case 'strings':
      if (!strings(v)) return new RowError(col.name, `expected an array of strings, got ${describe(v)}`);
      return JSON.stringify(v);
    case 'ts': {
      const ms = v instanceof Date ? v.getTime() : v;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_TS_MS) return new RowError(col.name, `expected epoch milliseconds or a Date, got ${describe(v)}`);
      return tsText(ms);
    }
    case 'bool':
      if (typeof v !== 'boolean' && v !== 0 && v !== 1) return new RowError(col.name, `expected a boolean, got ${describe(v)}`);
      return v === true || v === 1 ? 'true' : 'false';
    case 'f32':
    case 'f64':
      if (typeof v !== 'number' || !Number.isFinite(v)) return new RowError(col.name, `expected a finite number, got ${describe(v)}`);
      return String(v);
    default: {
      const [lo, hi] = RANGES[col.kind]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) return new RowError(col.name, `expected an integer in ${lo}..${hi} (${col.kind}), got ${describe(v)}`);
      return String(v);
    }
  }
}

/**
 * Validates one row against its table and encodes it as one JSONCompactEachRow line (with the
 * newline), or returns why it cannot be written. Unknown fields are ignored. This is the
 * reference implementation; the writer uses `compileEncoder`, which gives the same results.
 */
export function encodeRow(columns: readonly Column[], row: unknown): string | RowError {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return new RowError('*', `expected an object, got ${describe(row)}`);
  const r = row as Record<string, unknown>;
  let line = '[';
  for (let i = 0; i < columns.length; i++) {
    const col = columns[i]!;
    const v = encodeValue(col, r[col.name]);
    if (typeof v !== 'string') return v;
    line += i === 0 ? v : `,${v}`;
  }
  return `${line}]\n`;
}

export type RowEncoder = (row: unknown) => string | RowError;

/**
 * Builds, once per table, a straight-line encoder for its columns: the writer's hot path, about
 * twice as fast as the generic loop. On any doubt it defers to `encodeRow` for the exact reason.
 */
export function compileEncoder(columns: readonly Column[]): RowEncoder {
  const src: string[] = ["if (r === null || typeof r !== 'object' || Array.isArray(r)) return slow(r);", "let v; let s = '[';"];
  columns.forEach((col, i) => {
    const sep = i === 0 ? '' : ',';
    src.push(`v = r[${JSON.stringify(col.name)}];`);
    src.push(col.default === undefined ? 'if (v === undefined) return slow(r);' : `if (v === undefined) v = D[${i}];`);
    let put: string;
    switch (col.kind) {
      case 'string':
        put = `if (typeof v !== 'string'${col.values ? ` || !V[${i}].has(v)` : ''}) return slow(r); s += ${JSON.stringify(sep)} + (PLAIN.test(v) ? '"' + v + '"' : JSON.stringify(v));`;
        break;
      case 'strings':
        put = `if (!strings(v)) return slow(r); s += ${JSON.stringify(sep)} + JSON.stringify(v);`;
        break;
      case 'ts':
        put = `if (v instanceof Date) v = v.getTime(); if (typeof v !== 'number' || !(v >= 0 && v <= ${MAX_TS_MS})) return slow(r); s += ${JSON.stringify(sep)} + ts(v);`;
        break;
      case 'bool':
        put = `if (v === true || v === 1) s += ${JSON.stringify(`${sep}true`)}; else if (v === false || v === 0) s += ${JSON.stringify(`${sep}false`)}; else return slow(r);`;
        break;
      case 'f32':
      case 'f64':
        put = `if (typeof v !== 'number' || !Number.isFinite(v)) return slow(r); s += ${JSON.stringify(sep)} + v;`;
        break;
      default: {
        const [lo, hi] = RANGES[col.kind]!;
        put = `if (typeof v !== 'number' || !Number.isInteger(v) || v < ${lo} || v > ${hi}) return slow(r); s += ${JSON.stringify(sep)} + v;`;
      }
    }
    src.push(col.nullable ? `if (v === null) s += ${JSON.stringify(`${sep}null`)}; else { ${put} }` : `if (v === null) return slow(r); ${put}`);
  });
  src.push("return s + ']\\n';");
  const defaults = columns.map((c) => c.default);
  const values = columns.map((c) => (c.values ? new Set(c.values) : null));
  const slow = (r: unknown) => encodeRow(columns, r);
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const make = new Function('D', 'V', 'PLAIN', 'ts', 'strings', 'slow', `return function encode(r) {\n${src.join('\n')}\n};`);
  return make(defaults, values, PLAIN, tsText, strings, slow) as RowEncoder;
}
