import { RtspSession } from './rtsp/session.ts';
import type { AccessUnit, AccessUnitSink } from './rtsp/depacketizer.ts';
import { IngestError, StreamStalledError, type FailReason } from './errors.ts';
import type { Logger } from '../core/index.ts';

export type CameraState = 'connecting' | 'streaming' | 'stalled' | 'failed' | 'stopped';

/** What the fleet needs to know about one camera. */
export interface FleetCamera {
  id: string;
  url: string;
  username?: string | undefined;
  password?: string | undefined;
}

export interface CameraCounters {
  bytes: number;
  packets: number;
  accessUnits: number;
  keyframes: number;
  gaps: number;
  droppedAccessUnits: number;
  badPackets: number;
  garbageBytes: number;
  reconnects: number;
  /** Capture time of the last keyframe (ms since the epoch), 0 when none yet. */
  lastKeyframeMs: number;
}

export interface CameraStatus {
  id: string;
  type: 'rtsp' | 'ffmpeg';
  state: CameraState;
  /** Why the camera is not streaming: `401`, `404`, `timeout`, `unsupported codec`... */
  reason: FailReason | undefined;
  message: string | undefined;
  codec: string | undefined;
  since: number;
  /** When the next connection attempt starts, while backing off. */
  retryAt: number | undefined;
  counters: CameraCounters;
}

/** Receives every keyframe; `au` is only valid during the call. */
export interface KeyframeSink {
  onKeyframe(cameraId: string, au: AccessUnit): void;
  /** The size of every other access unit (for gating before decoding). */
  onDeltaSize?(cameraId: string, bytes: number): void;
}

export interface FleetOptions {
  maxConnectsInFlight: number;
  stallTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  sink: KeyframeSink;
  log?: Logger | undefined;
}

interface Entry {
  cam: FleetCamera;
  state: CameraState;
  reason: FailReason | undefined;
  message: string | undefined;
  since: number;
  session: RtspSession | undefined;
  attempt: number;
  retryAt: number | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  streamingSince: number;
  queued: boolean;
  removed: boolean;
  /** Counters of sessions that have ended; the live session's are added on read. */
  done: CameraCounters;
}

const zero = (): CameraCounters => ({ bytes: 0, packets: 0, accessUnits: 0, keyframes: 0, gaps: 0, droppedAccessUnits: 0, badPackets: 0, garbageBytes: 0, reconnects: 0, lastKeyframeMs: 0 });

/** Hands keyframes of one session to the fleet's sink; one per session, nothing per packet. */
class SessionSink implements AccessUnitSink {
  readonly #id: string;
  readonly #sink: KeyframeSink;

  constructor(id: string, sink: KeyframeSink) {
    this.#id = id;
    this.#sink = sink;
  }
  readonly keyframesOnly = true;

  onAccessUnit(au: AccessUnit): void {
    if (au.keyframe) this.#sink.onKeyframe(this.#id, au);
  }

  onDeltaSize(bytes: number): void {
    this.#sink.onDeltaSize?.(this.#id, bytes);
  }
}

/**
 * Supervises thousands of RTSP sessions: a cap on connects in flight, exponential backoff with
 * jitter, a stall watchdog, and per-camera status and counters. Cameras can be added, changed
 * and removed while it runs.
 */
export class CameraFleet {
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Entry[] = [];
  #inFlight = 0;
  #watchdog: NodeJS.Timeout | undefined;
  #running = false;

  readonly #opts: FleetOptions;

  constructor(opts: FleetOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#running = true;
    this.#watchdog = setInterval(() => this.#watch(), Math.min(1000, this.#opts.stallTimeoutMs / 2));
    this.#pump();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#watchdog) clearInterval(this.#watchdog);
    await Promise.all([...this.#entries.values()].map((e) => this.#retire(e)));
    this.#entries.clear();
    this.#queue.length = 0;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Adds a camera, or restarts it when its URL or credentials changed. */
  add(cam: FleetCamera): void {
    const old = this.#entries.get(cam.id);
    if (old) {
      if (old.cam.url === cam.url && old.cam.username === cam.username && old.cam.password === cam.password) return;
      void this.#retire(old);
    }
    const e: Entry = { cam, state: 'connecting', reason: undefined, message: undefined, since: Date.now(), session: undefined, attempt: 0, retryAt: undefined, retryTimer: undefined, streamingSince: 0, queued: false, removed: false, done: old ? old.done : zero() };
    this.#entries.set(cam.id, e);
    this.#enqueue(e);
  }

  async remove(id: string): Promise<void> {
    const e = this.#entries.get(id);
    if (!e) return;
    this.#entries.delete(id);
    await this.#retire(e);
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  status(id: string): CameraStatus | undefined {
    const e = this.#entries.get(id);
    return e ? this.#describe(e) : undefined;
  }

  statuses(): CameraStatus[] {
    return [...this.#entries.values()].map((e) => this.#describe(e));
  }

  #describe(e: Entry): CameraStatus {
    const c = { ...e.done };
    const s = e.session;
    const d = s?.depacketizer?.counters;
    if (d) {
      c.bytes += d.bytes; c.packets += d.packets; c.accessUnits += d.accessUnits; c.keyframes += d.keyframes;
      c.gaps += d.gaps; c.droppedAccessUnits += d.droppedAccessUnits; c.badPackets += d.badPackets;
      c.lastKeyframeMs = Math.max(c.lastKeyframeMs, d.lastKeyframeMs);
    }
    if (s) c.garbageBytes += s.garbageBytes;
    return { id: e.cam.id, type: 'rtsp', state: e.state, reason: e.reason, message: e.message, codec: s?.codec, since: e.since, retryAt: e.retryAt, counters: c };
  }

  #enqueue(e: Entry): void {
    if (e.queued || e.removed) return;
    e.queued = true;
    e.retryAt = undefined;
    this.#setState(e, 'connecting', e.reason, e.message);
    this.#queue.push(e);
    this.#pump();
  }

  #pump(): void {
    if (!this.#running) return;
    while (this.#inFlight < this.#opts.maxConnectsInFlight && this.#queue.length > 0) {
      const e = this.#queue.shift()!;
      e.queued = false;
      if (e.removed) continue;
      this.#connect(e);
    }
  }

  #connect(e: Entry): void {
    this.#inFlight++;
    const session = new RtspSession({
      cameraId: e.cam.id, url: e.cam.url, username: e.cam.username, password: e.cam.password,
      sink: new SessionSink(e.cam.id, this.#opts.sink),
      connectTimeoutMs: this.#opts.connectTimeoutMs, requestTimeoutMs: this.#opts.requestTimeoutMs,
      onClose: (err) => this.#ended(e, session, err),
    });
    e.session = session;
    session.start().then(() => {
      this.#inFlight--;
      this.#pump();
      if (e.removed || e.session !== session) { void session.stop(); return; }
      e.streamingSince = Date.now();
      this.#setState(e, 'streaming', undefined, undefined);
    }, (err: unknown) => {
      this.#inFlight--;
      this.#pump();
      if (e.session !== session) return;
      this.#ended(e, session, err);
    });
  }

  /** A session failed to start or ended: keep its counters, set the reason, back off. */
  #ended(e: Entry, session: RtspSession, err: unknown): void {
    if (e.session !== session) return;
    this.#absorb(e, session);
    e.session = undefined;
    if (e.removed) return;
    const ie = err instanceof IngestError ? err : undefined;
    const reason: FailReason = ie?.reason ?? 'protocol error';
    const message = err instanceof Error ? err.message : String(err);
    if (e.streamingSince > 0 && Date.now() - e.streamingSince > 30_000) e.attempt = 0;
    e.streamingSince = 0;
    this.#setState(e, reason === 'stalled' ? 'stalled' : 'failed', reason, message);
    this.#opts.log?.info({ camera: e.cam.id, reason }, message);
    this.#retryLater(e);
  }

  #absorb(e: Entry, s: RtspSession): void {
    const d = s.depacketizer?.counters;
    const c = e.done;
    if (d) {
      c.bytes += d.bytes; c.packets += d.packets; c.accessUnits += d.accessUnits; c.keyframes += d.keyframes;
      c.gaps += d.gaps; c.droppedAccessUnits += d.droppedAccessUnits; c.badPackets += d.badPackets;
      c.lastKeyframeMs = Math.max(c.lastKeyframeMs, d.lastKeyframeMs);
    }
    c.garbageBytes += s.garbageBytes;
  }

  #retryLater(e: Entry): void {
    const base = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffInitialMs * 2 ** Math.min(e.attempt, 30));
    const delay = Math.round(base * (0.5 + Math.random() * 0.5)); // equal jitter: spreads a fleet that failed together
    e.attempt++;
    e.retryAt = Date.now() + delay;
    e.retryTimer = setTimeout(() => {
      e.retryTimer = undefined;
      e.done.reconnects++;
      this.#enqueue(e);
    }, delay);
  }

  #watch(): void {
    const now = Date.now();
    for (const e of this.#entries.values()) {
      const s = e.session;
      if (e.state !== 'streaming' || !s) continue;
      if (now - s.lastDataMs > this.#opts.stallTimeoutMs) {
        s.destroy();
        this.#ended(e, s, new StreamStalledError(e.cam.id, now - s.lastDataMs));
      }
    }
  }

  #setState(e: Entry, state: CameraState, reason: FailReason | undefined, message: string | undefined): void {
    if (e.state !== state) e.since = Date.now();
    e.state = state;
    e.reason = reason;
    e.message = message;
  }

  async #retire(e: Entry): Promise<void> {
    e.removed = true;
    e.state = 'stopped';
    if (e.retryTimer) clearTimeout(e.retryTimer);
    const s = e.session;
    e.session = undefined;
    if (s) await s.stop();
  }
}
