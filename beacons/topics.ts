import { Counter, stageCounters, type Logger, type Registry, type StageCounters } from '../core/index.ts';
import type { BeaconsT, City } from '../config/index.ts';
import { parseLocation, parseReport, parseStatus, marginDeg, type Limits, type Location, type Report, type Status, type Parsed, type RejectReason } from './payload.ts';
import type { TerminalStates } from './terminal-states.ts';
import type { BeaconCounts, TerminalState } from './types.ts';

/** The topic filters beacon ingest subscribes to (QoS 1). */
export const SUBSCRIPTIONS: readonly string[] = ['gw/terminals/+/+', 'owntracks/+/+'];

const UNKNOWN = '_unknown';
const PREFIX = 'gw/terminals/';

/** Where valid messages go, with the terminal they belong to and the receipt time (ms). */
/** Each returns, when it stored rows, a promise that resolves once they are safe. */
export interface BeaconHandlers {
  location(s: TerminalState, p: Location, source: 'gw' | 'owntracks', now: number): Promise<void>;
  report(s: TerminalState, p: Report, payload: Uint8Array, now: number): Promise<void>;
  status(s: TerminalState, p: Status, now: number): Promise<void>;
}

export interface BeaconTopicsOptions {
  readonly city: City;
  readonly cfg: BeaconsT;
  readonly states: Pick<TerminalStates, 'get'>;
  readonly handlers: BeaconHandlers;
  readonly counts: BeaconCounts;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly now: () => number;
}

/**
 * From an MQTT message to a valid, typed message of a known terminal: finds the terminal and the
 * kind from the topic (`gw/terminals/<id>/<kind>`, or an OwnTracks topic mapped in config), parses
 * and validates the payload, and hands it to its handler. Whatever is wrong is rejected: counted
 * per terminal and reason, and logged at most once per terminal and reason every `log_interval_s`.
 */
export class BeaconTopics {
  readonly #o: BeaconTopicsOptions;
  readonly #limits: Limits;
  readonly #owntracks = new Map<string, string>();
  readonly #lastLog = new Map<string, { at: number; suppressed: number }>();
  readonly #stage: StageCounters;
  readonly #rejected: Counter<'terminal' | 'reason'>;

  constructor(opts: BeaconTopicsOptions) {
    this.#o = opts;
    const cfg = opts.cfg;
    const [x0, y0, x1, y1] = opts.city.grid.bounds();
    const [mLat, mLon] = marginDeg(cfg.bounds_margin_m, Math.max(Math.abs(y0), Math.abs(y1)));
    this.#limits = {
      maxPayloadBytes: cfg.max_payload_bytes,
      photoMaxBytes: cfg.photo_max_bytes,
      futureToleranceS: cfg.future_tolerance_s,
      bounds: Number.isFinite(x0) ? [x0 - mLon, y0 - mLat, x1 + mLon, y1 + mLat] : [-180, -90, 180, 90],
      categories: new Set(opts.city.categories.keys()),
    };
    for (const t of opts.city.terminals.values()) {
      if (t.owntracks) this.#owntracks.set(`owntracks/${t.owntracks.user}/${t.owntracks.device}`, t.id);
    }
    this.#stage = stageCounters(opts.metrics);
    this.#rejected = new Counter({ name: 'gridwatch_beacons_rejected_total', help: 'Terminal messages rejected by validation, by terminal and reason', labelNames: ['terminal', 'reason'], registers: [opts.metrics] });
  }

  /**
   * One MQTT message. Never throws: whatever is wrong with it is counted and logged. Returns,
   * for a valid message, a promise that resolves once its rows are safe.
   */
  handle(topic: string, payload: Uint8Array): Promise<void> | undefined {
    this.#o.counts.received++;
    this.#stage.received.inc({ stage: 'beacons' });
    try {
      let id: string | undefined, kind: string, owntracks = false;
      if (topic.startsWith(PREFIX)) {
        const slash = topic.indexOf('/', PREFIX.length);
        id = topic.slice(PREFIX.length, slash);
        kind = topic.slice(slash + 1);
      } else {
        id = this.#owntracks.get(topic);
        kind = 'location';
        owntracks = true;
      }
      const state = id === undefined ? undefined : this.#o.states.get(id);
      if (!state) return this.#reject(UNKNOWN, 'unknown_terminal', `no terminal in config for topic ${topic}`, topic);
      const now = this.#o.now();
      let parsed: Parsed;
      if (kind === 'location') parsed = parseLocation(payload, now, this.#limits, owntracks);
      else if (kind === 'report') parsed = parseReport(payload, now, this.#limits);
      else if (kind === 'status') parsed = parseStatus(payload, this.#limits);
      else return this.#reject(state.id, 'unsupported_type', `unknown topic ${topic}`, topic);
      const h = this.#o.handlers;
      switch (parsed.kind) {
        case 'rejected': return this.#reject(state.id, parsed.reason, parsed.detail, topic);
        case 'location': return h.location(state, parsed, owntracks ? 'owntracks' : 'gw', now);
        case 'report': return h.report(state, parsed, payload, now);
        case 'status': return h.status(state, parsed, now);
        case 'ignored': return undefined;
      }
    } catch (err) {
      this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_HANDLE' });
      this.#o.log.error({ topic, err: (err as Error).message }, 'beacon handling failed');
    }
    return undefined;
  }

  #reject(terminal: string, reason: RejectReason, detail: string, topic: string): undefined {
    this.#o.counts.rejected++;
    this.#rejected.inc({ terminal, reason });
    this.#stage.dropped.inc({ stage: 'beacons', reason });
    const key = `${terminal}|${reason}`;
    const now = this.#o.now();
    const last = this.#lastLog.get(key);
    if (last && now - last.at < this.#o.cfg.log_interval_s * 1000) {
      last.suppressed++;
      return undefined;
    }
    this.#o.log.warn({ terminal, topic, reason, suppressed: last?.suppressed ?? 0 }, `terminal message rejected: ${detail}`);
    this.#lastLog.set(key, { at: now, suppressed: 0 });
    return undefined;
  }
}
