import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { HTTP_ERROR_SCHEMA, type HttpErrorBody } from '../core/index.ts';
import type { StatsFilter, TelemetryStats } from './stats.ts';
import { INDICATOR_DIMENSIONS } from './indicators.ts';
import { TelemetryStatsQueryError } from './errors.ts';

const Rate = Type.Union([Type.Number(), Type.Null()]);
const Range = {
  from: Type.Optional(Type.String({ description: 'ISO date or date-time, or epoch ms; 30 days before `to` when absent' })),
  to: Type.Optional(Type.String({ description: 'exclusive; now when absent' })),
  area: Type.Optional(Type.String({ description: 'an area id at any level: district, street, area, community or cell' })),
};
const RangeQuery = Type.Object(Range, { additionalProperties: false });
const LimitQuery = Type.Object({ ...Range, limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 50 })) }, { additionalProperties: false });
const HeatQuery = Type.Object({ ...Range, res: Type.Optional(Type.Integer({ minimum: 0, maximum: 15, default: 8 })), category: Type.Optional(Type.String()) }, { additionalProperties: false });

const Window = Type.Object({ from: Type.String(), to: Type.String(), area: Type.Union([Type.String(), Type.Null()]) });
const Counts = {
  created: Type.Number(), dispatched: Type.Number(), signed: Type.Number(), signed_on_time: Type.Number(), resolved: Type.Number(),
  resolved_on_time: Type.Number(), closed: Type.Number(), closed_on_time: Type.Number(), escalated: Type.Number(),
};
const SummaryReply = Type.Object({
  window: Window, ...Counts, closure_rate: Rate, on_time_sign_rate: Rate, on_time_close_rate: Rate,
  mean_resolve_s: Rate, satisfaction: Rate, satisfaction_n: Type.Number(),
});
const CategoriesReply = Type.Object({ window: Window, categories: Type.Array(Type.Object({ category: Type.String(), cases: Type.Number(), share: Type.Number() })) });
const CellsReply = Type.Object({ window: Window, cells: Type.Array(Type.Object({ rank: Type.Number(), cell: Type.String(), created: Type.Number(), closed: Type.Number(), closure_rate: Rate, on_time_close_rate: Rate })) });
const DepartmentsReply = Type.Object({
  window: Window,
  departments: Type.Array(Type.Object({
    rank: Type.Number(), department: Type.String(), received: Type.Number(), signed: Type.Number(), resolved: Type.Number(),
    closure_rate: Rate, on_time_sign_rate: Rate, on_time_close_rate: Rate, satisfaction: Rate, mean_resolve_s: Rate,
  })),
});
const Worker = Type.Object({ rank: Type.Number(), worker: Type.String(), reports: Type.Number(), online_s: Type.Number(), distance_m: Type.Number() });
const WorkersReply = Type.Object({ window: Window, workers: Type.Array(Worker), yellow_light: Type.Array(Worker) });
const HeatmapReply = Type.Object({
  window: Window, res: Type.Number(),
  cells: Type.Array(Type.Object({ h3: Type.String(), count: Type.Number(), lat: Type.Number(), lon: Type.Number(), boundary: Type.Array(Type.Array(Type.Number())) })),
});
const UptimeReply = Type.Object({
  window: Window,
  cameras: Type.Array(Type.Object({ camera: Type.String(), uptime: Rate, up_s: Type.Number(), total_s: Type.Number(), samples: Type.Number(), reconnects: Type.Number(), gaps: Type.Number(), drops: Type.Number() })),
});
const DetectorsReply = Type.Object({
  window: Window,
  zones: Type.Array(Type.Object({ camera: Type.String(), zone: Type.String(), raised: Type.Number(), confirmed: Type.Number(), dismissed: Type.Number(), false_positive_rate: Rate })),
  dismiss_reasons: Type.Array(Type.Object({ reason: Type.String(), count: Type.Number() })),
});
const IndicatorsQuery = Type.Object({ ...Range, by: Type.Optional(Type.Enum([...INDICATOR_DIMENSIONS])) }, { additionalProperties: false });
const IndicatorsReply = Type.Object({
  window: Window, by: Type.Union([Type.String(), Type.Null()]),
  indicators: Type.Array(Type.Object({
    key: Type.String(), reported: Type.Number(), repeats: Type.Number(), filed: Type.Number(), filed_on_time: Type.Number(), dispatched: Type.Number(), returned: Type.Number(),
    resolved: Type.Number(), resolved_on_time: Type.Number(), closed: Type.Number(), closed_on_time: Type.Number(), reworked: Type.Number(),
    on_time_filing_rate: Rate, accurate_dispatch_rate: Rate, on_time_handling_rate: Rate, closure_rate: Rate, on_time_closure_rate: Rate, rework_rate: Rate, repeat_rate: Rate,
  })),
});
const ErrorReply = Type.Unsafe<HttpErrorBody>(HTTP_ERROR_SCHEMA);

const DAY_MS = 86_400_000;
/** The longest window a statistics request may ask for: a year and a month, for year-on-year views. */
export const MAX_WINDOW_DAYS = 400;

function parseTime(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms)) throw new TelemetryStatsQueryError(`${name}: cannot read "${v}" as a date, a date-time or epoch milliseconds`);
  return ms;
}

function filterOf(query: Static<typeof RangeQuery>): StatsFilter {
  const to = parseTime(query.to, 'to') ?? Date.now();
  const from = parseTime(query.from, 'from') ?? to - 30 * DAY_MS;
  // Bounded, so that one request cannot make chdb scan years of rows.
  if (to - from > MAX_WINDOW_DAYS * DAY_MS) throw new TelemetryStatsQueryError(`from–to spans ${Math.round((to - from) / DAY_MS)} days; ask for at most ${MAX_WINDOW_DAYS}`);
  if (to < from) throw new TelemetryStatsQueryError('to is before from');
  return { from_ms: from, to_ms: to, area: query.area || undefined };
}

const windowOf = (f: StatsFilter) => ({ from: new Date(f.from_ms).toISOString(), to: new Date(f.to_ms).toISOString(), area: f.area ?? null });

/**
 * The statistics API under `/api/stats`, for the console: every route takes `from`, `to` (at most
 * `MAX_WINDOW_DAYS` apart) and `area`, and answers typed JSON, to callers that `guard` lets through. Errors go to the server's error handler (core/http-error.ts):
 * a bad parameter answers 400 (`TELEMETRY_STATS_QUERY`, or `BAD_REQUEST` from the schema), a
 * failed ClickHouse query 503 (`TELEMETRY_QUERY`), each with the one error body.
 */
export function registerStatsRoutes(app: FastifyInstance, stats: TelemetryStats, opts: { guard: preHandlerAsyncHookHandler; prefix?: string }): void {
  app.register(async (scope) => {
    // Who may read: the caller decides (the engine: a console session with `stats`, or the ops token).
    scope.addHook('preHandler', opts.guard);
    statsPlugin(scope, stats);
  }, { prefix: opts.prefix ?? '/api/stats' });
}

function statsPlugin(app: FastifyInstance, stats: TelemetryStats): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const err400 = { 400: ErrorReply };
  const prefix = '';

  r.get(`${prefix}/summary`, { schema: { querystring: RangeQuery, response: { 200: SummaryReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), ...(await stats.summary(f)) };
  });
  r.get(`${prefix}/categories`, { schema: { querystring: RangeQuery, response: { 200: CategoriesReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), categories: await stats.categories(f) };
  });
  r.get(`${prefix}/rankings/cells`, { schema: { querystring: LimitQuery, response: { 200: CellsReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), cells: await stats.cells(f, req.query.limit ?? 50) };
  });
  r.get(`${prefix}/rankings/departments`, { schema: { querystring: RangeQuery, response: { 200: DepartmentsReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), departments: await stats.departments(f) };
  });
  r.get(`${prefix}/indicators`, { schema: { querystring: IndicatorsQuery, response: { 200: IndicatorsReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), by: req.query.by ?? null, indicators: await stats.indicators(f, req.query.by) };
  });
  r.get(`${prefix}/rankings/workers`, { schema: { querystring: RangeQuery, response: { 200: WorkersReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), ...(await stats.workers(f)) };
  });
  r.get(`${prefix}/heatmap`, { schema: { querystring: HeatQuery, response: { 200: HeatmapReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    const res = req.query.res ?? 8;
    return { window: windowOf(f), res, cells: await stats.heatmap(f, res, req.query.category) };
  });
  r.get(`${prefix}/cameras/uptime`, { schema: { querystring: RangeQuery, response: { 200: UptimeReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), cameras: await stats.cameraUptime(f) };
  });
  r.get(`${prefix}/detectors`, { schema: { querystring: RangeQuery, response: { 200: DetectorsReply, ...err400 } } }, async (req) => {
    const f = filterOf(req.query);
    return { window: windowOf(f), ...(await stats.detectors(f)) };
  });
}
