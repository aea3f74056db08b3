import type { CameraStatus, ConsoleAlert, ConsoleCase, Role, TerminalPosition } from '../../types.ts';

export interface AlertRecord { alert: ConsoleAlert; status: 'new' | 'confirmed' | 'dismissed'; caseId?: string; reason?: string; decidedBy?: string; hasEvidence: boolean }
export interface TerminalTrack { terminalId: string; last: TerminalPosition; track: [number, number][] }
export interface Area { id: string; name: string; name_en?: string; level: 'district' | 'street' | 'community' | 'cell'; parent?: string; ring: [number, number][] }
export interface Zone { id: string; name?: string; type: string; polygon: [number, number][]; dwell_s: number; classes?: string[]; [k: string]: unknown }
export interface CameraInfo { id: string; name?: string; lat: number; lon: number; cell?: string; image_size?: [number, number]; zones: Zone[] }
export interface CityInfo {
  name: string; areas: Area[]; cameras: CameraInfo[]; terminals: { id: string; worker: string; role: string; cell: string }[];
  categories: { code: string; name: string; name_en?: string; standard_code?: string; local_code?: string }[]; departments: { id: string; name: string; name_en?: string }[]; zoneTypes: string[];
}
export interface SessionInfo { user: { username: string; role: Role; department?: string }; csrf: string; permissions: string[]; expiresAt: number; mustChangePassword?: boolean }

export type Topic = 'alert' | 'case' | 'terminal' | 'camera' | 'snapshot' | 'link';

/** The console's client-side state, fed by the live socket. Views subscribe to topics. */
export class Store {
  session: SessionInfo | null = null;
  city: CityInfo | null = null;
  alerts = new Map<string, AlertRecord>();
  cases = new Map<string, ConsoleCase>();
  terminals = new Map<string, TerminalTrack>();
  cameras = new Map<string, CameraStatus>();
  seq = 0;
  link: 'live' | 'offline' | 'reconnecting' = 'offline';
  #subs = new Set<(topics: Set<Topic>) => void>();
  #dirty = new Set<Topic>();
  #queued = false;

  can(p: string): boolean {
    return !!this.session?.permissions.includes(p);
  }

  subscribe(fn: (topics: Set<Topic>) => void): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }

  /** Marks topics changed; subscribers run once per animation frame with every topic that changed. */
  touch(topic: Topic): void {
    this.#dirty.add(topic);
    if (this.#queued) return;
    this.#queued = true;
    requestAnimationFrame(() => {
      this.#queued = false;
      const topics = new Set(this.#dirty);
      this.#dirty.clear();
      for (const fn of this.#subs) fn(topics);
    });
  }

  apply(msg: any): void {
    if (typeof msg.seq === 'number' && msg.type !== 'resumed' && msg.type !== 'pong') this.seq = Math.max(this.seq, msg.seq);
    switch (msg.type) {
      case 'snapshot':
        this.alerts = new Map(msg.alerts.map((a: AlertRecord) => [a.alert.id, a]));
        this.cases = new Map(msg.cases.map((c: ConsoleCase) => [c.id, c]));
        this.terminals = new Map(msg.terminals.map((t: TerminalTrack) => [t.terminalId, t]));
        this.cameras = new Map(msg.cameras.map((c: CameraStatus) => [c.cameraId, c]));
        this.seq = msg.seq;
        this.touch('snapshot');
        break;
      case 'resumed':
        break;
      case 'alert':
        this.alerts.set(msg.alert.alert.id, msg.alert);
        if (this.alerts.size > 2000) this.alerts.delete(this.alerts.keys().next().value!);
        this.touch('alert');
        break;
      case 'case': {
        const c = msg.case as ConsoleCase;
        const u = this.session?.user;
        // A case moved away from a clerk's department leaves its board.
        if (u?.role === 'clerk' && !c.departments.includes(u.department ?? '')) this.cases.delete(c.id);
        else this.cases.set(c.id, c);
        this.touch('case');
        break;
      }
      case 'case_removed':
        this.cases.delete(msg.id);
        this.touch('case');
        break;
      case 'terminal': {
        const p = msg.position as TerminalPosition;
        let tr = this.terminals.get(p.terminalId);
        if (!tr) this.terminals.set(p.terminalId, (tr = { terminalId: p.terminalId, last: p, track: [] }));
        tr.last = p;
        tr.track.push([p.lat, p.lon]);
        if (tr.track.length > 30) tr.track.shift();
        this.touch('terminal');
        break;
      }
      case 'camera':
        this.cameras.set(msg.status.cameraId, msg.status);
        this.touch('camera');
        break;
    }
  }
}

export const store = new Store();

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && store.session) headers['x-csrf-token'] = store.session.csrf;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const json = await res.json().catch(() => ({}));
  // Every error answers { error: { code, message } } (docs/architecture.md, "Conventions").
  if (!res.ok) throw new ApiError(res.status, json?.error?.code ?? 'HTTP', json?.error?.message ?? res.statusText);
  return json as T;
}

/**
 * The live socket: resumes from the last sequence number it saw after any drop, with a capped
 * back-off; the server answers with the missed messages, or a snapshot when too far behind.
 */
export class LiveLink {
  #ws: WebSocket | null = null;
  #delay = 500;
  #stopped = false;
  #timer: number | undefined;
  onLoggedOut: () => void = () => {};

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#ws?.close(1000);
    this.#ws = null;
  }

  /** For tests and diagnostics: drop the socket as a network fault would. */
  drop(): void {
    this.#ws?.close(4000, 'dropped');
  }

  #open(): void {
    const since = store.seq > 0 ? `?since=${store.seq}` : '';
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live${since}`);
    this.#ws = ws;
    ws.onopen = () => {
      this.#delay = 500;
      store.link = 'live';
      store.touch('link');
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (Array.isArray(msg)) for (const m of msg) store.apply(m);
      else store.apply(msg);
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (ev.code === 4401) {
        store.link = 'offline';
        store.touch('link');
        return this.onLoggedOut();
      }
      if (this.#stopped) return;
      store.link = 'reconnecting';
      store.touch('link');
      this.#timer = window.setTimeout(() => this.#open(), this.#delay);
      this.#delay = Math.min(this.#delay * 2, 10_000);
    };
  }
}
