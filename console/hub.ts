import type { Counter, Registry } from 'prom-client';
import { Counter as PromCounter, Gauge } from 'prom-client';
import { can, canSeeCase } from './permissions.ts';
import type { Actor, CameraStatus, ConsoleAlert, ConsoleCase, ConsoleFeed, EvidenceJpeg, EvidenceRef, TerminalPosition } from './types.ts';
import { OPEN_STATES } from './types.ts';

export type AlertStatus = 'new' | 'confirmed' | 'dismissed';
export interface AlertRecord {
  readonly alert: ConsoleAlert;
  status: AlertStatus;
  caseId?: string;
  reason?: string;
  decidedBy?: string;
  hasEvidence: boolean;
}
/** A decision on an alert, as other nodes' consoles learn it. */
export interface AlertDecision {
  readonly id: string;
  readonly status: AlertStatus;
  readonly by: string;
  readonly caseId?: string | undefined;
  readonly reason?: string | undefined;
}

export interface TerminalTrack { readonly terminalId: string; last: TerminalPosition; track: [number, number][] }

/** One live message; `json` is serialised once and sent to every client allowed to see it. */
interface LiveMessage {
  readonly seq: number;
  readonly topic: 'alert' | 'case' | 'terminal' | 'camera';
  /** for case messages: who may see it */
  readonly departments?: readonly string[];
  readonly json: string;
}

export interface LiveClient {
  readonly actor: Actor;
  /** sends one text frame; returns false when the client is too slow and should be dropped */
  send(text: string): boolean;
  close(code: number, reason: string): void;
}

export interface HubOptions {
  replayMessages?: number;
  maxAlerts?: number;
  maxEvidence?: number;
  trackPoints?: number;
  /** how often batched messages go out, ms */
  flushMs?: number;
  metrics?: Registry;
}

/** How long a camera counts as watched after an operator asked for its frame. */
const WATCH_MS = 60_000;
const TOPIC_PERMISSION = { alert: 'alerts', case: 'cases', terminal: 'terminals', camera: 'cameras' } as const;

function allowed(actor: Actor, m: LiveMessage): boolean {
  if (m.topic === 'case') return canSeeCase(actor, { departments: m.departments ?? [] });
  return can(actor, TOPIC_PERMISSION[m.topic]);
}

/**
 * The console's live state and its fan-out. Implements `ConsoleFeed`: the engine pushes into it,
 * and it keeps what a freshly connected console needs (a snapshot) plus a bounded ring of numbered
 * messages so that a client that reconnects resumes from its last sequence number.
 */
export class ConsoleHub implements ConsoleFeed {
  readonly alerts = new Map<string, AlertRecord>();
  readonly evidence = new Map<string, EvidenceJpeg>();
  /** where the evidence of each alert lies (node and path), for alerts whose JPEG is on disk */
  readonly evidenceRefs = new Map<string, EvidenceRef>();
  readonly cases = new Map<string, ConsoleCase>();
  readonly terminals = new Map<string, TerminalTrack>();
  readonly cameras = new Map<string, CameraStatus>();
  readonly frames = new Map<string, { jpeg: Uint8Array; ts: number }>();
  /** per `camera/zone`: alerts raised, confirmed and dismissed (for detector tuning) */
  readonly tuning = new Map<string, { cameraId: string; zoneId: string; raised: number; confirmed: number; dismissed: number }>();

  #seq = 0;
  readonly #ring: (LiveMessage | undefined)[];
  #ringStart = 0; // index of the oldest message
  #ringLen = 0;
  readonly #clients = new Set<LiveClient>();
  readonly #pending: LiveMessage[] = [];
  readonly #snapshots = new Map<string, { seq: number; text: string; at: number }>();
  /** When an operator last asked for each camera's frame. */
  readonly #frameAskedAt = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  readonly #alertListeners = new Set<(rec: AlertRecord, evidence?: EvidenceRef) => void>();
  readonly #decisionListeners = new Set<(d: AlertDecision) => void>();
  readonly #cameraListeners = new Set<(s: CameraStatus) => void>();
  readonly #o: Required<Omit<HubOptions, 'metrics'>>;
  readonly #sent: Counter | null = null;
  readonly #dropped: Counter | null = null;

  constructor(opts: HubOptions = {}) {
    this.#o = { replayMessages: opts.replayMessages ?? 20000, maxAlerts: opts.maxAlerts ?? 2000, maxEvidence: opts.maxEvidence ?? 500, trackPoints: opts.trackPoints ?? 30, flushMs: opts.flushMs ?? 50 };
    this.#ring = new Array(this.#o.replayMessages);
    if (opts.metrics) {
      const registers = [opts.metrics];
      this.#sent = new PromCounter({ name: 'gridwatch_console_messages_sent_total', help: 'live messages queued to consoles', registers });
      this.#dropped = new PromCounter({ name: 'gridwatch_console_clients_dropped_total', help: 'consoles dropped as too slow', registers });
      const clients = this.#clients;
      new Gauge({ name: 'gridwatch_console_clients', help: 'connected consoles', registers, collect() { this.set(clients.size); } });
    }
  }

  get seq(): number {
    return this.#seq;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  // ---- ConsoleFeed ----

  /**
   * A new alert. This node's own alerts are announced to the alert listeners (the engine shares
   * them with the other nodes); `shared` marks one that came from another node.
   */
  alert(alert: ConsoleAlert, evidence?: EvidenceJpeg | EvidenceRef, opts: { shared?: boolean } = {}): void {
    if (!alert || typeof alert.id !== 'string' || this.alerts.has(alert.id)) return;
    const ref = evidence && !(evidence instanceof Uint8Array) ? evidence : undefined;
    if (evidence instanceof Uint8Array) {
      this.evidence.set(alert.id, evidence);
      trim(this.evidence, this.#o.maxEvidence);
    } else if (ref) this.evidenceRefs.set(alert.id, ref);
    const rec: AlertRecord = { alert, status: 'new', hasEvidence: !!evidence };
    this.alerts.set(alert.id, rec);
    trim(this.alerts, this.#o.maxAlerts, (id) => (this.evidence.delete(id), this.evidenceRefs.delete(id)));
    this.#tune(alert).raised++;
    this.#publish('alert', { type: 'alert', alert: rec });
    if (!opts.shared) for (const l of this.#alertListeners) l(rec, ref);
  }

  /**
   * Alerts kept from before (loaded from ClickHouse at start), oldest first: they are state, not
   * news, so no live message goes out and no listener hears them.
   */
  restore(records: readonly { alert: ConsoleAlert; status: AlertStatus; caseId?: string; reason?: string; decidedBy?: string; evidence?: EvidenceRef }[]): void {
    for (const r of records) {
      if (this.alerts.has(r.alert.id)) continue;
      const rec: AlertRecord = { alert: r.alert, status: r.status, hasEvidence: !!r.evidence, ...(r.caseId ? { caseId: r.caseId } : {}), ...(r.reason ? { reason: r.reason } : {}), ...(r.decidedBy ? { decidedBy: r.decidedBy } : {}) };
      this.alerts.set(r.alert.id, rec);
      if (r.evidence) this.evidenceRefs.set(r.alert.id, r.evidence);
      const t = this.#tune(r.alert);
      t.raised++;
      if (r.status === 'confirmed') t.confirmed++;
      if (r.status === 'dismissed') t.dismissed++;
    }
    trim(this.alerts, this.#o.maxAlerts, (id) => (this.evidence.delete(id), this.evidenceRefs.delete(id)));
  }

  /** Hears each alert this node raised (not restored, not shared from another node). */
  onAlert(listener: (rec: AlertRecord, evidence?: EvidenceRef) => void): () => void {
    this.#alertListeners.add(listener);
    return () => this.#alertListeners.delete(listener);
  }

  /** Hears each decision taken on this node (confirm, dismiss). */
  onDecision(listener: (d: AlertDecision) => void): () => void {
    this.#decisionListeners.add(listener);
    return () => this.#decisionListeners.delete(listener);
  }

  caseChanged(c: ConsoleCase): void {
    if (!c || typeof c.id !== 'string') return;
    const prev = this.cases.get(c.id);
    if (prev && prev.updatedAt > c.updatedAt) return; // an older revision arriving late
    this.cases.set(c.id, c);
    // Departments that lost the case must also learn it is gone from their board.
    const departments = prev ? [...new Set([...prev.departments, ...c.departments])] : c.departments;
    this.#publish('case', { type: 'case', case: c }, departments);
  }

  caseRemoved(id: string): void {
    const prev = this.cases.get(id);
    if (!prev) return;
    this.cases.delete(id);
    this.#publish('case', { type: 'case_removed', id }, prev.departments);
  }

  terminalPosition(p: TerminalPosition): void {
    if (!p || typeof p.terminalId !== 'string' || !Number.isFinite(p.lat) || !Number.isFinite(p.lon)) return;
    let t = this.terminals.get(p.terminalId);
    if (!t) this.terminals.set(p.terminalId, (t = { terminalId: p.terminalId, last: p, track: [] }));
    t.last = p;
    t.track.push([p.lat, p.lon]);
    if (t.track.length > this.#o.trackPoints) t.track.shift();
    this.#publish('terminal', { type: 'terminal', position: p });
  }

  /** A camera's status; `shared` marks one from the node that ingests it (no listener hears it again). */
  cameraStatus(s: CameraStatus, opts: { shared?: boolean } = {}): void {
    if (!s || typeof s.cameraId !== 'string') return;
    this.cameras.set(s.cameraId, s);
    this.#publish('camera', { type: 'camera', status: s });
    if (!opts.shared) for (const l of this.#cameraListeners) l(s);
  }

  /** Hears each camera status reported on this node. */
  onCameraStatus(listener: (s: CameraStatus) => void): () => void {
    this.#cameraListeners.add(listener);
    return () => this.#cameraListeners.delete(listener);
  }

  frame(cameraId: string, jpeg: Uint8Array, ts: number): void {
    this.frames.set(cameraId, { jpeg, ts });
  }

  /** An operator asked for the camera's frame (its wall tile, the zone editor): watched for WATCH_MS. */
  frameAsked(cameraId: string): void {
    if (this.cameras.has(cameraId) || this.frames.has(cameraId)) this.#frameAskedAt.set(cameraId, Date.now());
  }

  watching(cameraId: string): boolean {
    const at = this.#frameAskedAt.get(cameraId);
    return at !== undefined && Date.now() - at < WATCH_MS;
  }

  // ---- decisions ----

  /** Records a decision; `shared` marks one taken on another node (no listener hears it again). */
  markAlert(id: string, status: AlertStatus, by: string, extra: { caseId?: string | undefined; reason?: string | undefined; shared?: boolean } = {}): AlertRecord | null {
    const rec = this.alerts.get(id);
    if (!rec) return null;
    if (extra.shared && rec.status === status) return rec;
    if (rec.status === 'new') {
      const t = this.#tune(rec.alert);
      if (status === 'confirmed') t.confirmed++;
      if (status === 'dismissed') t.dismissed++;
    }
    rec.status = status;
    rec.decidedBy = by;
    if (extra.caseId) rec.caseId = extra.caseId;
    if (extra.reason) rec.reason = extra.reason;
    this.#publish('alert', { type: 'alert', alert: rec });
    if (!extra.shared) for (const l of this.#decisionListeners) l({ id, status, by, caseId: rec.caseId, reason: rec.reason });
    return rec;
  }

  #tune(a: ConsoleAlert) {
    const key = `${a.cameraId}/${a.zoneId}`;
    let t = this.tuning.get(key);
    if (!t) this.tuning.set(key, (t = { cameraId: a.cameraId, zoneId: a.zoneId, raised: 0, confirmed: 0, dismissed: 0 }));
    return t;
  }

  // ---- fan-out ----

  #publish(topic: LiveMessage['topic'], body: Record<string, unknown>, departments?: readonly string[]): void {
    const seq = ++this.#seq;
    const m: LiveMessage = { seq, topic, json: JSON.stringify({ seq, ...body }), ...(departments ? { departments } : {}) };
    const cap = this.#ring.length;
    if (this.#ringLen < cap) this.#ring[(this.#ringStart + this.#ringLen++) % cap] = m;
    else {
      this.#ring[this.#ringStart] = m;
      this.#ringStart = (this.#ringStart + 1) % cap;
    }
    if (this.#clients.size === 0) return;
    this.#pending.push(m);
    this.#timer ??= setTimeout(() => this.flush(), this.#o.flushMs);
  }

  /** Sends queued messages to every client, one batch (a JSON array) per client. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return;
    const batch = this.#pending.splice(0);
    for (const client of this.#clients) {
      const parts: string[] = [];
      for (const m of batch) if (allowed(client.actor, m)) parts.push(m.json);
      if (parts.length === 0) continue;
      this.#sent?.inc(parts.length);
      if (!client.send(`[${parts.join(',')}]`)) this.#drop(client);
    }
  }

  #drop(client: LiveClient): void {
    this.#clients.delete(client);
    this.#dropped?.inc();
    // 4001: the app reconnects and resumes (or gets a snapshot when too far behind).
    client.close(4001, 'too slow');
  }

  /**
   * Attaches a client. With `since` inside the ring it gets the messages after it; otherwise
   * (first connection, or too far behind) a snapshot of the current state.
   */
  attach(client: LiveClient, since?: number): void {
    this.flush();
    if (since !== undefined && Number.isInteger(since) && since >= this.#oldest() - 1 && since <= this.#seq) {
      client.send(JSON.stringify({ type: 'resumed', seq: this.#seq, from: since }));
      this.#replay(client, since);
    } else {
      const snap = this.#snapshotText(client.actor);
      client.send(snap.text);
      this.#replay(client, snap.seq);
    }
    this.#clients.add(client);
  }

  #oldest(): number {
    return this.#ringLen === 0 ? this.#seq + 1 : this.#ring[this.#ringStart]!.seq;
  }

  /** Sends the ring's messages after `since` that the client may see, as one batch. */
  #replay(client: LiveClient, since: number): void {
    if (since >= this.#seq) return;
    const parts: string[] = [];
    const cap = this.#ring.length;
    for (let i = 0; i < this.#ringLen; i++) {
      const m = this.#ring[(this.#ringStart + i) % cap]!;
      if (m.seq > since && allowed(client.actor, m)) parts.push(m.json);
    }
    if (parts.length) client.send(`[${parts.join(',')}]`);
  }

  detach(client: LiveClient): void {
    this.#clients.delete(client);
  }

  /**
   * The snapshot as JSON, shared by every client that sees the same things (same role and
   * department) until the next message: 50 consoles connecting at once cost one snapshot, not 50.
   */
  #snapshotText(actor: Actor): { seq: number; text: string } {
    const key = `${actor.role}|${actor.role === 'clerk' ? actor.department ?? '' : ''}`;
    const hit = this.#snapshots.get(key);
    // A recent snapshot plus the ring's messages after it is as good as a new one, and far cheaper.
    if (hit && hit.seq >= this.#oldest() - 1 && Date.now() - hit.at < 2000) return hit;
    const snap = { seq: this.#seq, text: JSON.stringify(this.snapshot(actor)), at: Date.now() };
    this.#snapshots.set(key, snap);
    return snap;
  }

  /** Everything a console shows, as this actor may see it. */
  snapshot(actor: Actor) {
    const alerts = can(actor, 'alerts') ? [...this.alerts.values()].slice(-300) : [];
    const cases = [...this.cases.values()].filter((c) => canSeeCase(actor, c) && (OPEN_STATES.has(c.state) || c.updatedAt > Date.now() - 86_400_000));
    const terminals = can(actor, 'terminals') ? [...this.terminals.values()] : [];
    const cameras = can(actor, 'cameras') ? [...this.cameras.values()] : [];
    return { type: 'snapshot' as const, seq: this.#seq, alerts, cases, terminals, cameras };
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const c of this.#clients) c.close(1001, 'server stopping');
    this.#clients.clear();
  }
}

function trim<K, V>(map: Map<K, V>, max: number, onEvict?: (k: K) => void): void {
  while (map.size > max) {
    const k = map.keys().next().value as K;
    map.delete(k);
    onEvict?.(k);
  }
}
