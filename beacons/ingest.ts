import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, stageCounters, type ComponentHealth, type Logger, type Registry, type StageCounters } from '../core/index.ts';
import type { City, BeaconsT } from '../config/index.ts';
import { migrate } from '../telemetry/index.ts';
import type { Location, Report, Status } from './payload.ts';
import { BEACON_TABLES, type BeaconRowSink, type BeaconStore } from './schema.ts';
import { RecentKeys } from './recent-keys.ts';
import type { BeaconSource } from './source.ts';
import { Listeners } from './listeners.ts';
import { BeaconTopics, SUBSCRIPTIONS } from './topics.ts';
import { TerminalStates } from './terminal-states.ts';
import { BeaconReports, reportId } from './reports.ts';
import type { AcceptedBeacon, BeaconCounts, TerminalEvent, TerminalState, TerminalStatus } from './types.ts';

export interface BeaconIngestOptions {
  readonly city: City;
  /** Where beacons come from: the embedded broker in process, or a service MQTT session. */
  readonly source: BeaconSource;
  /** Migrated on start, and read for tracks. */
  readonly store: BeaconStore;
  /** Where the beacon rows go: the telemetry writer, which batches them and spools them while ClickHouse is away. */
  readonly writer: BeaconRowSink;
  /** Where report events go; without it reports are stored but not published. */
  readonly nc?: NatsConnection | null;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly dataDir: string;
  /** Overrides `city.config.beacons`, for tests and the benchmark. */
  readonly config?: Partial<BeaconsT>;
  readonly now?: () => number;
}

/**
 * Terminal beacons: subscribes (QoS 1) to terminal topics at its source (the embedded broker in
 * process, or the service user's session on an external broker). Its parts: `BeaconTopics`
 * validates every message, `TerminalStates` tracks cells, online / offline / inactive and stuck
 * GPS, `BeaconReports` turns reports into events. Here: redeliveries are dropped, positions
 * stored, and the parts wired to the telemetry writer, which stores every row.
 */
export class BeaconIngest {
  readonly #o: BeaconIngestOptions;
  readonly #cfg: BeaconsT;
  readonly #now: () => number;
  readonly #recent: RecentKeys;
  readonly #topics: BeaconTopics;
  readonly #states: TerminalStates;
  readonly #reports: BeaconReports;
  readonly #beacons: Listeners<AcceptedBeacon>;
  readonly #stage: StageCounters;
  readonly #accepted: Counter<'kind'>;
  readonly #duplicates: Counter<'kind'>;
  readonly #counts: BeaconCounts = { received: 0, accepted: 0, rejected: 0, duplicates: 0, events_published: 0, publish_errors: 0, rows_refused: 0 };
  #subscribed = false;
  #statusTimer: NodeJS.Timeout | null = null;

  constructor(opts: BeaconIngestOptions) {
    this.#o = opts;
    const cfg = (this.#cfg = { ...opts.city.config.beacons, ...opts.config });
    const now = (this.#now = opts.now ?? Date.now);
    const { city, log, metrics, writer: rows } = opts;
    this.#recent = new RecentKeys(cfg.dedup_window);
    this.#beacons = new Listeners(log, 'beacon listener failed');
    this.#states = new TerminalStates({ city, cfg, rows, nc: opts.nc, log, metrics, refused: () => this.#counts.rows_refused++ });
    this.#reports = new BeaconReports({ city, rows, log, metrics, dataDir: opts.dataDir, counts: this.#counts, emit: (b) => this.#beacons.emit(b) });
    this.#topics = new BeaconTopics({
      city, cfg, states: this.#states, counts: this.#counts, log, metrics, now,
      handlers: {
        location: (s, p, source, at) => this.#location(s, p, source, at),
        report: (s, p, payload, at) => this.#report(s, p, payload, at),
        status: (s, p, at) => this.#status(s, p, at),
      },
    });
    this.#stage = stageCounters(metrics);
    this.#accepted = new Counter({ name: 'gridwatch_beacons_accepted_total', help: 'Terminal messages accepted, by kind', labelNames: ['kind'], registers: [metrics] });
    this.#duplicates = new Counter({ name: 'gridwatch_beacons_duplicates_total', help: 'Redelivered terminal messages dropped as already seen', labelNames: ['kind'], registers: [metrics] });
  }

  /** Creates the tables, makes sure the event stream exists, subscribes, and starts the status timer. */
  async start(): Promise<void> {
    await migrate(this.#o.store, { tz: this.#o.city.config.city.timezone });
    if (this.#o.nc) await this.#reports.start(this.#o.nc);
    this.#subscribed = true;
    await this.#o.source.subscribe(SUBSCRIPTIONS, (topic, payload) => this.receive(topic, payload));
    this.#statusTimer = setInterval(() => this.#states.checkInactive(this.#now()), Math.min(1000, this.#cfg.inactive_s * 250));
    this.#o.log.info({ topics: SUBSCRIPTIONS, terminals: this.#states.size }, 'beacon ingest subscribed');
  }

  /** Unsubscribes, waits for report events in flight, then for the writer to store the rows (bounded). */
  async stop(): Promise<void> {
    if (this.#subscribed) {
      this.#subscribed = false;
      await this.#o.source.unsubscribe();
    }
    if (this.#statusTimer) clearInterval(this.#statusTimer);
    this.#statusTimer = null;
    // Report events still retrying get 5 s; their rows are written either way.
    await this.#reports.drain(5000);
    if (!(await this.#o.writer.flush(2000))) {
      this.#o.log.error({ rows: this.pendingRows() }, 'beacon rows not stored at shutdown: ClickHouse unavailable; the telemetry writer keeps them in its spool');
    }
  }

  /** Follows terminal events (cell enter/exit, status, stuck GPS); returns an unsubscribe. */
  onEvent(listener: (e: TerminalEvent) => void): () => void {
    return this.#states.onEvent(listener);
  }

  /** Follows every accepted position and report (after dedup); returns an unsubscribe. */
  onBeacon(listener: (b: AcceptedBeacon) => void): () => void {
    return this.#beacons.add(listener);
  }

  terminal(id: string): Readonly<TerminalState> | undefined {
    return this.#states.get(id);
  }

  /** Rows the telemetry writer holds and has not yet stored (all its tables). */
  pendingRows(): number {
    return this.#o.writer.status().pendingRows;
  }

  /** Waits until every row written so far is in ClickHouse; false when that took longer than `timeoutMs`. */
  flush(timeoutMs?: number): Promise<boolean> {
    return this.#o.writer.flush(timeoutMs);
  }

  status(): BeaconCounts & { stored: number; pending_rows: number; terminals: Record<TerminalStatus, number>; store_error: string | undefined } {
    const w = this.#o.writer.status();
    let stored = 0;
    for (const t of BEACON_TABLES) stored += w.writtenByTable[t] ?? 0;
    return { ...this.#counts, stored, pending_rows: w.pendingRows, terminals: this.#states.byStatus(), store_error: w.lastError || undefined };
  }

  health(): ComponentHealth {
    if (!this.#subscribed) return { state: 'down', reason: 'not subscribed' };
    const s = this.status();
    if (s.store_error) return { state: 'degraded', reason: `ClickHouse insert failing, ${s.pending_rows} rows held by the telemetry writer: ${s.store_error}` };
    return { state: 'up', source: this.#o.source.kind, ...s };
  }

  /** Worker tracks for the console's map: the positions of a terminal between two times (ms). */
  async track(terminal: string, fromMs: number, toMs: number): Promise<{ at_ms: number; lat: number; lon: number; cell: string }[]> {
    const id = terminal.replace(/[^A-Za-z0-9_.-]/g, '');
    return this.#o.store.query(`SELECT toUnixTimestamp64Milli(tst) AS at_ms, lat, lon, cell FROM beacon_positions FINAL WHERE terminal = '${id}' AND tst BETWEEN fromUnixTimestamp64Milli(${Math.floor(fromMs)}) AND fromUnixTimestamp64Milli(${Math.floor(toMs)}) ORDER BY tst`);
  }

  /** One MQTT message. Never throws: whatever is wrong with it is counted and logged. */
  handle(topic: string, payload: Uint8Array): void {
    void this.receive(topic, payload)?.catch(() => undefined);
  }

  /**
   * One MQTT message, for a source that acknowledges it: the promise (for a valid message)
   * resolves once its rows are safe on disk or in ClickHouse, and a report's event is published
   * or given up; it rejects when the telemetry writer had to drop them.
   */
  receive(topic: string, payload: Uint8Array): Promise<void> | undefined {
    return this.#topics.handle(topic, payload);
  }

  #accept(kind: string): void {
    this.#counts.accepted++;
    this.#accepted.inc({ kind });
    this.#stage.sent.inc({ stage: 'beacons' });
  }

  #duplicate(kind: string): void {
    this.#counts.duplicates++;
    this.#duplicates.inc({ kind });
    this.#stage.dropped.inc({ stage: 'beacons', reason: 'duplicate' });
  }

  #location(s: TerminalState, p: Location, source: 'gw' | 'owntracks', now: number): Promise<void> {
    const tstMs = Math.round(p.tst * 1000);
    // A redelivery waits too: its first copy may not be safe yet.
    if (!this.#recent.add(`l|${s.id}|${tstMs}`)) return (this.#duplicate('location'), this.#o.writer.durable());
    this.#accept('location');
    this.#states.seen(s, now);
    const hit = this.#o.city.grid.locate(p.lat, p.lon);
    const cell = hit?.cell.id ?? '';
    this.#states.move(s, p, tstMs, cell);
    if (this.#beacons.size) {
      this.#beacons.emit({ kind: 'position', terminal: s.id, tstMs, lat: p.lat, lon: p.lon, cell, ...(p.acc != null ? { acc: p.acc } : {}), ...(p.batt != null ? { batt: p.batt } : {}), ...(p.vel != null ? { velKmh: p.vel } : {}) });
    }
    const path = hit?.path;
    const ok = this.#o.writer.write('beacon_positions', {
      terminal: s.id, worker: this.#o.city.terminals.get(s.id)?.worker ?? s.id, tst: tstMs, received_at: now, source, lat: p.lat, lon: p.lon, acc: p.acc, alt: p.alt, vel: p.vel, cog: p.cog, batt: p.batt, conn: p.conn,
      district: path?.[0] ?? '', street: path?.[1] ?? '', community: path?.[2] ?? '', cell, stuck: s.stuck ? 1 : 0,
    });
    if (!ok) this.#counts.rows_refused++;
    return this.#o.writer.durable();
  }

  #report(s: TerminalState, p: Report, payload: Uint8Array, now: number): Promise<void> {
    const tstMs = Math.round(p.tst * 1000);
    const id = reportId(s.id, tstMs, payload);
    if (!this.#recent.add(`r|${id}`)) return (this.#duplicate('report'), this.#o.writer.durable());
    this.#accept('report');
    this.#states.seen(s, now);
    return this.#reports.accept(s, p, id, tstMs, now).then(() => this.#o.writer.durable());
  }

  #status(s: TerminalState, p: Status, now: number): Promise<void> {
    this.#accept('status');
    this.#states.status(s, p.online, now);
    return this.#o.writer.durable();
  }
}
