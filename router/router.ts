import { createHash } from 'node:crypto';
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { KvWatchInclude, type KvWatchEntry } from '@nats-io/kv';
import type { Msg, NatsConnection, QueuedIterator, Subscription } from '@nats-io/transport-node';
import { haversineM, type City, type SlaPolicyT } from '../config/index.ts';
import { Counter, Histogram, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';
import { EVENTS_STREAM, parseEvent, publishEvent, type GridEventT } from '../bus/index.ts';
import { applyAction, newCase, reportOf, refusal, OPEN_STATES, type ActionInput, type CaseAction, type CaseRecord, type EscalationLevel, type Transition } from './case.ts';
import { CaseActionError, RouterStartError } from './errors.ts';
import { RoutingTable } from './rules.ts';
import { CaseStore, isCasConflict, type Entry } from './store.ts';

export interface CaseRouterOptions {
  readonly city: City;
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly metrics?: Registry;
  /** The durable consumer on the events stream; routers sharing it share the work. */
  readonly durable?: string;
  /** How often deadlines are checked. */
  readonly tickMs?: number;
  /** Copies of the router's streams and case bucket on a NATS cluster. */
  readonly replicas?: number;
}

/** An action a dispatch system or an operator asks for. */
export interface CaseActionRequest {
  readonly action: CaseAction;
  readonly actor: string;
  readonly reason?: string;
  readonly result?: string;
  readonly rating?: number;
  /** For acks: the department that sends it; it must hold the case. */
  readonly department?: string;
  /** For `dispatch`/`transfer` by an operator: where it goes. */
  readonly to_department?: string;
  /** The revision the caller saw; another one means someone changed the case first. */
  readonly revision?: number;
}

export interface CaseFilter {
  readonly ids?: readonly string[];
  readonly category?: string;
  readonly state?: string;
  readonly open?: boolean;
  readonly department?: string;
  readonly area?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly limit?: number;
}

type Effect = () => Promise<void>;

const ACK_ACTIONS: ReadonlySet<string> = new Set(['sign', 'progress', 'resolve', 'return']);
const CONSOLE_ACTIONS: ReadonlySet<string> = new Set(['dispatch', 'return', 'escalate', 'close', 'reopen', 'invalidate', 'transfer']);

/** The most time between two sweeps for closed cases past their retention. */
const SWEEP_EVERY_MS = 600_000;

/** Names one write of one transition, so that its writer knows it as its own when it comes back. */
const authorKey = (id: string, t: Transition) => `${id}:${t.seq}:${t.at}:${t.action}`;

/** Deterministic case id for the event that opens it, so that a retry after a crash finds it. */
export function caseIdFor(eventId: string, at: string, department?: string): string {
  const h = createHash('sha256').update(eventId).digest('hex').slice(0, 12);
  const day = at.slice(0, 10).replace(/-/g, '');
  return `C${day}-${h}${department ? `-${department.replace(/[^A-Za-z0-9_-]/g, '_')}` : ''}`;
}

/**
 * Events → cases → departments. Consumes events through a durable consumer, groups repeats into
 * open cases, routes by the responsibility list, keeps every case in KV (compare-and-set only),
 * publishes dispatch orders, answers acks, and fires deadlines, including ones that passed while
 * it was down. A message is acked only after its case write, so a SIGKILL loses nothing; the
 * deterministic case ids and msg ids make the redelivery a no-op.
 *
 * Several nodes may run a router on one NATS: `open()` gives each a live, read-only view of every
 * case (a KV watch feeds the same map and fires the same transition listeners), and `lead()` /
 * `follow()` switch the one active instance (cluster Leadership) between consuming events,
 * answering acks and firing deadlines, and standing by. `start()` is `open()` then `lead()`.
 */
export class CaseRouter {
  readonly city: City;
  readonly table: RoutingTable;
  readonly store: CaseStore;
  readonly #nc: NatsConnection;
  readonly #log: Logger;
  readonly #durable: string;
  readonly #tickMs: number;
  readonly #replicas: number | undefined;
  readonly #cases = new Map<string, Entry>();
  readonly #byEvent = new Map<string, string[]>();
  readonly #buckets = new Map<string, Set<string>>();
  readonly #chains = new Map<string, Promise<void>>();
  readonly #firing = new Set<string>();
  readonly #listeners = new Set<(c: CaseRecord, t: Transition, local: boolean) => void>();
  readonly #removeListeners = new Set<(id: string) => void>();
  /** Case id → deadline in epoch ms, for the open cases that have one. */
  readonly #deadlines = new Map<string, number>();
  readonly #radiusM: number;
  /** Closed and invalid cases are removed this long after their last step. */
  readonly #keepClosedMs: number;
  #lastSweepAt = Date.now();
  #sweeping = false;
  readonly #windowMs: number;
  readonly #cellDeg: number;
  #messages: ConsumerMessages | null = null;
  #acks: Subscription | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** `running` is the active instance; `standby` keeps the view of the cases only. */
  #state: 'idle' | 'standby' | 'running' | 'stopped' = 'idle';
  /** Bumped on every lead/follow, so that a consumer loop of an earlier term stops by itself. */
  #term = 0;
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  /** The latest KV revision the watch delivered, to resume it without a gap. */
  #watchRevision = 0;
  /** Transitions this instance is writing (`id:seq:at:action`): listeners learn they are its own. */
  readonly #authored = new Set<string>();
  #inflight = 0;
  #lastErrorText = '';
  #lastErrorAt = 0;
  readonly #m: { events: Counter<'outcome'>; transitions: Counter<'action'>; acks: Counter<'outcome'>; latency: Histogram<string> } | null;

  constructor(opts: CaseRouterOptions) {
    this.city = opts.city;
    this.#nc = opts.nc;
    this.#log = opts.log;
    this.#durable = opts.durable ?? 'gw-router';
    this.#tickMs = opts.tickMs ?? 250;
    this.#replicas = opts.replicas;
    this.table = new RoutingTable(opts.city);
    this.store = new CaseStore(opts.nc);
    const r = opts.city.config.routing;
    this.#keepClosedMs = r.keep_closed_days * 86_400_000;
    this.#radiusM = r.merge_radius_m;
    this.#windowMs = r.merge_window_s * 1000;
    this.#cellDeg = Math.max(r.merge_radius_m, 1) / 111_000 * 1.5;
    const reg = opts.metrics;
    this.#m = reg ? {
      events: new Counter({ name: 'gridwatch_router_events_total', help: 'Events the router took, by outcome (new_case, merged, duplicate, invalid, stale)', labelNames: ['outcome'], registers: [reg] }),
      transitions: new Counter({ name: 'gridwatch_router_transitions_total', help: 'Case transitions written', labelNames: ['action'], registers: [reg] }),
      acks: new Counter({ name: 'gridwatch_router_acks_total', help: 'Acks from dispatch systems, by outcome', labelNames: ['outcome'], registers: [reg] }),
      latency: new Histogram({ name: 'gridwatch_router_event_seconds', help: 'Event delivery to dispatch order published', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [reg] }),
    } : null;
  }

  /** Opens the view and becomes the active instance at once: a router alone. */
  async start(): Promise<void> {
    await this.open();
    await this.lead();
  }

  /**
   * Sets up the streams and the bucket, and keeps every case in memory from KV: the watch starts
   * first and the full read follows, so that nothing written in between is missed.
   */
  async open(): Promise<void> {
    if (this.#state !== 'idle') return;
    try {
      await this.store.open([...this.city.departments.keys()], { replicas: this.#replicas });
      await this.#startWatch(0);
    } catch (err) {
      throw new RouterStartError(`cannot set up the router's streams, consumers and KV bucket: ${(err as Error).message}`, err);
    }
    for (const e of await this.store.all()) this.#apply(e, false);
    this.#state = 'standby';
  }

  /**
   * The active instance: consumes events from the durable consumer (where the previous one left
   * off; unacked events come again), answers acks, fires deadlines, including those that passed
   * while no instance was active.
   */
  async lead(): Promise<void> {
    if (this.#state !== 'standby') return;
    const term = ++this.#term;
    try {
      await this.store.ensureEventsConsumer(this.#durable);
    } catch (err) {
      throw new RouterStartError(`cannot set up the router's events consumer: ${(err as Error).message}`, err);
    }
    if (term !== this.#term) return;
    // Catch up with what the watch may not have delivered yet; those cases are news here.
    for (const e of await this.store.all()) this.#apply(e, true);
    if (term !== this.#term) return;
    await this.#completeEffects();
    if (term !== this.#term) return;
    this.#acks = this.#nc.subscribe('gw.dispatch.ack.*', { queue: 'gw-router', callback: (err, msg) => { if (!err) void this.#onAck(msg); } });
    this.#state = 'running';
    await this.#consume(term);
    this.#tick(); // deadlines that passed while no router was active fire now
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
    this.#log.info({ cases: this.#cases.size, durable: this.#durable }, 'router active');
  }

  /** Back to standby: stops taking events and acks and firing deadlines, then waits (bounded) for what is in flight. */
  async follow(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopped') return;
    this.#term++; // also ends a lead() still setting up
    if (this.#state !== 'running') return;
    this.#state = 'standby';
    await this.#quiesce();
    this.#log.info({ cases: this.#cases.size }, 'router on standby');
  }

  async #quiesce(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#acks?.unsubscribe();
    this.#acks = null;
    await this.#messages?.close().catch(() => undefined);
    this.#messages = null;
    const until = Date.now() + 5000;
    while (this.#inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Watches the cases bucket from `fromRevision` (only new writes when 0); when the watch ends
   * while the router runs (the server went away), it resumes after the last revision it saw.
   */
  async #startWatch(fromRevision: number): Promise<void> {
    const watch = await this.store.kv.watch(fromRevision > 0 ? { resumeFromRevision: fromRevision } : { include: KvWatchInclude.UpdatesOnly });
    this.#watch = watch;
    void (async () => {
      try {
        for await (const e of watch) {
          this.#watchRevision = Math.max(this.#watchRevision, e.revision);
          if (e.operation === 'DEL' || e.operation === 'PURGE') { this.#forget(e.key); continue; }
          if (e.operation !== 'PUT' || e.value.length === 0) continue;
          try {
            this.#apply({ record: e.json<CaseRecord>(), revision: e.revision }, true);
          } catch (err) {
            this.#log.warn({ case: e.key, err: (err as Error).message }, 'unreadable case in the bucket');
          }
        }
      } catch (err) {
        this.#setError(`case watch: ${(err as Error).message}`);
      }
      const live = () => this.#watch === watch && this.#state !== 'stopped';
      for (let attempt = 1; live(); attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        if (!live()) return;
        try {
          await this.#startWatch(this.#watchRevision + 1);
          return;
        } catch (err) {
          this.#setError(`case watch: ${(err as Error).message}`);
        }
      }
    })();
  }

  /**
   * Reads events from the durable consumer; when the iterator ends while this term runs (the
   * server went away, the consumer was deleted), it is set up again after a second.
   */
  async #consume(term: number): Promise<void> {
    const consumer = await this.store.js.consumers.get(EVENTS_STREAM, this.#durable);
    const messages = await consumer.consume({ max_messages: 1000 });
    if (term !== this.#term) return void (await messages.close().catch(() => undefined));
    this.#messages = messages;
    const current = () => term === this.#term && this.#state === 'running';
    void (async () => {
      try {
        for await (const m of messages) this.#onEventMsg(m);
      } catch (err) {
        this.#setError((err as Error).message);
      }
      if (!current()) return;
      this.#log.warn({ err: this.#lastError }, 'event consumer ended; setting it up again');
      for (let attempt = 1; current(); attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        if (!current()) return;
        try {
          await this.store.ensureEventsConsumer(this.#durable);
          await this.#consume(term);
          this.#lastErrorText = '';
          return;
        } catch (err) {
          this.#setError(`event consumer: ${(err as Error).message}`);
        }
      }
    })();
  }

  /** Stops taking events and acks, then waits (bounded) for what is in flight; ends the view. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#term++;
    this.#state = 'stopped';
    await this.#quiesce();
    const watch = this.#watch;
    this.#watch = null;
    watch?.stop();
  }

  /** Whether this instance consumes events, answers acks and fires deadlines. */
  get active(): boolean {
    return this.#state === 'running';
  }

  /** The last error; health shows it as degraded for a minute. */
  get #lastError(): string {
    return Date.now() - this.#lastErrorAt < 60_000 ? this.#lastErrorText : '';
  }

  #setError(message: string): void {
    this.#lastErrorText = message;
    this.#lastErrorAt = Date.now();
  }

  status(): { state: string; role: 'active' | 'standby' | 'none'; cases: number; open: number; inflight: number; lastError: string } {
    let open = 0;
    for (const e of this.#cases.values()) if (OPEN_STATES.has(e.record.state)) open++;
    const role = this.#state === 'running' ? 'active' : this.#state === 'standby' ? 'standby' : 'none';
    return { state: this.#state, role, cases: this.#cases.size, open, inflight: this.#inflight, lastError: this.#lastError };
  }

  health(): ComponentHealth {
    if (this.#state !== 'running' && this.#state !== 'standby') return { state: 'down', reason: `router ${this.#state}` };
    const role = this.#state === 'running' ? 'active' : 'standby';
    return this.#lastError ? { state: 'degraded', reason: this.#lastError, role } : { state: 'up', role, cases: this.#cases.size };
  }

  /** Publishes an event (Open311 requests, tests); the router picks it up from the stream. */
  publish(event: GridEventT) {
    return publishEvent(this.store.js, event);
  }

  /**
   * Calls `listener` once per transition of any case, after it is written, whichever node wrote
   * it (console updates, telemetry rows). `local` is true when this instance wrote it: each
   * transition is local on exactly one node, which is how per-transition rows are written once
   * in a cluster. It runs on the router's path: keep it quick and let it not throw. Returns the
   * unsubscribe function.
   */
  onTransition(listener: (c: CaseRecord, t: Transition, local: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `listener` with the id of each case removed after its retention (see #sweep()). */
  onRemove(listener: (id: string) => void): () => void {
    this.#removeListeners.add(listener);
    return () => this.#removeListeners.delete(listener);
  }

  #notify(c: CaseRecord, t: Transition): void {
    const local = this.#authored.delete(authorKey(c.id, t));
    for (const l of this.#listeners) {
      try {
        l(c, t, local);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'transition listener failed');
      }
    }
  }

  get(id: string): CaseRecord | null {
    return this.#cases.get(id)?.record ?? null;
  }

  revisionOf(id: string): number | null {
    return this.#cases.get(id)?.revision ?? null;
  }

  /** Case ids that hold an event. */
  casesOfEvent(eventId: string): readonly string[] {
    return this.#byEvent.get(eventId) ?? [];
  }

  list(f: CaseFilter = {}): CaseRecord[] {
    const ids = f.ids ? new Set(f.ids) : null;
    const out: CaseRecord[] = [];
    for (const { record: c } of this.#cases.values()) {
      if (ids && !ids.has(c.id)) continue;
      if (f.category && c.category !== f.category) continue;
      if (f.state && c.state !== f.state) continue;
      if (f.open !== undefined && OPEN_STATES.has(c.state) !== f.open) continue;
      if (f.department && c.department !== f.department) continue;
      if (f.area && !c.place.path.includes(f.area)) continue;
      if (f.from && c.created_at < f.from.toISOString()) continue;
      if (f.to && c.created_at > f.to.toISOString()) continue;
      out.push(c);
    }
    out.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    return out.slice(0, f.limit ?? 1000);
  }

  // ---- events -------------------------------------------------------------------------------

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
    // A publisher that left the grid path out gets it from lat/lon.
    if (e.place.path.length === 0) {
      const hit = this.city.grid.locate(e.place.lat, e.place.lon);
      if (hit) e = { ...e, place: { ...e.place, path: [...hit.path] } };
    }
    // One chain per category and street: grouping decisions for one place are never concurrent.
    const key = `${e.category}|${e.place.path[1] ?? '_'}`;
    this.#inflight++;
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const effects: Effect[] = [];
    // The chain holds only the decision and the KV write; effects and the ack follow outside it.
    const storedMs = m.info.timestampNanos / 1e6;
    const next = prev.then(() => this.#ingest(e, effects, storedMs));
    next.then(
      async () => {
        for (const f of effects) await f();
        m.ack();
      },
      (err) => {
        this.#setError((err as Error).message);
        this.#log.error({ event: e.id, err: this.#lastError }, 'event not processed; it will be redelivered');
        m.nak(1000);
      },
    ).catch((err) => {
      this.#setError((err as Error).message);
      this.#log.error({ event: e.id, err: this.#lastError }, 'event effects not published; it will be redelivered');
      m.nak(1000);
    }).finally(() => {
      this.#inflight--;
    });
    const tail = next.catch(() => undefined);
    this.#chains.set(key, tail);
    void tail.then(() => { if (this.#chains.get(key) === tail) this.#chains.delete(key); });
  }

  async #ingest(e: GridEventT, fx: Effect[], storedMs?: number): Promise<void> {
    const t0 = performance.now();
    const known = this.#byEvent.get(e.id);
    if (known && known.length > 0) {
      // A redelivery: finish what an interrupted attempt started, re-emitting its effects (deduplicated).
      const first = this.#cases.get(known[0]!)!.record;
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
    const target = this.#findOpenCase(e);
    if (target) {
      await this.#mergeInto(target.joint, e, fx);
      this.#m?.events.inc({ outcome: 'merged' });
    } else {
      await this.#createCases(e, fx);
      this.#m?.events.inc({ outcome: 'new_case' });
      fx.push(async () => void this.#m?.latency.observe((performance.now() - t0) / 1000));
    }
  }

  #findOpenCase(e: GridEventT): CaseRecord | null {
    const [bx, by] = this.#bucketOf(e.place.lat, e.place.lon);
    const t = Date.parse(e.confirmed_at);
    let best: CaseRecord | null = null;
    let bestD = Infinity;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        const set = this.#buckets.get(`${e.category}:${bx + dx}:${by + dy}`);
        if (!set) continue;
        for (const id of set) {
          const c = this.#cases.get(id)?.record;
          if (!c || !OPEN_STATES.has(c.state) || c.state === 'resolved') continue;
          if (Math.abs(t - Date.parse(c.last_report_at)) > this.#windowMs) continue;
          const d = haversineM(c.place.lat, c.place.lon, e.place.lat, e.place.lon);
          if (d <= this.#radiusM && d < bestD) {
            best = c;
            bestD = d;
          }
        }
      }
    }
    return best;
  }

  async #createCases(e: GridEventT, fx: Effect[]): Promise<void> {
    const decision = this.table.route(e.category, e.place.path, new Date(e.confirmed_at));
    const depts = decision.departments;
    const ids = depts.map((d) => caseIdFor(e.id, e.confirmed_at, depts.length > 1 ? d : undefined));
    const rules = decision.matches.map((m) => m.rule);
    const at = new Date();
    await Promise.all(depts.map(async (dept, i) => {
      const id = ids[i]!;
      let entry = this.#cases.get(id) ?? null;
      if (!entry) {
        const policy = this.sla(e.category, dept);
        let c = newCase(id, ids, e, dept, rules.length ? rules : ['default'], policy.id, at);
        const why = decision.isDefault ? `no rule matched; default department ${dept}` : `rules ${rules.join(', ')}`;
        const out = applyAction(c, { action: 'dispatch', actor: 'router', at, department: dept, reason: why, event_id: e.id, deadline: { kind: 'sign', at: new Date(at.getTime() + policy.sign_within_s * 1000).toISOString() } });
        if (!out.ok) throw new Error(out.reason);
        c = out.record;
        const keys = c.history.map((t) => authorKey(id, t));
        for (const k of keys) this.#authored.add(k);
        const rev = await this.store.create(c).catch((err) => (keys.forEach((k) => this.#authored.delete(k)), Promise.reject(err)));
        if (rev === null) for (const k of keys) this.#authored.delete(k);
        entry = rev === null ? await this.store.get(id) : { record: c, revision: rev };
        if (!entry) throw new Error(`case ${id} vanished while being created`);
        this.#apply(entry, true);
      }
      const { record, revision } = entry;
      for (const t of record.history) if (t.event_id === e.id) fx.push(() => this.#emit(record, t, revision));
    }));
  }

  async #mergeInto(ids: readonly string[], e: GridEventT, fx: Effect[]): Promise<void> {
    const report = reportOf(e);
    await Promise.all(ids.map(async (id) => {
      const cur = this.#cases.get(id)?.record;
      if (cur && cur.reports.some((r) => r.event_id === e.id)) {
        const revision = this.#cases.get(id)!.revision;
        for (const t of cur.history) if (t.event_id === e.id) fx.push(() => this.#emit(cur, t, revision));
        return;
      }
      await this.#mutate(id, (c) => (c.reports.some((r) => r.event_id === e.id) ? [] : [{ action: 'add_report', actor: `${e.source.kind}:${e.source.id}`, at: new Date(), event_id: e.id, report }]), { effects: fx });
    }));
  }

  // ---- mutations ----------------------------------------------------------------------------

  /**
   * Reads, applies actions and writes by compare-and-set. Internal actors retry on a conflict;
   * with `revision` set (acks, console) a conflict is the caller's answer instead.
   */
  async #mutate(id: string, plan: (c: CaseRecord) => ActionInput[] | CaseActionError, opts: { revision?: number; retries?: number; fresh?: boolean; effects?: Effect[] } = {}): Promise<Entry> {
    const retries = opts.revision !== undefined ? 0 : (opts.retries ?? 8);
    for (let attempt = 0; ; attempt++) {
      const entry = opts.fresh || attempt > 0 ? await this.store.get(id) : (this.#cases.get(id) ?? (await this.store.get(id)));
      if (!entry) throw new CaseActionError('unknown_case', `no case ${id}`, { case: id });
      if (opts.revision !== undefined && opts.revision !== entry.revision) throw new CaseActionError('conflict', `case ${id} changed (revision ${entry.revision}, you sent ${opts.revision}); read it again`, { case: id, revision: entry.revision });
      const inputs = plan(entry.record);
      if (inputs instanceof CaseActionError) throw inputs;
      if (inputs.length === 0) return entry;
      let c = entry.record;
      const ts: Transition[] = [];
      for (const input of inputs) {
        const out = applyAction(c, input);
        if (!out.ok) {
          // The same action just applied by someone else: a lost race (two clerks signing at
          // once), answered as a conflict rather than as an illegal transition.
          const last = c.history[c.history.length - 1];
          if (last?.action === input.action && input.action !== 'report') throw new CaseActionError('conflict', `case ${id} was already ${c.state} by ${last.actor} at ${last.at} (revision ${entry.revision})`, { case: id, state: c.state, revision: entry.revision });
          throw new CaseActionError('illegal_transition', out.reason, { case: id, state: c.state, action: input.action });
        }
        c = out.record;
        ts.push(out.transition);
      }
      let revision: number;
      const keys = ts.map((t) => authorKey(id, t));
      for (const k of keys) this.#authored.add(k);
      try {
        revision = await this.store.update(c, entry.revision);
      } catch (err) {
        for (const k of keys) this.#authored.delete(k);
        if (!isCasConflict(err)) throw err;
        if (attempt >= retries) throw new CaseActionError('conflict', `case ${id} was changed concurrently; read it again`, { case: id });
        continue;
      }
      const next = { record: c, revision };
      // Listeners hear each transition once: here, or already from the watch if it came first.
      this.#apply(next, true);
      for (const t of ts) {
        this.#m?.transitions.inc({ action: t.action });
        if (opts.effects) opts.effects.push(() => this.#emit(c, t, revision));
        else await this.#emit(c, t, revision);
      }
      return next;
    }
  }

  async #emit(c: CaseRecord, t: Transition, revision: number): Promise<void> {
    await this.store.emit(c, t, revision);
  }

  /**
   * Takes a case entry from this instance's own write, the watch or a full read: older or equal
   * revisions than the one held change nothing; with `notify`, listeners hear each transition
   * this instance has not seen yet.
   */
  #apply(e: Entry, notify: boolean): void {
    const old = this.#cases.get(e.record.id);
    if (old && old.revision >= e.revision) return;
    const seen = old?.record.seq ?? 0;
    this.#remember(e);
    if (notify) for (const t of e.record.history) if (t.seq > seen) this.#notify(e.record, t);
  }

  #remember(e: Entry): void {
    const old = this.#cases.get(e.record.id);
    if (old && old.revision > e.revision) return;
    this.#cases.set(e.record.id, e);
    const c = e.record;
    if (c.deadline) this.#deadlines.set(c.id, Date.parse(c.deadline.at));
    else this.#deadlines.delete(c.id);
    for (const r of c.reports) {
      const list = this.#byEvent.get(r.event_id);
      if (!list) this.#byEvent.set(r.event_id, [c.id]);
      else if (!list.includes(c.id)) list.push(c.id);
    }
    if (!old) {
      const [bx, by] = this.#bucketOf(c.place.lat, c.place.lon);
      const key = `${c.category}:${bx}:${by}`;
      let set = this.#buckets.get(key);
      if (!set) this.#buckets.set(key, (set = new Set()));
      set.add(c.id);
    }
  }

  /** Drops a case removed from the bucket from memory and from the indexes. */
  #forget(id: string): void {
    const e = this.#cases.get(id);
    if (!e) return;
    const c = e.record;
    this.#cases.delete(id);
    this.#deadlines.delete(id);
    for (const r of c.reports) {
      const rest = (this.#byEvent.get(r.event_id) ?? []).filter((x) => x !== id);
      if (rest.length) this.#byEvent.set(r.event_id, rest);
      else this.#byEvent.delete(r.event_id);
    }
    const [bx, by] = this.#bucketOf(c.place.lat, c.place.lon);
    const key = `${c.category}:${bx}:${by}`;
    const set = this.#buckets.get(key);
    set?.delete(id);
    if (set?.size === 0) this.#buckets.delete(key);
    for (const l of this.#removeListeners) {
      try {
        l(id);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'case removal listener failed');
      }
    }
  }

  /**
   * The active instance removes closed and invalid cases whose last step is older than
   * routing.keep_closed_days from the bucket (by compare-and-set: one reopened meanwhile stays);
   * every node's watch then drops them from memory. Their rows stay in ClickHouse.
   */
  async #sweep(now: number): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    let removed = 0;
    try {
      for (const [id, { record: c, revision }] of [...this.#cases]) {
        if (this.#state !== 'running') break;
        if ((c.state !== 'closed' && c.state !== 'invalid') || now - Date.parse(c.updated_at) < this.#keepClosedMs) continue;
        try {
          await this.store.remove(id, revision);
        } catch (err) {
          if (isCasConflict(err)) continue;
          throw err;
        }
        this.#forget(id);
        removed++;
      }
    } catch (err) {
      this.#setError(`removing closed cases: ${(err as Error).message}`);
    } finally {
      this.#sweeping = false;
    }
    if (removed) this.#log.info({ removed, keep_closed_days: this.#keepClosedMs / 86_400_000, cases: this.#cases.size }, 'closed cases past their retention removed');
  }

  #bucketOf(lat: number, lon: number): [number, number] {
    return [Math.floor(lat / this.#cellDeg), Math.floor(lon / this.#cellDeg)];
  }

  /** After a crash: publish the effects of transitions that were written but not logged. */
  async #completeEffects(): Promise<void> {
    const counts = await this.store.loggedCounts();
    let redone = 0;
    for (const { record: c, revision } of this.#cases.values()) {
      const logged = counts.get(c.id) ?? 0;
      if (logged >= c.seq) continue;
      // Effects of concurrent events may land out of order, so recent transitions are all
      // published again (JetStream drops those it has); older ones only past the logged count.
      const recent = Date.now() - 540_000;
      for (const t of c.history) if (t.seq > logged || Date.parse(t.at) > recent) (await this.#emit(c, t, revision), redone++);
    }
    if (redone) this.#log.info({ redone }, 'published effects that a crash cut short');
  }

  // ---- SLA and deadlines --------------------------------------------------------------------

  /** The first SLA policy that matches the category and department. */
  sla(category: string, department: string): SlaPolicyT {
    for (const p of this.city.config.sla) {
      if (p.categories && !p.categories.includes(category)) continue;
      if (p.departments && !p.departments.includes(department)) continue;
      return p;
    }
    return this.city.config.sla[this.city.config.sla.length - 1]!;
  }

  #tick(): void {
    if (this.#state !== 'running') return;
    const now = Date.now();
    for (const [id, at] of this.#deadlines) {
      if (at > now || this.#firing.has(id)) continue;
      this.#firing.add(id);
      this.#inflight++;
      this.#missDeadline(id)
        .catch((err) => this.#log.warn({ case: id, err: (err as Error).message }, 'deadline not processed; retrying'))
        .finally(() => {
          this.#firing.delete(id);
          this.#inflight--;
        });
    }
    if (now - this.#lastSweepAt >= Math.min(SWEEP_EVERY_MS, this.#keepClosedMs / 4)) {
      this.#lastSweepAt = now;
      void this.#sweep(now);
    }
  }

  /** The area one level up from a case's current level, cell → street → district. */
  #levelUp(c: CaseRecord): { level: EscalationLevel; area: string } | null {
    const path = c.place.path;
    const streetId = path.find((id) => this.city.areas.get(id)?.level === 'street');
    if (c.level === 'cell' && streetId) return { level: 'street', area: streetId };
    if ((c.level === 'cell' || c.level === 'street') && path[0]) return { level: 'district', area: path[0] };
    return null;
  }

  async #missDeadline(id: string): Promise<void> {
    await this.#mutate(id, (c) => {
      if (!c.deadline || Date.parse(c.deadline.at) > Date.now()) return [];
      const now = new Date();
      const kind = c.deadline.kind;
      const missed = c.missed + 1;
      const policy = this.sla(c.category, c.department);
      const limitS = kind === 'sign' ? policy.sign_within_s : policy.resolve_within_s;
      const up = policy.escalate ? this.#levelUp(c) : null;
      const area = up?.area ?? (c.level === 'district' ? c.place.path[0] : c.place.path[c.place.path.length - 1]);
      const reason = `${c.department} missed the ${kind} deadline ${c.deadline.at} (${missed} missed)`;
      const steps: ActionInput[] = [{ action: 'deadline_missed', actor: 'router', at: now, reason, level: up?.level ?? c.level, area, deadline: { kind, at: new Date(now.getTime() + limitS * 1000).toISOString() } }];
      const transferredBefore = c.history.some((t) => t.action === 'transfer');
      const sup = this.city.supervisoryDepartment.id;
      if (missed >= 3 && !transferredBefore && c.department !== sup && !refusal(c.state, 'transfer')) {
        const sp = this.sla(c.category, sup);
        steps.push({ action: 'transfer', actor: 'router', at: now, department: sup, reason: `third missed deadline: transferred from ${c.department} to the supervisory department`, deadline: { kind: 'sign', at: new Date(now.getTime() + sp.sign_within_s * 1000).toISOString() } });
      }
      return steps;
    });
  }

  // ---- actions: acks and the console ----------------------------------------------------------

  /**
   * Applies one action and returns the new record; throws `CaseActionError` (unknown case, wrong
   * department, illegal in the state, conflict) and changes nothing then. It reads the case
   * fresh and writes by compare-and-set, so a standby may call it too (the console on any node).
   */
  async act(id: string, req: CaseActionRequest): Promise<Entry> {
    const action = req.action;
    return this.#mutate(id, (c) => {
      if (req.department !== undefined && c.department !== req.department) return new CaseActionError('wrong_department', `case ${id} is held by ${c.department}, not ${req.department}`, { case: id, department: c.department });
      const now = new Date();
      const base = { actor: req.actor, at: now, reason: req.reason };
      const policy = this.sla(c.category, c.department);
      switch (action) {
        case 'sign':
          return [{ ...base, action, deadline: { kind: 'resolve', at: new Date(now.getTime() + policy.resolve_within_s * 1000).toISOString() } }];
        case 'resolve':
          return [{ ...base, action, result: req.result, rating: req.rating }];
        case 'return':
        case 'reopen': {
          // Re-route without the departments that returned it; the command centre when none is left.
          const excluded = new Set([...c.returned_by, c.department]);
          const to = req.to_department ?? (action === 'reopen' ? c.department : this.table.route(c.category, c.place.path, now, excluded).departments[0]!);
          const dp = this.sla(c.category, to);
          const why = refusal(c.state, action);
          if (why) return new CaseActionError('illegal_transition', why, { case: id, state: c.state, action });
          return [{ ...base, action }, { actor: 'router', at: now, action: 'dispatch', department: to, reason: `re-routed after ${action}`, deadline: { kind: 'sign', at: new Date(now.getTime() + dp.sign_within_s * 1000).toISOString() } }];
        }
        case 'dispatch':
        case 'transfer': {
          const to = req.to_department ?? (action === 'transfer' ? this.city.supervisoryDepartment.id : c.department);
          if (!this.city.departments.has(to)) return new CaseActionError('bad_request', `unknown department ${to}`);
          const dp = this.sla(c.category, to);
          return [{ ...base, action, department: to, deadline: { kind: 'sign', at: new Date(now.getTime() + dp.sign_within_s * 1000).toISOString() } }];
        }
        case 'escalate': {
          const up = this.#levelUp(c);
          if (!up) return new CaseActionError('illegal_transition', `case ${id} is already at the district level`, { case: id });
          return [{ ...base, action, level: up.level, area: up.area }];
        }
        case 'progress':
        case 'close':
        case 'invalidate':
          return [{ ...base, action }];
        default:
          return new CaseActionError('bad_request', `unknown action ${JSON.stringify(action)}`);
      }
    }, { revision: req.revision, fresh: true, retries: 0 });
  }

  /** Console actions: the subset an operator may take. */
  consoleAction(id: string, req: CaseActionRequest): Promise<Entry> {
    if (!CONSOLE_ACTIONS.has(req.action)) return Promise.reject(new CaseActionError('bad_request', `an operator cannot ${req.action}; use one of ${[...CONSOLE_ACTIONS].join(', ')}`));
    return this.act(id, req);
  }

  async #onAck(msg: Msg): Promise<void> {
    const department = msg.subject.slice('gw.dispatch.ack.'.length);
    const reply = (body: object) => { if (msg.reply) msg.respond(JSON.stringify(body)); };
    let req: { case_id?: unknown; action?: unknown; actor?: unknown; reason?: unknown; result?: unknown; rating?: unknown; revision?: unknown };
    try {
      req = JSON.parse(msg.string());
    } catch {
      this.#m?.acks.inc({ outcome: 'bad_request' });
      return reply({ status: 'error', code: 'bad_request', reason: 'not JSON' });
    }
    if (typeof req.case_id !== 'string' || typeof req.action !== 'string' || !ACK_ACTIONS.has(req.action)) {
      this.#m?.acks.inc({ outcome: 'bad_request' });
      return reply({ status: 'error', code: 'bad_request', reason: `needs case_id and action (one of ${[...ACK_ACTIONS].join(', ')})` });
    }
    this.#inflight++;
    try {
      const e = await this.act(req.case_id, {
        action: req.action as CaseAction, department, actor: typeof req.actor === 'string' ? req.actor : `dept:${department}`,
        reason: typeof req.reason === 'string' ? req.reason : undefined, result: typeof req.result === 'string' ? req.result : undefined,
        rating: typeof req.rating === 'number' ? req.rating : undefined, revision: typeof req.revision === 'number' ? req.revision : undefined,
      });
      this.#m?.acks.inc({ outcome: 'applied' });
      reply({ status: 'applied', case_id: e.record.id, state: e.record.state, department: e.record.department, revision: e.revision, seq: e.record.seq });
    } catch (err) {
      const code = err instanceof CaseActionError ? err.reason : 'error';
      this.#m?.acks.inc({ outcome: code });
      reply({ status: 'error', code, reason: (err as Error).message });
    } finally {
      this.#inflight--;
    }
  }
}
