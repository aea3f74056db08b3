import { createHash } from 'node:crypto';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { City } from '../config/index.ts';
import type { Counter, Histogram, Logger } from '../core/index.ts';
import { EVENTS_STREAM } from '../bus/index.ts';
import { applyAction, categoryCodes, newCase, parseEvent, reportOf, type GridEventT } from '../domain/index.ts';
import type { Activity } from './activity.ts';
import { deadlineAfter, slaPolicy } from './deadlines.ts';
import { keepClosedMs } from './retention.ts';
import type { RoutingTable } from './rules.ts';
import type { CaseStore } from './store.ts';
import type { CaseView } from './view.ts';
import type { CaseWriter, Effect } from './writer.ts';
import type { Dismissals } from './dismissals.ts';

/** Deterministic case id for the event that opens it, so that a retry after a crash finds it. */
export function caseIdFor(eventId: string, at: string, department?: string): string {
  const h = createHash('sha256').update(eventId).digest('hex').slice(0, 12);
  const day = at.slice(0, 10).replace(/-/g, '');
  return `C${day}-${h}${department ? `-${department.replace(/[^A-Za-z0-9_-]/g, '_')}` : ''}`;
}

export interface IntakeMetrics {
  readonly events: Counter<'outcome'>;
  readonly latency: Histogram<string>;
}

export interface IntakeDeps {
  readonly city: City;
  readonly table: RoutingTable;
  readonly store: CaseStore;
  readonly view: CaseView;
  readonly writer: CaseWriter;
  readonly activity: Activity;
  readonly log: Logger;
  /** Operators' dismissals: a dismissed event's case is made invalid, never dispatched. */
  readonly dismissals: Dismissals;
  /** The durable consumer on the events stream. */
  readonly durable: string;
  readonly metrics: IntakeMetrics | null;
  /** Whether `term` is still this instance's active term: a consumer of an earlier one stops. */
  readonly current: (term: number) => boolean;
}

/**
 * Event intake: consumes the events stream through the durable consumer, and turns each event
 * into a new case per department (joint cases when several rules match) or a report added to the
 * open case nearby. An event is acked only after its case write and its effects; a redelivered
 * one finds its case and publishes its effects again (JetStream drops them as duplicates).
 */
export class Intake {
  readonly #city: City;
  readonly #table: RoutingTable;
  readonly #store: CaseStore;
  readonly #view: CaseView;
  readonly #writer: CaseWriter;
  readonly #dismissals: Dismissals;
  readonly #activity: Activity;
  readonly #log: Logger;
  readonly #durable: string;
  readonly #m: IntakeMetrics | null;
  readonly #current: (term: number) => boolean;
  readonly #keepClosedMs: number;
  /** `category|street` → the tail of the grouping decisions for that place. */
  readonly #chains = new Map<string, Promise<void>>();
  #messages: ConsumerMessages | null = null;

  constructor(deps: IntakeDeps) {
    this.#city = deps.city;
    this.#table = deps.table;
    this.#store = deps.store;
    this.#view = deps.view;
    this.#writer = deps.writer;
    this.#dismissals = deps.dismissals;
    this.#activity = deps.activity;
    this.#log = deps.log;
    this.#durable = deps.durable;
    this.#m = deps.metrics;
    this.#current = deps.current;
    this.#keepClosedMs = keepClosedMs(deps.city);
  }

  /**
   * Reads events from the durable consumer; when the iterator ends while this term runs (the
   * server went away, the consumer was deleted), it is set up again after a second.
   */
  async consume(term: number): Promise<void> {
    const consumer = await this.#store.js.consumers.get(EVENTS_STREAM, this.#durable);
    const messages = await consumer.consume({ max_messages: 1000 });
    if (!this.#current(term)) return void (await messages.close().catch(() => undefined));
    this.#messages = messages;
    const current = () => this.#current(term);
    void (async () => {
      try {
        for await (const m of messages) this.#onEventMsg(m);
      } catch (err) {
        this.#activity.fail((err as Error).message);
      }
      if (!current()) return;
      this.#log.warn({ err: this.#activity.lastError }, 'event consumer ended; setting it up again');
      for (let attempt = 1; current(); attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        if (!current()) return;
        try {
          await this.#store.ensureEventsConsumer(this.#durable);
          await this.consume(term);
          this.#activity.recover();
          return;
        } catch (err) {
          this.#activity.fail(`event consumer: ${(err as Error).message}`);
        }
      }
    })();
  }

  /** Stops taking events; those taken go on (the facade waits for them). */
  async close(): Promise<void> {
    await this.#messages?.close().catch(() => undefined);
    this.#messages = null;
  }

  #onEventMsg(m: JsMsg): void {
    let e: GridEventT;
    try {
      e = parseEvent(m.data, m.subject);
    } catch (err) {
      this.#m?.events.inc({ outcome: 'invalid' });
      this.#log.warn({ subject: m.subject, err: (err as Error).message }, 'dropped an invalid event');
      m.term();
      return;
    }
    // An event from a publisher that did not give its category's codes gets them from the city.
    if (e.standard_code === undefined && e.local_code === undefined) e = { ...e, ...categoryCodes(this.#city, e.category) };
    // A publisher that left the grid path out gets it from lat/lon.
    if (e.place.path.length === 0) {
      const hit = this.#city.grid.locate(e.place.lat, e.place.lon);
      if (hit) e = { ...e, place: { ...e.place, path: [...hit.path] } };
    }
    // One chain per category and street: grouping decisions for one place are never concurrent.
    const key = `${e.category}|${e.place.path[1] ?? '_'}`;
    this.#activity.begin();
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const effects: Effect[] = [];
    // The chain holds only the decision and the KV write; effects and the ack follow outside it.
    const storedMs = m.info.timestampNanos / 1e6;
    // A dismissal that came while the case was being written: the case ends invalid right after.
    const next = prev.then(() => this.#ingest(e, effects, storedMs)).then(async () => { if (this.#dismissals.get(e.id)) await this.#dismissals.reconcile(e.id); });
    next.then(
      async () => {
        for (const f of effects) await f();
        m.ack();
      },
      (err) => {
        this.#activity.fail((err as Error).message);
        this.#log.error({ event: e.id, err: this.#activity.lastError }, 'event not processed; it will be redelivered');
        m.nak(1000);
      },
    ).catch((err) => {
      this.#activity.fail((err as Error).message);
      this.#log.error({ event: e.id, err: this.#activity.lastError }, 'event effects not published; it will be redelivered');
      m.nak(1000);
    }).finally(() => {
      this.#activity.end();
    });
    const tail = next.catch(() => undefined);
    this.#chains.set(key, tail);
    void tail.then(() => { if (this.#chains.get(key) === tail) this.#chains.delete(key); });
  }

  async #ingest(e: GridEventT, fx: Effect[], storedMs?: number): Promise<void> {
    const t0 = performance.now();
    const known = this.#view.casesOfEvent(e.id);
    if (known.length > 0) {
      // A redelivery: finish what an interrupted attempt started, re-emitting its effects (deduplicated).
      const first = this.#view.entry(known[0]!)!.record;
      if (first.history[0]?.event_id === e.id) await this.#createCases(e, fx);
      else await this.#mergeInto(first.joint, e, fx);
      this.#m?.events.inc({ outcome: 'duplicate' });
      return;
    }
    // Stored in the stream longer ago than case retention: its case, if it had one, may already be
    // gone, so it must not open one again (a consumer replaying the events stream, with
    // keep_closed_days under the stream's max age). A late event newly published still counts.
    if (storedMs !== undefined && Date.now() - storedMs > this.#keepClosedMs) {
      this.#m?.events.inc({ outcome: 'stale' });
      this.#log.warn({ event: e.id, stored_at: new Date(storedMs).toISOString(), keep_closed_days: this.#keepClosedMs / 86_400_000 }, 'event stored longer ago than routing.keep_closed_days: no case opened');
      return;
    }
    const target = this.#view.findOpenCase(e);
    if (target) {
      await this.#mergeInto(target.joint, e, fx);
      this.#m?.events.inc({ outcome: 'merged' });
    } else {
      await this.#createCases(e, fx);
      this.#m?.events.inc({ outcome: 'new_case' });
      fx.push(async () => void this.#m?.latency.observe((performance.now() - t0) / 1000));
    }
  }

  /** One case per department the rules name, linked by `joint`; an existing one (a retry) is kept. */
  async #createCases(e: GridEventT, fx: Effect[]): Promise<void> {
    const decision = this.#table.route(e.category, e.place.path, new Date(e.confirmed_at));
    const depts = decision.departments;
    const ids = depts.map((d) => caseIdFor(e.id, e.confirmed_at, depts.length > 1 ? d : undefined));
    const rules = decision.matches.map((m) => m.rule);
    const at = new Date();
    // Filed at once (and dispatched by the rules) when the category files this source's cases by
    // itself; otherwise the case waits, reported, for the supervision centre to file or reject it.
    const auto = this.#city.categories.get(e.category)?.auto_file.includes(e.source.kind) ?? true;
    const repeated = this.#view.findRepeated(e, this.#city.config.routing.repeat_window_s * 1000);
    // An operator dismissed the alert before its event came (on this node or another): the case is
    // made invalid, not dispatched.
    const dismissed = await this.#dismissals.lookup(e.id);
    await Promise.all(depts.map(async (dept, i) => {
      const id = ids[i]!;
      let entry = this.#view.entry(id) ?? null;
      if (!entry) {
        const policy = slaPolicy(this.#city, e.category, dept);
        let c = newCase(id, ids, e, dept, rules.length ? rules : ['default'], policy.id, at);
        if (repeated) c = { ...c, repeat_of: repeated.id };
        if (dismissed) {
          const out = applyAction(c, { action: 'invalidate', actor: dismissed.actor, at, reason: `alert dismissed: ${dismissed.reason}`, event_id: e.id });
          if (!out.ok) throw new Error(out.reason);
          c = out.record;
        } else if (auto) {
          const why = decision.isDefault ? `no rule matched; default department ${dept}` : `rules ${rules.join(', ')}`;
          const out = applyAction(c, { action: 'dispatch', actor: 'router', at, department: dept, reason: why, event_id: e.id, deadline: { kind: 'sign', at: deadlineAfter(at, policy.sign_within_s) } });
          if (!out.ok) throw new Error(out.reason);
          c = out.record;
        }
        entry = await this.#writer.create(c);
      }
      const { record, revision } = entry;
      for (const t of record.history) if (t.event_id === e.id) fx.push(() => this.#writer.emit(record, t, revision));
    }));
  }

  async #mergeInto(ids: readonly string[], e: GridEventT, fx: Effect[]): Promise<void> {
    const report = reportOf(e);
    await Promise.all(ids.map(async (id) => {
      const held = this.#view.entry(id);
      const cur = held?.record;
      if (cur && cur.reports.some((r) => r.event_id === e.id)) {
        const revision = held!.revision;
        for (const t of cur.history) if (t.event_id === e.id) fx.push(() => this.#writer.emit(cur, t, revision));
        return;
      }
      await this.#writer.mutate(id, (c) => (c.reports.some((r) => r.event_id === e.id) ? [] : [{ action: 'add_report', actor: `${e.source.kind}:${e.source.id}`, at: new Date(), event_id: e.id, report }]), { effects: fx });
    }));
  }
}
