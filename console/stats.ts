import type { City } from '../config/index.ts';
import type { ConsoleCase, ConsoleStats, StatsQuery, StatsSource } from './types.ts';

/**
 * Statistics computed from the cases the console has seen: the fallback `StatsSource` until the
 * telemetry statistics API (ClickHouse rollups) is wired in its place. Same shapes, same meaning.
 */
export class CaseStats implements StatsSource {
  readonly #cases: () => Iterable<ConsoleCase>;
  readonly #city: City;

  constructor(city: City, cases: () => Iterable<ConsoleCase>) {
    this.#city = city;
    this.#cases = cases;
  }

  async stats(q: StatsQuery): Promise<ConsoleStats> {
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const days = new Map<string, { day: string; opened: number; closed: number }>();
    for (let t = Date.parse(day(q.fromMs)); t <= q.toMs; t += 86_400_000) days.set(day(t), { day: day(t), opened: 0, closed: 0 });
    const cats = new Map<string, number>();
    const depts = new Map<string, { department: string; cases: number; closed: number; signed: number; signedOnTime: number; closedOnTime: number }>();
    const workers = new Map<string, { worker: string; reports: number; closed: number }>();
    for (const t of this.#city.terminals.values()) workers.set(t.worker, { worker: t.worker, reports: 0, closed: 0 });
    let total = 0, closed = 0, signed = 0, signedOnTime = 0, closedOnTime = 0;
    for (const c of this.#cases()) {
      if (c.createdAt < q.fromMs || c.createdAt > q.toMs || c.state === 'invalid') continue;
      total++;
      days.get(day(c.createdAt)) && days.get(day(c.createdAt))!.opened++;
      cats.set(c.category, (cats.get(c.category) ?? 0) + 1);
      const signStep = c.timeline.find((s) => s.state === 'signed');
      const doneStep = c.timeline.find((s) => s.state === 'resolved');
      const isClosed = c.state === 'closed';
      const sOnTime = !!signStep && (c.signDeadline === undefined || signStep.ts <= c.signDeadline);
      const cOnTime = !!doneStep && (c.resolveDeadline === undefined || doneStep.ts <= c.resolveDeadline);
      if (isClosed) {
        closed++;
        const closeStep = [...c.timeline].reverse().find((s) => s.state === "closed");
        if (closeStep) days.get(day(closeStep.ts)) && days.get(day(closeStep.ts))!.closed++;
      }
      if (signStep) signed++;
      if (sOnTime) signedOnTime++;
      if (isClosed && cOnTime) closedOnTime++;
      for (const d of c.departments) {
        let r = depts.get(d);
        if (!r) depts.set(d, (r = { department: d, cases: 0, closed: 0, signed: 0, signedOnTime: 0, closedOnTime: 0 }));
        r.cases++;
        if (isClosed) r.closed++;
        if (signStep) r.signed++;
        if (sOnTime) r.signedOnTime++;
        if (isClosed && cOnTime) r.closedOnTime++;
      }
      if (c.reporter) {
        let w = workers.get(c.reporter);
        if (!w) workers.set(c.reporter, (w = { worker: c.reporter, reports: 0, closed: 0 }));
        w.reports++;
        if (isClosed) w.closed++;
      }
    }
    const rate = (a: number, b: number) => (b === 0 ? 0 : a / b);
    const ranking = [...workers.values()].filter((w) => !w.worker.startsWith('camera ')).sort((a, b) => b.reports - a.reports || b.closed - a.closed || a.worker.localeCompare(b.worker));
    return {
      casesPerDay: [...days.values()],
      categoryShares: [...cats].map(([category, count]) => ({ category, count })).sort((a, b) => b.count - a.count),
      closureRate: rate(closed, total),
      onTimeSignRate: rate(signedOnTime, signed),
      onTimeCloseRate: rate(closedOnTime, closed),
      departments: [...depts.values()].map((d) => ({ department: d.department, cases: d.cases, closed: d.closed, onTimeSignRate: rate(d.signedOnTime, d.signed), onTimeCloseRate: rate(d.closedOnTime, d.closed) })),
      workers: ranking.slice(0, 20),
      yellowLight: ranking.length > 10 ? ranking.slice(-10).map((w) => w.worker) : [],
    };
  }
}
