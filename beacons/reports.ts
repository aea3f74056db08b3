import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { ensureEventsStream, publishWithRetry } from '../bus/index.ts';
import { categoryCodes, terminalEvent } from '../domain/index.ts';
import { stageCounters, type Logger, type Registry, type StageCounters } from '../core/index.ts';
import type { City } from '../config/index.ts';
import type { Report } from './payload.ts';
import type { BeaconRowSink } from './schema.ts';
import type { AcceptedBeacon, BeaconCounts, TerminalReportEvent, TerminalState } from './types.ts';

export interface BeaconReportsOptions {
  readonly city: City;
  readonly rows: BeaconRowSink;
  readonly log: Logger;
  readonly metrics: Registry;
  /** photos go to `<dataDir>/evidence/terminals/<id>/<event id>.jpg` */
  readonly dataDir: string;
  readonly counts: BeaconCounts;
  /** each report, once its photo is stored, for `onBeacon` listeners */
  readonly emit: (b: AcceptedBeacon) => void;
}

/** A report's event id: `tr-<terminal>-<tst ms>-<sha256 of the payload, 16 hex>`; the same for a redelivery. */
export function reportId(terminal: string, tstMs: number, payload: Uint8Array): string {
  return `tr-${terminal}-${tstMs}-${createHash('sha256').update(payload).digest('hex').slice(0, 16)}`;
}

/**
 * Reports filed from terminals: each becomes a `terminal_report` event. Its photo is stored as
 * evidence, its `beacon_reports` row written, and the event published to JetStream (retried;
 * `Nats-Msg-Id` is the event id, so a redelivered report never makes a second event).
 */
export class BeaconReports {
  readonly #o: BeaconReportsOptions;
  readonly #stage: StageCounters;
  readonly #inFlight = new Set<Promise<void>>();
  #js: JetStreamClient | null = null;

  constructor(opts: BeaconReportsOptions) {
    this.#o = opts;
    this.#stage = stageCounters(opts.metrics);
  }

  /** Publishes events on `nc` from now on; makes the events stream when none covers `gw.events.>`. */
  async start(nc: NatsConnection): Promise<void> {
    this.#js = jetstream(nc);
    await ensureEventsStream(await jetstreamManager(nc));
  }

  /** Waits up to `ms` for reports still being delivered (their rows are written either way). */
  async drain(ms: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((r) => setTimeout(r, ms).unref())]);
  }

  /** An accepted, deduplicated report with its event id (`reportId`); resolves once its row is written and its event published (or given up). */
  accept(s: TerminalState, p: Report, id: string, tstMs: number, now: number): Promise<void> {
    const hit = this.#o.city.grid.locate(p.lat, p.lon);
    const event = terminalEvent({
      id, terminalId: s.id, category: p.category, seenAt: new Date(tstMs), receivedAt: new Date(now),
      lat: p.lat, lon: p.lon, path: hit?.path ?? [], text: p.text, codes: categoryCodes(this.#o.city, p.category), evidence: p.photo ? [`evidence/terminals/${s.id}/${id}.jpg`] : [],
    });
    const job = this.#deliver(event, p.photo, tstMs, now).finally(() => this.#inFlight.delete(job));
    this.#inFlight.add(job);
    return job;
  }

  async #deliver(event: TerminalReportEvent, photo: Buffer | null, tstMs: number, now: number): Promise<void> {
    const o = this.#o;
    const terminal = event.source.id;
    if (photo) {
      try {
        await mkdir(join(o.dataDir, 'evidence', 'terminals', terminal), { recursive: true });
        await writeFile(join(o.dataDir, event.evidence[0]!), photo);
      } catch (err) {
        this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_EVIDENCE_WRITE' });
        o.log.error({ terminal, event: event.id, err: (err as Error).message }, 'cannot write report photo');
      }
    }
    const { lat, lon, path } = event.place;
    const text = event.description ?? '';
    o.emit({ kind: 'report', terminal, tstMs, eventId: event.id, category: event.category, lat, lon, cell: path[path.length - 1] ?? '', text, evidence: event.evidence });
    const worker = o.city.terminals.get(terminal)?.worker ?? terminal;
    const row = { event_id: event.id, terminal, worker, tst: tstMs, received_at: now, category: event.category, text, lat, lon, grid_path: path, evidence: event.evidence };
    if (!o.rows.write('beacon_reports', row)) o.counts.rows_refused++;
    if (!this.#js) return;
    const published = await publishWithRetry(this.#js, event, {
      onGiveUp: (err, attempts) => {
        o.counts.publish_errors++;
        this.#stage.errors.inc({ stage: 'beacons', code: 'BEACONS_EVENT_PUBLISH' });
        o.log.error({ event: event.id, err: (err as Error).message }, `report event not published after ${attempts} attempts; it is stored in beacon_reports`);
      },
    });
    if (published) o.counts.events_published++;
  }
}
