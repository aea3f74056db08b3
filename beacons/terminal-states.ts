import type { NatsConnection } from '@nats-io/transport-node';
import { Gauge, type Logger, type Registry } from '../core/index.ts';
import type { BeaconsT, City } from '../config/index.ts';
import type { Location } from './payload.ts';
import type { BeaconRowSink } from './schema.ts';
import { Listeners } from './listeners.ts';
import type { TerminalEvent, TerminalEventKind, TerminalState, TerminalStatus } from './types.ts';

export interface TerminalStatesOptions {
  readonly city: City;
  readonly cfg: Pick<BeaconsT, 'inactive_s' | 'stuck_gps_s' | 'stuck_min_speed_kmh'>;
  readonly rows: BeaconRowSink;
  /** terminal events also go to core NATS `gw.terminals.<id>.<kind>`, for the live map */
  readonly nc?: NatsConnection | null;
  readonly log: Logger;
  readonly metrics: Registry;
  /** called when the writer refuses a row */
  readonly refused: () => void;
}

const subjectToken = (s: string | undefined) => (s ? s.replace(/[.\s*>]/g, '_') : '_');

/**
 * Every configured terminal's state: online / offline / inactive, its cell and the stuck-GPS
 * flag. Each change is a terminal event: a `terminal_events` row, `onEvent` listeners, and a
 * best-effort message on core NATS for the console's live map.
 */
export class TerminalStates {
  readonly #o: TerminalStatesOptions;
  readonly #states = new Map<string, TerminalState>();
  readonly #listeners: Listeners<TerminalEvent>;

  constructor(opts: TerminalStatesOptions) {
    this.#o = opts;
    this.#listeners = new Listeners(opts.log, 'terminal event listener failed');
    for (const t of opts.city.terminals.values()) {
      this.#states.set(t.id, { id: t.id, status: 'unknown', cell: '', lat: NaN, lon: NaN, lastTst: 0, lastSeenMs: 0, sameSinceTst: 0, stuck: false });
    }
    const gauge: Gauge<'status'> = new Gauge({
      name: 'gridwatch_terminals', help: 'Terminals by status', labelNames: ['status'], registers: [opts.metrics],
      collect: () => {
        const by = this.byStatus();
        for (const k of Object.keys(by) as TerminalStatus[]) gauge.set({ status: k }, by[k]);
      },
    });
  }

  get(id: string): TerminalState | undefined {
    return this.#states.get(id);
  }

  get size(): number {
    return this.#states.size;
  }

  onEvent(listener: (e: TerminalEvent) => void): () => void {
    return this.#listeners.add(listener);
  }

  byStatus(): Record<TerminalStatus, number> {
    const by: Record<TerminalStatus, number> = { unknown: 0, online: 0, offline: 0, inactive: 0 };
    for (const s of this.#states.values()) by[s.status]++;
    return by;
  }

  /** A message came from the terminal (any kind but an offline status): it is online. */
  seen(s: TerminalState, now: number): void {
    s.lastSeenMs = now;
    if (s.status !== 'online') this.#setStatus(s, 'online', now);
  }

  /** A status message (or an OwnTracks last will). */
  status(s: TerminalState, online: boolean, now: number): void {
    if (online) this.seen(s, now);
    else if (s.status !== 'offline') this.#setStatus(s, 'offline', now);
  }

  /**
   * A fix in `cell` ('' for none). Only a fix newer than the last one moves the terminal: late
   * fixes (a redelivery, a queued backlog) are stored but do not move it back.
   */
  move(s: TerminalState, p: Location, tstMs: number, cell: string): void {
    if (p.tst < s.lastTst) return;
    if (cell !== s.cell) {
      if (s.cell) this.#event(s, 'cell_exit', tstMs, s.cell, p.lat, p.lon);
      if (cell) this.#event(s, 'cell_enter', tstMs, cell, p.lat, p.lon);
      s.cell = cell;
    }
    if (p.lat === s.lat && p.lon === s.lon) {
      const moving = p.vel !== null && p.vel >= this.#o.cfg.stuck_min_speed_kmh;
      if (moving && !s.stuck && p.tst - s.sameSinceTst >= this.#o.cfg.stuck_gps_s) {
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

  /** Online terminals silent for `inactive_s` go inactive. */
  checkInactive(now: number): void {
    const limit = this.#o.cfg.inactive_s * 1000;
    for (const s of this.#states.values()) {
      if (s.status === 'online' && now - s.lastSeenMs > limit) this.#setStatus(s, 'inactive', now);
    }
  }

  #setStatus(s: TerminalState, status: TerminalStatus, now: number): void {
    s.status = status;
    if (status !== 'unknown') this.#event(s, status, now, s.cell, null, null);
  }

  #event(s: TerminalState, kind: TerminalEventKind, at: number, cell: string, lat: number | null, lon: number | null): void {
    const e: TerminalEvent = { terminal: s.id, kind, at, cell, lat, lon };
    if (!this.#o.rows.write('terminal_events', e)) this.#o.refused();
    this.#listeners.emit(e);
    // For the console's live map; core NATS, best effort (the row in ClickHouse is the record).
    const nc = this.#o.nc;
    if (nc && !nc.isClosed()) nc.publish(`gw.terminals.${subjectToken(s.id)}.${kind}`, JSON.stringify({ ...e, at: new Date(at).toISOString() }));
  }
}
