import type { NatsConnection } from '@nats-io/transport-node';
import type { City, SlaPolicyT } from '../config/index.ts';
import { Counter, Histogram, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';
import { publishEvent } from '../bus/index.ts';
import type { CaseRecord, GridEventT, Transition } from '../domain/index.ts';
import { CaseActions, type CaseActionRequest } from './actions.ts';
import { Activity } from './activity.ts';
import { Deadlines, slaPolicy } from './deadlines.ts';
import { Dismissals } from './dismissals.ts';
import { RouterStartError } from './errors.ts';
import { Intake } from './intake.ts';
import { keepClosedMs, Retention } from './retention.ts';
import { RoutingTable } from './rules.ts';
import { CaseStore, type Entry } from './store.ts';
import { CaseView, type CaseFilter } from './view.ts';
import { CaseWriter } from './writer.ts';

export { caseIdFor } from './intake.ts';
export type { CaseActionRequest } from './actions.ts';
export type { CaseFilter } from './view.ts';

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
 *
 * The facade over the parts (README.md): the view (`view.ts`), the case writer (`writer.ts`),
 * event intake (`intake.ts`), deadlines (`deadlines.ts`), retention (`retention.ts`) and
 * actions (`actions.ts`); it builds them, starts and stops them in order, and runs the tick.
 */
export class CaseRouter {
  readonly city: City;
  readonly table: RoutingTable;
  readonly store: CaseStore;
  readonly #log: Logger;
  readonly #durable: string;
  readonly #tickMs: number;
  readonly #replicas: number | undefined;
  readonly #activity = new Activity();
  readonly #view: CaseView;
  readonly #writer: CaseWriter;
  readonly #intake: Intake;
  readonly #deadlines: Deadlines;
  readonly #retention: Retention;
  readonly #actions: CaseActions;
  readonly #dismissals: Dismissals;
  #timer: NodeJS.Timeout | null = null;
  /** `running` is the active instance; `standby` keeps the view of the cases only. */
  #state: 'idle' | 'standby' | 'running' | 'stopped' = 'idle';
  /** Bumped on every lead/follow, so that a consumer loop of an earlier term stops by itself. */
  #term = 0;

  constructor(opts: CaseRouterOptions) {
    const { city, log } = opts;
    this.city = city;
    this.#log = log;
    this.#durable = opts.durable ?? 'gw-router';
    this.#tickMs = opts.tickMs ?? 250;
    this.#replicas = opts.replicas;
    this.table = new RoutingTable(city);
    this.store = new CaseStore(opts.nc);
    const reg = opts.metrics;
    const m = reg ? {
      events: new Counter({ name: 'gridwatch_router_events_total', help: 'Events the router took, by outcome (new_case, merged, duplicate, invalid, stale)', labelNames: ['outcome'], registers: [reg] }),
      transitions: new Counter({ name: 'gridwatch_router_transitions_total', help: 'Case transitions written', labelNames: ['action'], registers: [reg] }),
      acks: new Counter({ name: 'gridwatch_router_acks_total', help: 'Acks from dispatch systems, by outcome', labelNames: ['outcome'], registers: [reg] }),
      latency: new Histogram({ name: 'gridwatch_router_event_seconds', help: 'Event delivery to dispatch order published', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [reg] }),
    } : null;
    const { store, table } = this;
    const activity = this.#activity;
    const active = () => this.#state === 'running';
    const view = (this.#view = new CaseView({ city, store, log, activity, stopped: () => this.#state === 'stopped' }));
    const writer = (this.#writer = new CaseWriter({ store, view, log, transitions: m?.transitions ?? null }));
    const dismissals = (this.#dismissals = new Dismissals({
      js: store.js, view, writer, activity, log, active, keepMs: keepClosedMs(city), replicas: opts.replicas, stopped: () => this.#state === 'stopped',
    }));
    this.#intake = new Intake({
      city, table, store, view, writer, activity, log, dismissals, durable: this.#durable,
      metrics: m ? { events: m.events, latency: m.latency } : null,
      current: (term) => term === this.#term && active(),
    });
    this.#deadlines = new Deadlines({ city, view, writer, activity, log });
    this.#retention = new Retention({ city, store, view, activity, log, active });
    this.#actions = new CaseActions({ city, table, nc: opts.nc, writer, activity, acks: m?.acks ?? null });
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
      await this.store.open([...this.city.departments.keys()], { replicas: this.#replicas, keepMs: keepClosedMs(this.city) });
      await this.#view.watch();
      await this.#dismissals.open();
    } catch (err) {
      throw new RouterStartError(`cannot set up the router's streams, consumers and KV bucket: ${(err as Error).message}`, err);
    }
    await this.#view.load(false);
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
    await this.#view.load(true);
    if (term !== this.#term) return;
    await this.#writer.completeEffects();
    if (term !== this.#term) return;
    await this.#retention.dropOrphanLogs().catch((err: Error) => this.#log.warn({ err: err.message }, 'could not drop the logs of removed cases'));
    if (term !== this.#term) return;
    // Dismissals written while no router was active: their cases end invalid now.
    await this.#dismissals.reconcileAll();
    if (term !== this.#term) return;
    this.#actions.listen();
    this.#state = 'running';
    await this.#intake.consume(term);
    if (term !== this.#term) return; // follow() ran while the consumer was set up: no timer for a past term
    this.#tick(); // deadlines that passed while no router was active fire now
    this.#timer = setInterval(() => this.#tick(), this.#tickMs);
    this.#timer.unref();
    this.#log.info({ cases: this.#view.size, durable: this.#durable }, 'router active');
  }

  /** Back to standby: stops taking events and acks and firing deadlines, then waits (bounded) for what is in flight. */
  async follow(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopped') return;
    this.#term++; // also ends a lead() still setting up
    if (this.#state !== 'running') return;
    this.#state = 'standby';
    await this.#quiesce();
    this.#log.info({ cases: this.#view.size }, 'router on standby');
  }

  /** Stops taking events and acks, then waits (bounded) for what is in flight; ends the view. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#term++;
    this.#state = 'stopped';
    await this.#quiesce();
    this.#view.close();
    this.#dismissals.close();
  }

  async #quiesce(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#actions.unlisten();
    await this.#intake.close();
    await this.#activity.settle(5000);
  }

  /** The active instance's clock: due deadlines fire, and closed cases past retention go. */
  #tick(): void {
    if (this.#state !== 'running') return;
    const now = Date.now();
    this.#deadlines.tick(now);
    this.#retention.tick(now);
  }

  /** Whether this instance consumes events, answers acks and fires deadlines. */
  get active(): boolean {
    return this.#state === 'running';
  }

  status(): { state: string; role: 'active' | 'standby' | 'none'; cases: number; open: number; inflight: number; lastError: string } {
    const role = this.#state === 'running' ? 'active' : this.#state === 'standby' ? 'standby' : 'none';
    return { state: this.#state, role, cases: this.#view.size, open: this.#view.openCount, inflight: this.#activity.inflight, lastError: this.#activity.lastError };
  }

  health(): ComponentHealth {
    if (this.#state !== 'running' && this.#state !== 'standby') return { state: 'down', reason: `router ${this.#state}` };
    const role = this.#state === 'running' ? 'active' : 'standby';
    const lastError = this.#activity.lastError;
    return lastError ? { state: 'degraded', reason: lastError, role } : { state: 'up', role, cases: this.#view.size };
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
    return this.#view.onTransition(listener);
  }

  /** Calls `listener` with the id of each case removed after its retention (see `retention.ts`). */
  onRemove(listener: (id: string) => void): () => void {
    return this.#view.onRemove(listener);
  }

  get(id: string): CaseRecord | null {
    return this.#view.entry(id)?.record ?? null;
  }

  revisionOf(id: string): number | null {
    return this.#view.entry(id)?.revision ?? null;
  }

  /** Case ids that hold an event. */
  casesOfEvent(eventId: string): readonly string[] {
    return this.#view.casesOfEvent(eventId);
  }

  list(f: CaseFilter = {}): CaseRecord[] {
    return this.#view.list(f);
  }

  /** The first SLA policy that matches the category and department. */
  sla(category: string, department: string): SlaPolicyT {
    return slaPolicy(this.city, category, department);
  }

  /**
   * Applies one action and returns the new record; throws `CaseActionError` (unknown case, wrong
   * department, illegal in the state, conflict) and changes nothing then. It reads the case
   * fresh and writes by compare-and-set, so a standby may call it too (the console on any node).
   */
  act(id: string, req: CaseActionRequest): Promise<Entry> {
    return this.#actions.act(id, req);
  }

  /** Console actions: the subset an operator may take. */
  consoleAction(id: string, req: CaseActionRequest): Promise<Entry> {
    return this.#actions.consoleAction(id, req);
  }

  /**
   * An operator dismissed the alert of `eventId` as a false positive: its cases end invalid,
   * whether the event was routed already, is being routed, or comes later (`dismissals.ts`).
   * Resolves with the ids of the cases invalidated now.
   */
  dismissEvent(eventId: string, req: { actor: string; reason: string }): Promise<string[]> {
    return this.#dismissals.dismiss(eventId, req.actor, req.reason);
  }
}
