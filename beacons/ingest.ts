import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { EVENT_SCHEMA, ensureEventsStream, publishEvent, type GridEventT } from '../bus/index.ts';
import { Counter, Gauge, stageCounters, type ComponentHealth, type Logger, type Registry, type StageCounters } from '../core/index.ts';
import type { City, BeaconsT, CellHit } from '../config/index.ts';
import { parseLocation, parseReport, parseStatus, marginDeg, type Limits, type Location, type Report, type Status, type Parsed, type RejectReason } from './payload.ts';
import { migrate } from '../telemetry/index.ts';
import type { BeaconTable } from './schema.ts';
import { RecentKeys } from './recent-keys.ts';
import type { BeaconSource } from './source.ts';

/** What beacons need of the telemetry store (structurally `TelemetryStore`). */
export interface BeaconStore {
  exec(sql: string): Promise<void>;
  insert(table: string, rows: readonly object[]): Promise<void>;
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
}

export type TerminalStatus = 'unknown' | 'online' | 'offline' | 'inactive';
export type TerminalEventKind = 'cell_enter' | 'cell_exit' | 'online' | 'offline' | 'inactive' | 'stuck_gps' | 'stuck_gps_cleared';

/** An accepted beacon, for consumers beyond the beacon tables (console map, worker statistics). */
export type AcceptedBeacon =
  | { readonly kind: 'position'; readonly terminal: string; readonly tstMs: number; readonly lat: number; readonly lon: number; readonly cell: string; readonly acc?: number; readonly batt?: number; readonly velKmh?: number }
  | { readonly kind: 'report'; readonly terminal: string; readonly tstMs: number; readonly eventId: string; readonly category: string; readonly lat: number; readonly lon: number; readonly cell: string; readonly text: string; readonly evidence: readonly string[] };

export interface TerminalEvent {
  readonly terminal: string;
  readonly kind: TerminalEventKind;
  /** Milliseconds since the epoch: the fix time for cell and GPS events, receipt time for status. */
  readonly at: number;
  readonly cell: string;
  readonly lat: number | null;
  readonly lon: number | null;
}

/** One terminal as the ingest sees it; read through `terminal(id)`. */
export interface TerminalState {
  readonly id: string;
  status: TerminalStatus;
  cell: string;
  lat: number;
  lon: number;
  /** Fix time (s) of the newest location. */
  lastTst: number;
  /** Receipt time (ms) of the last message of any kind. */
  lastSeenMs: number;
  /** Fix time (s) since which the coordinates have not changed. */
  sameSinceTst: number;
  stuck: boolean;
}

/** The `terminal_report` event published to JetStream: a versioned gridwatch event (`bus/events.ts`). */
export type TerminalReportEvent = GridEventT;

export interface BeaconIngestOptions {
  readonly city: City;
  /** Where beacons come from: the embedded broker in process, or a service MQTT session. */
  readonly source: BeaconSource;
  readonly store: BeaconStore;
  /** Where report events go; without it reports are stored but not published. */
  readonly nc?: NatsConnection | null;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly dataDir: string;
  /** The JetStream stream for `gw.events.>`; made when no stream covers those subjects. */
  /** Overrides `city.config.beacons`, for tests and the benchmark. */
  readonly config?: Partial<BeaconsT>;
  readonly now?: () => number;
}

const SUBSCRIPTIONS = ['gw/terminals/+/+', 'owntracks/+/+'];
const UNKNOWN = '_unknown';
const subjectToken = (s: string | undefined) => (s ? s.replace(/[.\s*>]/g, '_') : '_');

/**
 * Terminal beacons: subscribes (QoS 1) to terminal topics at its source (the embedded broker in
 * process, or the service user's session on an external broker), validates
 * every payload, places positions in grid cells, tracks online / offline / inactive and stuck GPS,
 * stores positions, reports and events in ClickHouse in batches, and publishes reports as events.
 */
export class BeaconIngest {
  readonly #o: BeaconIngestOptions;
  readonly #cfg: BeaconsT;
  readonly #limits: Limits;
  readonly #now: () => number;
  readonly #states = new Map<string, TerminalState>();
  readonly #owntracks = new Map<string, string>();
  readonly #recent: RecentKeys;
  readonly #pending: Record<BeaconTable, object[]> = { beacon_positions: [], beacon_reports: [], terminal_events: [] };
  readonly #listeners = new Set<(e: TerminalEvent) => void>();
  readonly #beaconListeners = new Set<(b: AcceptedBeacon) => void>();
  readonly #lastLog = new Map<string, { at: number; suppressed: number }>();
  readonly #stage: StageCounters;
  readonly #rejected: Counter<'terminal' | 'reason'>;
  readonly #accepted: Counter<'kind'>;
  readonly #duplicates: Counter<'kind'>;
  readonly #storedRows: Counter<'table'>;
  readonly #terminalsBy: Gauge<'status'>;
  #js: JetStreamClient | null = null;
  #subscribed = false;
  #flushTimer: NodeJS.Timeout | null = null;
  #statusTimer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #retryAt = 0;
  #lastStoreError = '';
  #publishing = new Set<Promise<void>>();
  #counts = { received: 0, accepted: 0, rejected: 0, duplicates: 0, stored: 0, events_published: 0, publish_errors: 0, buffer_dropped: 0 };

  constructor(opts: BeaconIngestOptions) {
    this.#o = opts;
    this.#cfg = { ...opts.city.config.beacons, ...opts.config };
    this.#now = opts.now ?? Date.now;
    const [x0, y0, x1, y1] = opts.city.grid.bounds();
    const [mLat, mLon] = marginDeg(this.#cfg.bounds_margin_m, Math.max(Math.abs(y0), Math.abs(y1)));
    this.#limits = {
      maxPayloadBytes: this.#cfg.max_payload_bytes,
      photoMaxBytes: this.#cfg.photo_max_bytes,
      futureToleranceS: this.#cfg.future_tolerance_s,
      bounds: Number.isFinite(x0) ? [x0 - mLon, y0 - mLat, x1 + mLon, y1 + mLat] : [-180, -90, 180, 90],
      categories: new Set(opts.city.categories.keys()),
    };
    this.#recent = new RecentKeys(this.#cfg.dedup_window);
    for (const t of opts.city.terminals.values()) {
      this.#states.set(t.id, { id: t.id, status: 'unknown', cell: '', lat: NaN, lon: NaN, lastTst: 0, lastSeenMs: 0, sameSinceTst: 0, stuck: false });
      if (t.owntracks) this.#owntracks.set(`owntracks/${t.owntracks.user}/${t.owntracks.device}`, t.id);
    }
    const m = opts.metrics;
    this.#stage = stageCounters(m);
    this.#rejected = new Counter({ name: 'gridwatch_beacons_rejected_total', help: 'Terminal messages rejected by validation, by terminal and reason', labelNames: ['terminal', 'reason'], registers: [m] });
    this.#accepted = new Counter({ name: 'gridwatch_beacons_accepted_total', help: 'Terminal messages accepted, by kind', labelNames: ['kind'], registers: [m] });
    this.#duplicates = new Counter({ name: 'gridwatch_beacons_duplicates_total', help: 'Redelivered terminal messages dropped as already seen', labelNames: ['kind'], registers: [m] });
    this.#storedRows = new Counter({ name: 'gridwatch_beacons_stored_rows_total', help: 'Rows written to ClickHouse', labelNames: ['table'], registers: [m] });
    this.#terminalsBy = new Gauge({ name: 'gridwatch_terminals', help: 'Terminals by status', labelNames: ['status'], registers: [m], collect: () => this.#collectStatus() });
  }

  /** Creates the tables, makes sure the event stream exists, subscribes, and starts the timers. */
  async start(): Promise<void> {
    await migrate(this.#o.store, { tz: this.#o.city.config.city.timezone });
    if (this.#o.nc) {
      this.#js = jetstream(this.#o.nc);
      await this.#ensureEventStream(this.#o.nc);
    }
    this.#subscribed = true;
    await this.#o.source.subscribe(SUBSCRIPTIONS, (topic, payload) => this.handle(topic, payload));
    this.#flushTimer = setInterval(() => void this.flush(), this.#cfg.flush_ms);
    this.#statusTimer = setInterval(() => this.#checkInactive(), Math.min(1000, this.#cfg.inactive_s * 250));
    this.#o.log.info({ topics: SUBSCRIPTIONS, terminals: this.#states.size }, 'beacon ingest subscribed');
  }

  /** Unsubscribes, then stores everything still pending and waits for report events in flight. */
  async stop(): Promise<void> {
    if (this.#subscribed) {
      this.#subscribed = false;
      await this.#o.source.unsubscribe();
    }
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    if (this.#statusTimer) clearInterval(this.#statusTimer);
    this.#flushTimer = this.#statusTimer = null;
    // Report events still retrying get 5 s; their rows are stored either way.
    await Promise.race([Promise.allSettled([...this.#publishing]), new Promise((r) => setTimeout(r, 5000).unref())]);
    for (let i = 0; i < 20 && this.pendingRows() > 0; i++) {
      this.#retryAt = 0;
      await this.flush();
      if (this.pendingRows() > 0) await new Promise((r) => setTimeout(r, 100));
    }
    if (this.pendingRows() > 0) this.#o.log.error({ rows: this.pendingRows() }, 'beacon rows not stored at shutdown: ClickHouse unavailable');
  }

  /** Follows terminal events (cell enter/exit, status, stuck GPS); returns an unsubscribe. */
  onEvent(listener: (e: TerminalEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Follows every accepted position and report (after dedup); returns an unsubscribe. */
  onBeacon(listener: (b: AcceptedBeacon) => void): () => void {
    this.#beaconListeners.add(listener);
    return () => this.#beaconListeners.delete(listener);
  }

  #emit(b: AcceptedBeacon): void {
    for (const l of this.#beaconListeners) {
      try {
        l(b);
      } catch (err) {
        this.#o.log.error({ err: (err as Error).message }, 'beacon listener failed');
      }
    }
  }

  terminal(id: string): Readonly<TerminalState> | undefined {
    return this.#states.get(id);
  }

  pendingRows(): number {
    return this.#pending.beacon_positions.length + this.#pending.beacon_reports.length + this.#pending.terminal_events.length;
  }

  status() {
    const byStatus: Record<TerminalStatus, number> = { unknown: 0, online: 0, offline: 0, inactive: 0 };
    for (const s of this.#states.values()) byStatus[s.status]++;
    return { ...this.#counts, pending_rows: this.pendingRows(), terminals: byStatus, store_error: this.#lastStoreError || undefined };
  }

  health(): ComponentHealth {
    if (!this.#subscribed) return { state: 'down', reason: 'not subscribed' };
    if (this.#lastStoreError) return { state: 'degraded', reason: `ClickHouse insert failing, ${this.pendingRows()} rows held: ${this.#lastStoreError}` };
    return { state: 'up', source: this.#o.source.kind, ...this.status() };
  }

  /** Worker tracks for the console's map: the positions of a terminal between two times (ms). */
  async track(terminal: string, fromMs: number, toMs: number): Promise<{ at_ms: number; lat: number; lon: number; cell: string }[]> {
    const id = terminal.replace(/[^A-Za-z0-9_.-]/g, '');
    return this.#o.store.query(`SELECT toUnixTimestamp64Milli(tst) AS at_ms, lat, lon, cell FROM beacon_positions FINAL WHERE terminal = '${id}' AND tst BETWEEN fromUnixTimestamp64Milli(${Math.floor(fromMs)}) AND fromUnixTimestamp64Milli(${Math.floor(toMs)}) ORDER BY tst`);
  }

  /** One MQTT message. Never throws: whatever is wrong with it is counted and logged. */
  handle(topic: string, payload: Uint8Array): void {
    this.#counts.received++;
    this.#stage.received.inc({ stage: 'beacons' });
    try {
      let id: string | undefined, kind: string, owntracks = false;
      if (topic.startsWith('gw/terminals/')) {
        const slash = topic.indexOf('/', 13);
        id = topic.slice(13, slash);
        kind = topic.slice(slash + 1);
      } else {
        id = this.#owntracks.get(topic);
        kind = 'location';
        owntracks = true;
      }
      const state = id === undefined ? undefined : this.#states.get(id);
      if (!state) return this.#reject(UNKNOWN, 'unknown_terminal', `no terminal in config for topic ${topic}`, topic);
      const now = this.#now();
      let parsed: Parsed;
      if (kind === 'location') parsed = parseLocation(payload, now, this.#limits, owntracks);
      else if (kind === 'report') parsed = parseReport(payload, now, this.#limits);
      else if (kind === 'status') parsed = parseStatus(payload, this.#limits);
      else return this.#reject(state.id, 'unsupported_type', `unknown topic ${topic}`, topic);
      switch (parsed.kind) {
        case 'rejected': return this.#reject(state.id, parsed.reason, parsed.detail, topic);
        case 'location': return this.#location(state, parsed, owntracks ? 'owntracks' : 'gw', now);
        case 'report': return this.#report(state, parsed, payload, now);
        case 'status': return this.#status(state, parsed, now);
        case 'ignored': return;
      }
    } catch (err) {
      this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_HANDLE' });
      this.#o.log.error({ topic, err: (err as Error).message }, 'beacon handling failed');
    }
  }

  #reject(terminal: string, reason: RejectReason, detail: string, topic: string): void {
    this.#counts.rejected++;
    this.#rejected.inc({ terminal, reason });
    this.#stage.dropped.inc({ stage: 'beacons', reason });
    const key = `${terminal}|${reason}`;
    const now = this.#now();
    const last = this.#lastLog.get(key);
    if (last && now - last.at < this.#cfg.log_interval_s * 1000) {
      last.suppressed++;
      return;
    }
    this.#o.log.warn({ terminal, topic, reason, suppressed: last?.suppressed ?? 0 }, `terminal message rejected: ${detail}`);
    this.#lastLog.set(key, { at: now, suppressed: 0 });
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

  #location(s: TerminalState, p: Location, source: string, now: number): void {
    const tstMs = Math.round(p.tst * 1000);
    if (!this.#recent.add(`l|${s.id}|${tstMs}`)) return this.#duplicate('location');
    this.#accept('location');
    s.lastSeenMs = now;
    if (s.status !== 'online') this.#setStatus(s, 'online', now);
    const hit: CellHit | null = this.#o.city.grid.locate(p.lat, p.lon);
    const path = hit?.path;
    // Late fixes (a redelivery, a queued backlog) are stored but do not move the terminal back.
    if (p.tst >= s.lastTst) {
      const cell = hit?.cell.id ?? '';
      if (cell !== s.cell) {
        if (s.cell) this.#event(s, 'cell_exit', tstMs, s.cell, p.lat, p.lon);
        if (cell) this.#event(s, 'cell_enter', tstMs, cell, p.lat, p.lon);
        s.cell = cell;
      }
      if (p.lat === s.lat && p.lon === s.lon) {
        const moving = p.vel !== null && p.vel >= this.#cfg.stuck_min_speed_kmh;
        if (moving && !s.stuck && p.tst - s.sameSinceTst >= this.#cfg.stuck_gps_s) {
          s.stuck = true;
          this.#event(s, 'stuck_gps', tstMs, cell, p.lat, p.lon);
        } else if (!moving && s.stuck) {
          s.stuck = false;
          this.#event(s, 'stuck_gps_cleared', tstMs, cell, p.lat, p.lon);
        }
      } else {
        s.sameSinceTst = p.tst;
        if (s.stuck) {
          s.stuck = false;
          this.#event(s, 'stuck_gps_cleared', tstMs, cell, p.lat, p.lon);
        }
      }
      s.lat = p.lat;
      s.lon = p.lon;
      s.lastTst = p.tst;
    }
    if (this.#beaconListeners.size) {
      this.#emit({ kind: 'position', terminal: s.id, tstMs, lat: p.lat, lon: p.lon, cell: hit?.cell.id ?? '', ...(p.acc != null ? { acc: p.acc } : {}), ...(p.batt != null ? { batt: p.batt } : {}), ...(p.vel != null ? { velKmh: p.vel } : {}) });
    }
    this.#push('beacon_positions', {
      terminal: s.id, worker: this.#o.city.terminals.get(s.id)?.worker ?? s.id, tst: tstMs, received_at: now, source, lat: p.lat, lon: p.lon, acc: p.acc, alt: p.alt, vel: p.vel, cog: p.cog, batt: p.batt, conn: p.conn,
      district: path?.[0] ?? '', street: path?.[1] ?? '', community: path?.[2] ?? '', cell: hit?.cell.id ?? '', stuck: s.stuck ? 1 : 0,
    });
  }

  #report(s: TerminalState, p: Report, payload: Uint8Array, now: number): void {
    const tstMs = Math.round(p.tst * 1000);
    const digest = createHash('sha256').update(payload).digest('hex').slice(0, 16);
    const id = `tr-${s.id}-${tstMs}-${digest}`;
    if (!this.#recent.add(`r|${id}`)) return this.#duplicate('report');
    this.#accept('report');
    s.lastSeenMs = now;
    if (s.status !== 'online') this.#setStatus(s, 'online', now);
    const hit = this.#o.city.grid.locate(p.lat, p.lon);
    const path = hit ? [...hit.path] : [];
    const evidence = p.photo ? [`evidence/terminals/${s.id}/${id}.jpg`] : [];
    const event: TerminalReportEvent = {
      schema: EVENT_SCHEMA,
      id,
      type: 'terminal_report',
      category: p.category,
      source: { kind: 'terminal', id: s.id },
      first_seen: new Date(tstMs).toISOString(),
      confirmed_at: new Date(now).toISOString(),
      place: { lat: p.lat, lon: p.lon, path, method: 'gps' },
      ...(p.text ? { description: p.text.slice(0, 4000) } : {}),
      evidence,
    };
    const job = this.#deliverReport(event, p.photo, tstMs, now).finally(() => this.#publishing.delete(job));
    this.#publishing.add(job);
  }

  async #deliverReport(event: TerminalReportEvent, photo: Buffer | null, tstMs: number, now: number): Promise<void> {
    if (photo) {
      const dir = join(this.#o.dataDir, 'evidence', 'terminals', event.source.id);
      try {
        await mkdir(dir, { recursive: true });
        await writeFile(join(this.#o.dataDir, event.evidence[0]!), photo);
      } catch (err) {
        this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_EVIDENCE_WRITE' });
        this.#o.log.error({ terminal: event.source.id, event: event.id, err: (err as Error).message }, 'cannot write report photo');
      }
    }
    const path = event.place.path;
    this.#emit({ kind: 'report', terminal: event.source.id, tstMs, eventId: event.id, category: event.category, lat: event.place.lat, lon: event.place.lon, cell: path[path.length - 1] ?? '', text: event.description ?? '', evidence: event.evidence });
    this.#push('beacon_reports', { event_id: event.id, terminal: event.source.id, worker: this.#o.city.terminals.get(event.source.id)?.worker ?? event.source.id, tst: tstMs, received_at: now, category: event.category, text: event.description ?? '', lat: event.place.lat, lon: event.place.lon, grid_path: event.place.path, evidence: event.evidence });
    if (!this.#js) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await publishEvent(this.#js, event);
        this.#counts.events_published++;
        return;
      } catch (err) {
        if (attempt >= 8) {
          this.#counts.publish_errors++;
          this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_EVENT_PUBLISH' });
          this.#o.log.error({ event: event.id, err: (err as Error).message }, 'report event not published after 8 attempts; it is stored in beacon_reports');
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  #status(s: TerminalState, p: Status, now: number): void {
    this.#accept('status');
    if (p.online) {
      s.lastSeenMs = now;
      if (s.status !== 'online') this.#setStatus(s, 'online', now);
    } else if (s.status !== 'offline') this.#setStatus(s, 'offline', now);
  }

  #setStatus(s: TerminalState, status: TerminalStatus, now: number): void {
    s.status = status;
    if (status !== 'unknown') this.#event(s, status, now, s.cell, null, null);
  }

  #checkInactive(): void {
    const now = this.#now();
    const limit = this.#cfg.inactive_s * 1000;
    for (const s of this.#states.values()) {
      if (s.status === 'online' && now - s.lastSeenMs > limit) this.#setStatus(s, 'inactive', now);
    }
  }

  #event(s: TerminalState, kind: TerminalEventKind, at: number, cell: string, lat: number | null, lon: number | null): void {
    const e: TerminalEvent = { terminal: s.id, kind, at, cell, lat, lon };
    this.#push('terminal_events', e);
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#o.log.error({ err: (err as Error).message }, 'terminal event listener failed');
      }
    }
    // For the console's live map; core NATS, best effort (the row in ClickHouse is the record).
    if (this.#o.nc && !this.#o.nc.isClosed()) this.#o.nc.publish(`gw.terminals.${subjectToken(s.id)}.${kind}`, JSON.stringify({ ...e, at: new Date(at).toISOString() }));
  }

  #push(table: BeaconTable, row: object): void {
    const q = this.#pending[table];
    if (this.pendingRows() >= this.#cfg.max_buffer_rows) {
      q.shift();
      this.#counts.buffer_dropped++;
      this.#stage.dropped.inc({ stage: 'beacons', reason: 'store_buffer_full' });
    }
    q.push(row);
    if (q.length >= this.#cfg.batch_rows && !this.#flushing) void this.flush();
  }

  /** Inserts what is pending, a batch per table at a time; failed batches stay for the next try. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.pendingRows() === 0 || this.#now() < this.#retryAt) return Promise.resolve();
    this.#flushing = this.#flushAll().finally(() => (this.#flushing = null));
    return this.#flushing;
  }

  async #flushAll(): Promise<void> {
    // Only the rows present when the flush began, table by table: rows arriving meanwhile wait
    // for the next flush, so that a busy table cannot starve the others.
    for (const table of Object.keys(this.#pending) as BeaconTable[]) {
      const q = this.#pending[table];
      let left = q.length;
      while (left > 0) {
        const batch = q.splice(0, Math.min(left, this.#cfg.batch_rows));
        left -= batch.length;
        try {
          await this.#o.store.insert(table, batch);
          this.#counts.stored += batch.length;
          this.#storedRows.inc({ table }, batch.length);
          this.#lastStoreError = '';
        } catch (err) {
          q.unshift(...batch);
          this.#lastStoreError = (err as Error).message.split('\n')[0]!;
          this.#retryAt = this.#now() + 1000;
          this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_STORE' });
          this.#o.log.error({ table, rows: batch.length, err: this.#lastStoreError }, 'beacon insert failed; rows kept for retry');
          return;
        }
      }
    }
  }

  async #ensureEventStream(nc: NatsConnection): Promise<void> {
    await ensureEventsStream(await jetstreamManager(nc));
  }

  #collectStatus(): void {
    const s = this.status().terminals;
    for (const k of Object.keys(s) as TerminalStatus[]) this.#terminalsBy.set({ status: k }, s[k]);
  }
}
