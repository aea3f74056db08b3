import { KvWatchInclude, type KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import { haversineM, type City } from '../config/index.ts';
import type { Logger } from '../core/index.ts';
import { OPEN_STATES, type CaseRecord, type GridEventT, type Transition } from '../domain/index.ts';
import type { Activity } from './activity.ts';
import type { CaseStore, Entry } from './store.ts';

export interface CaseFilter {
  readonly ids?: readonly string[];
  readonly category?: string;
  readonly state?: string;
  readonly open?: boolean;
  readonly department?: string;
  readonly area?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly limit?: number;
}

export type TransitionListener = (c: CaseRecord, t: Transition, local: boolean) => void;

export interface CaseViewDeps {
  readonly city: City;
  readonly store: CaseStore;
  readonly log: Logger;
  readonly activity: Activity;
  /** Whether the router was stopped: a watch that ends is not resumed then. */
  readonly stopped: () => boolean;
}

/** Names one write of one transition, so that its writer knows it as its own when it comes back. */
const authorKey = (id: string, t: Transition) => `${id}:${t.seq}:${t.at}:${t.action}`;

/**
 * The replica view: every case of the `gw_cases` bucket in memory, fed by this instance's own
 * writes, a KV watch and full reads, with the indexes the router asks (cases of an event, open
 * cases near a place, deadlines), and the listeners that hear each transition and removal once.
 */
export class CaseView {
  readonly #store: CaseStore;
  readonly #log: Logger;
  readonly #activity: Activity;
  readonly #stopped: () => boolean;
  readonly #cases = new Map<string, Entry>();
  readonly #byEvent = new Map<string, string[]>();
  /** `category:x:y` → ids of the cases in that square of the grouping grid. */
  readonly #buckets = new Map<string, Set<string>>();
  /** Case id → deadline in epoch ms, for the open cases that have one. */
  readonly #deadlines = new Map<string, number>();
  readonly #listeners = new Set<TransitionListener>();
  readonly #removeListeners = new Set<(id: string) => void>();
  /** Transitions this instance is writing (`id:seq:at:action`): listeners learn they are its own. */
  readonly #authored = new Set<string>();
  readonly #radiusM: number;
  readonly #windowMs: number;
  readonly #cellDeg: number;
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  /** The latest KV revision the watch delivered, to resume it without a gap. */
  #watchRevision = 0;

  constructor(deps: CaseViewDeps) {
    this.#store = deps.store;
    this.#log = deps.log;
    this.#activity = deps.activity;
    this.#stopped = deps.stopped;
    const r = deps.city.config.routing;
    this.#radiusM = r.merge_radius_m;
    this.#windowMs = r.merge_window_s * 1000;
    this.#cellDeg = Math.max(r.merge_radius_m, 1) / 111_000 * 1.5;
  }

  /** Starts the watch on the bucket (new writes only); load() then reads what was there. */
  watch(): Promise<void> {
    return this.#startWatch(0);
  }

  /** Reads the whole bucket; with `notify`, listeners hear the transitions not seen yet. */
  async load(notify: boolean): Promise<void> {
    for (const e of await this.#store.all()) this.apply(e, notify);
  }

  /** Ends the watch. */
  close(): void {
    const watch = this.#watch;
    this.#watch = null;
    watch?.stop();
  }

  /**
   * Watches the cases bucket from `fromRevision` (only new writes when 0); when the watch ends
   * while the router runs (the server went away), it resumes after the last revision it saw.
   */
  async #startWatch(fromRevision: number): Promise<void> {
    const watch = await this.#store.kv.watch(fromRevision > 0 ? { resumeFromRevision: fromRevision } : { include: KvWatchInclude.UpdatesOnly });
    this.#watch = watch;
    void (async () => {
      try {
        for await (const e of watch) {
          this.#watchRevision = Math.max(this.#watchRevision, e.revision);
          if (e.operation === 'DEL' || e.operation === 'PURGE') { this.forget(e.key); continue; }
          if (e.operation !== 'PUT' || e.value.length === 0) continue;
          try {
            this.apply({ record: e.json<CaseRecord>(), revision: e.revision }, true);
          } catch (err) {
            this.#log.warn({ case: e.key, err: (err as Error).message }, 'unreadable case in the bucket');
          }
        }
      } catch (err) {
        this.#activity.fail(`case watch: ${(err as Error).message}`);
      }
      const live = () => this.#watch === watch && !this.#stopped();
      for (let attempt = 1; live(); attempt++) {
        await new Promise((r) => setTimeout(r, Math.min(1000 * attempt, 10_000)));
        if (!live()) return;
        try {
          await this.#startWatch(this.#watchRevision + 1);
          return;
        } catch (err) {
          this.#activity.fail(`case watch: ${(err as Error).message}`);
        }
      }
    })();
  }

  /**
   * Takes a case entry from this instance's own write, the watch or a full read: older or equal
   * revisions than the one held change nothing; with `notify`, listeners hear each transition
   * this instance has not seen yet.
   */
  apply(e: Entry, notify: boolean): void {
    const old = this.#cases.get(e.record.id);
    if (old && old.revision >= e.revision) return;
    const seen = old?.record.seq ?? 0;
    this.#remember(e);
    if (notify) for (const t of e.record.history) if (t.seq > seen) this.#notify(e.record, t);
  }

  #remember(e: Entry): void {
    const old = this.#cases.get(e.record.id);
    if (old && old.revision > e.revision) return;
    this.#cases.set(e.record.id, e);
    const c = e.record;
    if (c.deadline) this.#deadlines.set(c.id, Date.parse(c.deadline.at));
    else this.#deadlines.delete(c.id);
    for (const r of c.reports) {
      const list = this.#byEvent.get(r.event_id);
      if (!list) this.#byEvent.set(r.event_id, [c.id]);
      else if (!list.includes(c.id)) list.push(c.id);
    }
    if (!old) {
      const [bx, by] = this.#bucketOf(c.place.lat, c.place.lon);
      const key = `${c.category}:${bx}:${by}`;
      let set = this.#buckets.get(key);
      if (!set) this.#buckets.set(key, (set = new Set()));
      set.add(c.id);
    }
  }

  /** Drops a case removed from the bucket from memory and from the indexes; removal listeners hear it. */
  forget(id: string): void {
    const e = this.#cases.get(id);
    if (!e) return;
    const c = e.record;
    this.#cases.delete(id);
    this.#deadlines.delete(id);
    for (const r of c.reports) {
      const rest = (this.#byEvent.get(r.event_id) ?? []).filter((x) => x !== id);
      if (rest.length) this.#byEvent.set(r.event_id, rest);
      else this.#byEvent.delete(r.event_id);
    }
    const [bx, by] = this.#bucketOf(c.place.lat, c.place.lon);
    const key = `${c.category}:${bx}:${by}`;
    const set = this.#buckets.get(key);
    set?.delete(id);
    if (set?.size === 0) this.#buckets.delete(key);
    for (const l of this.#removeListeners) {
      try {
        l(id);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'case removal listener failed');
      }
    }
  }

  #bucketOf(lat: number, lon: number): [number, number] {
    return [Math.floor(lat / this.#cellDeg), Math.floor(lon / this.#cellDeg)];
  }

  /**
   * Marks transitions this instance is about to write, so that the listeners hear them as local;
   * returns the keys to `release` when the write fails.
   */
  claim(id: string, ts: readonly Transition[]): string[] {
    const keys = ts.map((t) => authorKey(id, t));
    for (const k of keys) this.#authored.add(k);
    return keys;
  }

  release(keys: readonly string[]): void {
    for (const k of keys) this.#authored.delete(k);
  }

  onTransition(listener: TransitionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onRemove(listener: (id: string) => void): () => void {
    this.#removeListeners.add(listener);
    return () => this.#removeListeners.delete(listener);
  }

  #notify(c: CaseRecord, t: Transition): void {
    const local = this.#authored.delete(authorKey(c.id, t));
    for (const l of this.#listeners) {
      try {
        l(c, t, local);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'transition listener failed');
      }
    }
  }

  entry(id: string): Entry | undefined {
    return this.#cases.get(id);
  }

  /** Every case held, in no order. */
  entries(): IterableIterator<Entry> {
    return this.#cases.values();
  }

  get size(): number {
    return this.#cases.size;
  }

  get openCount(): number {
    let open = 0;
    for (const e of this.#cases.values()) if (OPEN_STATES.has(e.record.state)) open++;
    return open;
  }

  /** Case id → deadline (epoch ms) of the cases that have one. */
  get deadlines(): ReadonlyMap<string, number> {
    return this.#deadlines;
  }

  /** Case ids that hold an event. */
  casesOfEvent(eventId: string): readonly string[] {
    return this.#byEvent.get(eventId) ?? [];
  }

  list(f: CaseFilter = {}): CaseRecord[] {
    const ids = f.ids ? new Set(f.ids) : null;
    const out: CaseRecord[] = [];
    for (const { record: c } of this.#cases.values()) {
      if (ids && !ids.has(c.id)) continue;
      if (f.category && c.category !== f.category) continue;
      if (f.state && c.state !== f.state) continue;
      if (f.open !== undefined && OPEN_STATES.has(c.state) !== f.open) continue;
      if (f.department && c.department !== f.department) continue;
      if (f.area && !c.place.path.includes(f.area)) continue;
      if (f.from && c.created_at < f.from.toISOString()) continue;
      if (f.to && c.created_at > f.to.toISOString()) continue;
      out.push(c);
    }
    out.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    return out.slice(0, f.limit ?? 1000);
  }

  /**
   * The nearest open, unresolved case of the event's category within `routing.merge_radius_m`
   * whose last report is within `routing.merge_window_s` of the event; null when none is.
   */
  findOpenCase(e: GridEventT): CaseRecord | null {
    const t = Date.parse(e.confirmed_at);
    return this.#nearest(e, (c) => OPEN_STATES.has(c.state) && c.state !== 'resolved' && Math.abs(t - Date.parse(c.last_report_at)) <= this.#windowMs);
  }

  /**
   * The closed case of the event's category within the merge radius that it repeats: closed at
   * most `windowMs` before the event (重复案件). Cases past retention are gone, and not found.
   */
  findRepeated(e: GridEventT, windowMs: number): CaseRecord | null {
    const t = Date.parse(e.confirmed_at);
    return this.#nearest(e, (c) => c.state === 'closed' && Date.parse(c.updated_at) <= t && t - Date.parse(c.updated_at) <= windowMs);
  }

  #nearest(e: GridEventT, ok: (c: CaseRecord) => boolean): CaseRecord | null {
    const [bx, by] = this.#bucketOf(e.place.lat, e.place.lon);
    let best: CaseRecord | null = null;
    let bestD = Infinity;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const id of this.#buckets.get(`${e.category}:${bx + dx}:${by + dy}`) ?? []) {
          const c = this.#cases.get(id)?.record;
          if (!c || !ok(c)) continue;
          const d = haversineM(c.place.lat, c.place.lon, e.place.lat, e.place.lon);
          if (d <= this.#radiusM && d < bestD) (best = c), (bestD = d);
        }
      }
    }
    return best;
  }

}
