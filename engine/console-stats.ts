import type { City } from '../config/index.ts';
import type { ConsoleStats, StatsQuery, StatsSource } from '../console/index.ts';
import type { TelemetryStats } from '../telemetry/index.ts';

const DAY_MS = 86_400_000;
/** The console's charts ask for at most this many days, one rollup query each. */
const MAX_DAYS = 92;

/** `YYYY-MM-DD` of an instant in a time zone. */
function localDate(ms: number, tz: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
}

/** The instant the local day holding `ms` began, in a time zone. */
function localMidnight(ms: number, tz: string): number {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(ms).map((x) => [x.type, Number(x.value)]));
  const offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - Math.floor(ms / 1000) * 1000;
  return Date.UTC(p.year!, p.month! - 1, p.day!) - offset;
}

/**
 * The console's statistics view, from the telemetry statistics API (the ClickHouse rollups):
 * closure and on-time rates, category shares, the department table, cases per day, and the
 * worker ranking with the yellow-light list. The only figure the rollups do not hold, how many
 * of a worker's reports ended closed, comes from the cases the console has seen.
 */
export class TelemetryConsoleStats implements StatsSource {
  readonly #stats: TelemetryStats;
  readonly #city: City;
  readonly #casesClosedByWorker: () => Promise<Map<string, number>>;

  constructor(stats: TelemetryStats, city: City, casesClosedByWorker: () => Promise<Map<string, number>>) {
    this.#stats = stats;
    this.#city = city;
    this.#casesClosedByWorker = casesClosedByWorker;
  }

  async stats(q: StatsQuery): Promise<ConsoleStats> {
    const f = { from_ms: q.fromMs, to_ms: q.toMs };
    const [summary, categories, departments, workers, closedBy] = await Promise.all([
      this.#stats.summary(f), this.#stats.categories(f), this.#stats.departments(f), this.#stats.workers(f), this.#casesClosedByWorker(),
    ]);
    // Whole local days, as the rollups count them: one query per day, from local midnight to the next.
    const tz = this.#city.config.city.timezone;
    const casesPerDay: ConsoleStats['casesPerDay'][number][] = [];
    let day = localMidnight(Math.max(q.fromMs, q.toMs - MAX_DAYS * DAY_MS), tz);
    while (day < q.toMs) {
      const next = localMidnight(day + DAY_MS + 3_600_000, tz); // +1 h: safe across a DST change
      const s = await this.#stats.summary({ from_ms: day, to_ms: next });
      casesPerDay.push({ day: localDate(day, tz), opened: s.created, closed: s.closed });
      day = next;
    }
    return {
      casesPerDay,
      categoryShares: categories.map((c) => ({ category: c.category, count: c.cases })),
      closureRate: summary.closure_rate ?? 0,
      onTimeSignRate: summary.on_time_sign_rate ?? 0,
      onTimeCloseRate: summary.on_time_close_rate ?? 0,
      // A department resolves; the centre verifies and closes. Its "closed" is what it resolved.
      departments: departments.map((d) => ({ department: d.department, cases: d.received, closed: d.resolved, onTimeSignRate: d.on_time_sign_rate ?? 0, onTimeCloseRate: d.on_time_close_rate ?? 0 })),
      workers: workers.workers.map((w) => ({ worker: w.worker, reports: w.reports, closed: closedBy.get(w.worker) ?? 0 })),
      yellowLight: workers.yellow_light.map((w) => w.worker),
    };
  }
}
