import { readFile, readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, normalize, sep } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { errorMessage, type Logger } from '../core/index.ts';
import type { City } from '../config/index.ts';
import { annotatedEvidence } from '../detectors/index.ts';
import type { AlertArchive as AlertArchivePort, AlertDecision, AlertStatus, ConsoleAlert, ConsoleHub, EvidenceRef } from '../console/index.ts';
import type { TelemetryStore } from '../telemetry/index.ts';

/** Alerts and decisions between the nodes' consoles: core NATS, live only (ClickHouse keeps them). */
export const ALERTS_SUBJECT = 'gw.console.alerts';
/** A node answers requests for its evidence files here. */
export const evidenceSubject = (node: string) => `gw.console.evidence.${node.replace(/[^A-Za-z0-9_-]/g, '_')}`;

type Shared =
  | { kind: 'alert'; node: string; alert: ConsoleAlert; evidence?: EvidenceRef }
  | { kind: 'decision'; node: string; decision: AlertDecision };

const SAFE_ID = /^[A-Za-z0-9_.:-]{1,160}$/;
const DAY_MS = 86_400_000;
/** How many alerts a console loads at start (the hub keeps 2,000). */
const LOAD_LIMIT = 2000;

export interface AlertArchiveDeps {
  readonly city: City;
  readonly nodeId: string;
  readonly dataDir: string;
  readonly nc: NatsConnection;
  readonly telemetry: Pick<TelemetryStore, 'query'>;
  readonly hub: ConsoleHub;
  readonly log: Logger;
  readonly retentionDays: number;
}

/**
 * The console's alerts beyond one node's memory. Camera alerts are stored in ClickHouse as
 * `events` rows (with the evidence path and the node that holds it) and decisions as `verdicts`
 * rows; `start()` loads those of the retention period into the hub. Every node's console shows
 * the whole city's alerts live: each node shares its own alerts and decisions on
 * `gw.console.alerts`. Evidence is read from this node's disk, or asked of the node that holds
 * it on `gw.console.evidence.<node>`; files older than the retention are removed daily.
 */
export class EngineAlertArchive implements AlertArchivePort {
  readonly #d: AlertArchiveDeps;
  readonly retentionMs: number;
  readonly #subs: Subscription[] = [];
  readonly #offs: (() => void)[] = [];
  #sweeper: NodeJS.Timeout | null = null;

  constructor(deps: AlertArchiveDeps) {
    this.#d = deps;
    this.retentionMs = deps.retentionDays * DAY_MS;
  }

  async start(): Promise<void> {
    const d = this.#d;
    try {
      d.hub.restore(await this.#load());
    } catch (err) {
      d.log.error({ err: errorMessage(err) }, 'console: stored alerts not loaded');
    }
    const enc = (m: Shared) => JSON.stringify(m);
    this.#offs.push(d.hub.onAlert((rec, evidence) => d.nc.publish(ALERTS_SUBJECT, enc({ kind: 'alert', node: d.nodeId, alert: rec.alert, ...(evidence ? { evidence } : {}) }))));
    this.#offs.push(d.hub.onDecision((decision) => d.nc.publish(ALERTS_SUBJECT, enc({ kind: 'decision', node: d.nodeId, decision }))));
    this.#subs.push(d.nc.subscribe(ALERTS_SUBJECT, { callback: (err, msg) => {
      if (err) return;
      let m: Shared;
      try { m = msg.json<Shared>(); } catch { return; }
      if (m.node === d.nodeId) return;
      if (m.kind === 'alert' && typeof m.alert?.id === 'string') d.hub.alert(m.alert, m.evidence, { shared: true });
      else if (m.kind === 'decision' && typeof m.decision?.id === 'string') d.hub.markAlert(m.decision.id, m.decision.status, m.decision.by, { caseId: m.decision.caseId, reason: m.decision.reason, shared: true });
    } }));
    this.#subs.push(d.nc.subscribe(evidenceSubject(d.nodeId), { callback: (err, msg) => {
      if (err) return;
      void this.#readLocal(msg.string()).then((jpeg) => msg.respond(jpeg ?? new Uint8Array(0)));
    } }));
    this.#sweeper = setInterval(() => void this.sweep(), DAY_MS / 24);
    this.#sweeper.unref();
    void this.sweep();
  }

  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const s of this.#subs.splice(0)) s.unsubscribe();
    for (const off of this.#offs.splice(0)) off();
  }

  async find(alertId: string): Promise<{ alert: ConsoleAlert; evidence?: EvidenceRef } | null> {
    if (!SAFE_ID.test(alertId)) return null;
    const rows = await this.#d.telemetry.query<EventRow>(`${SELECT} WHERE source = 'camera' AND event_id = '${alertId}' LIMIT 1`);
    const r = rows[0];
    return r ? { alert: this.#alertOf(r), ...(r.snapshot ? { evidence: { node: r.node || this.#d.nodeId, path: r.snapshot } } : {}) } : null;
  }

  /** The JPEG from this node's data folder, or from the node that holds it (null when none has it). */
  async evidence(ref: EvidenceRef): Promise<Uint8Array | null> {
    const local = await this.#readLocal(ref.path);
    if (local || ref.node === this.#d.nodeId) return local;
    try {
      const reply = await this.#d.nc.request(evidenceSubject(ref.node), ref.path, { timeout: 3000 });
      return reply.data.length > 0 ? reply.data : null;
    } catch {
      return null;
    }
  }

  /** Evidence folders (`evidence/<camera>/<yyyy-mm-dd>`) older than the retention go. */
  async sweep(): Promise<number> {
    const root = join(this.#d.dataDir, 'evidence');
    const oldest = new Date(Date.now() - this.retentionMs).toISOString().slice(0, 10);
    let removed = 0;
    for (const cam of await readdir(root).catch(() => [] as string[])) {
      for (const day of await readdir(join(root, cam)).catch(() => [] as string[])) {
        if (/^\d{4}-\d{2}-\d{2}$/.test(day) && day < oldest) {
          await rm(join(root, cam, day), { recursive: true, force: true });
          removed++;
        }
      }
    }
    if (removed) this.#d.log.info({ removed, retention_days: this.#d.retentionDays }, 'evidence past its retention removed');
    return removed;
  }

  /** Only files under `<data>/evidence/`: a path from another node is never trusted further. */
  async #readLocal(path: string): Promise<Uint8Array | null> {
    const rel = normalize(path);
    if (isAbsolute(rel) || !rel.startsWith(`evidence${sep}`) || rel.split(sep).includes('..') || !rel.endsWith('.jpg')) return null;
    // An annotated JPEG is drawn the first time anyone asks for it (detectors/evidence.ts).
    const jpeg = await (rel.endsWith('-annotated.jpg') ? annotatedEvidence(this.#d.dataDir, rel) : readFile(join(this.#d.dataDir, rel)).catch(() => null));
    return jpeg ? new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength) : null;
  }

  async #load() {
    const since = Date.now() - this.retentionMs;
    const [events, verdicts] = await Promise.all([
      this.#d.telemetry.query<EventRow>(`${SELECT} WHERE source = 'camera' AND ts >= fromUnixTimestamp64Milli(${Math.floor(since)}) ORDER BY ts DESC LIMIT ${LOAD_LIMIT}`),
      this.#d.telemetry.query<{ event_id: string; verdict: string; reason: string; operator: string; case_id: string }>(
        `SELECT event_id, argMax(verdict, ts) AS verdict, argMax(reason, ts) AS reason, argMax(operator, ts) AS operator, argMax(case_id, ts) AS case_id
         FROM verdicts WHERE ts >= fromUnixTimestamp64Milli(${Math.floor(since)}) GROUP BY event_id`),
    ]);
    const decided = new Map(verdicts.map((v) => [v.event_id, v]));
    return events.reverse().map((r) => {
      const v = decided.get(r.event_id);
      const status: AlertStatus = v?.verdict === 'confirmed' ? 'confirmed' : v?.verdict === 'dismissed' ? 'dismissed' : 'new';
      return {
        alert: this.#alertOf(r), status,
        ...(v?.case_id ? { caseId: v.case_id } : {}), ...(v?.reason ? { reason: v.reason } : {}), ...(v?.operator ? { decidedBy: v.operator } : {}),
        ...(r.snapshot ? { evidence: { node: r.node || this.#d.nodeId, path: r.snapshot } } : {}),
      };
    });
  }

  #alertOf(r: EventRow): ConsoleAlert {
    const path = [r.district, r.street, r.community, r.cell].filter(Boolean);
    const box: [number, number, number, number] = [Number(r.box_x), Number(r.box_y), Number(r.box_w), Number(r.box_h)];
    return {
      id: r.event_id, cameraId: r.source_id, zoneId: r.zone, category: r.category, lat: Number(r.lat), lon: Number(r.lon), cell: r.cell, path,
      className: r.class, score: Number(r.score), dwellS: Number(r.dwell_s), ...(box[2] > 0 ? { box } : {}), ts: Number(r.ts_ms),
      ...(r.model ? { model: `${r.model} ${r.model_version}`.trim() } : {}),
    };
  }
}

interface EventRow {
  event_id: string; ts_ms: number | string; source_id: string; zone: string; category: string; lat: number; lon: number;
  district: string; street: string; community: string; cell: string; class: string; score: number; dwell_s: number;
  model: string; model_version: string; snapshot: string; node: string; box_x: number; box_y: number; box_w: number; box_h: number;
}

const SELECT = `SELECT event_id, toUnixTimestamp64Milli(ts) AS ts_ms, source_id, zone, category, lat, lon, district, street, community, cell,
  class, score, dwell_s, model, model_version, snapshot, node, box_x, box_y, box_w, box_h FROM events`;
