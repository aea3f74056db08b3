import { Kvm, KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { QueuedIterator } from '@nats-io/transport-node';
import type { Logger } from '../core/index.ts';
import { CASE_RULES, type CaseRecord } from '../domain/index.ts';
import type { Activity } from './activity.ts';
import type { CaseView } from './view.ts';
import type { CaseWriter } from './writer.ts';

export const DISMISSALS_BUCKET = 'gw_dismissals';

/** An operator's verdict that a camera event was a false positive, kept until case retention ends. */
export interface Dismissal {
  readonly event_id: string;
  readonly actor: string;
  readonly reason: string;
  readonly at: string;
}

export interface DismissalsDeps {
  readonly js: JetStreamClient;
  readonly view: CaseView;
  readonly writer: CaseWriter;
  readonly activity: Activity;
  readonly log: Logger;
  /** Whether this instance is the active router (only it acts on dismissals other nodes wrote). */
  readonly active: () => boolean;
  /** How long a dismissal is kept: `routing.keep_closed_days`. */
  readonly keepMs: number;
  readonly replicas?: number | undefined;
  readonly stopped: () => boolean;
}

const enc = new TextEncoder();
const INVALIDATE_FROM: ReadonlySet<string | null> = new Set<string | null>(CASE_RULES.invalidate.from);

/**
 * Dismissing an alert always wins. A dismissal is written to the `gw_dismissals` bucket before
 * anything else, and every node keeps the bucket in memory (a KV watch). Then whichever comes
 * second makes the case invalid: the dismissal (its cases, as the view holds them, are
 * invalidated at once) or the event (intake creates its case invalid, never dispatched, or
 * invalidates it right after the write when the dismissal came in between; before making a case
 * intake reads the bucket itself, as another node's dismissal may not have reached its watch).
 * A dismissal written on another node reaches the active router by the watch, which invalidates
 * the cases it holds; a new active router goes through every dismissal once. Invalidation is a
 * compare-and-set with retries on conflicts, and a case another report joined stays (it is real
 * whatever the alert was): a case is invalidated only when every report in it was dismissed.
 */
export class Dismissals {
  readonly #d: DismissalsDeps;
  readonly #byEvent = new Map<string, Dismissal>();
  #kv: KV | null = null;
  #watch: QueuedIterator<KvWatchEntry> | null = null;

  constructor(deps: DismissalsDeps) {
    this.#d = deps;
  }

  /** Opens (or creates) the bucket, starts the watch, then reads what is there. */
  async open(): Promise<void> {
    const kvm = new Kvm(this.#d.js);
    const replicas = this.#d.replicas;
    this.#kv = await kvm.create(DISMISSALS_BUCKET, { history: 1, ttl: this.#d.keepMs, ...(replicas ? { replicas } : {}) }).catch(() => kvm.open(DISMISSALS_BUCKET));
    await this.#startWatch(0);
    for await (const key of await this.#kv.keys()) {
      const e = await this.#kv.get(key);
      if (e && e.operation === 'PUT' && e.value.length > 0) this.#remember(e.json<Dismissal>());
    }
  }

  close(): void {
    const w = this.#watch;
    this.#watch = null;
    w?.stop();
  }

  /** The dismissal of an event, if an operator dismissed its alert, as this node's watch holds it. */
  get(eventId: string): Dismissal | undefined {
    return this.#byEvent.get(eventId);
  }

  /**
   * The dismissal of an event, read from the bucket itself when the watch has none: a dismissal
   * another node wrote a moment ago may not have reached this node's watch yet. Intake asks this
   * once per new case, so that an alert dismissed before its event came is never dispatched.
   */
  async lookup(eventId: string): Promise<Dismissal | undefined> {
    const known = this.#byEvent.get(eventId);
    if (known || !this.#kv) return known;
    const e = await this.#kv.get(kvKey(eventId));
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    try {
      this.#remember(e.json<Dismissal>());
    } catch {
      return undefined; // not a dismissal gridwatch wrote: the case goes on as if none
    }
    return this.#byEvent.get(eventId);
  }

  /**
   * Records the dismissal (durably), then invalidates the cases of the event this node's view
   * holds; returns their ids. A case made later is invalidated by intake or the active router.
   */
  async dismiss(eventId: string, actor: string, reason: string): Promise<string[]> {
    const d: Dismissal = { event_id: eventId, actor, reason, at: new Date().toISOString() };
    this.#remember(d);
    await this.#kv!.put(kvKey(eventId), enc.encode(JSON.stringify(d)));
    return this.reconcile(eventId);
  }

  /** Invalidates the cases of a dismissed event that are still open and hold only dismissed reports. */
  async reconcile(eventId: string): Promise<string[]> {
    const d = this.#byEvent.get(eventId);
    if (!d) return [];
    const done: string[] = [];
    for (const id of this.#d.view.casesOfEvent(eventId)) {
      try {
        const e = await this.#d.writer.mutate(id, (c) => (this.#invalidates(c) ? [{ action: 'invalidate', actor: d.actor, at: new Date(), reason: `alert dismissed: ${d.reason}`, event_id: eventId }] : []));
        if (e.record.state === 'invalid') done.push(id);
      } catch (err) {
        this.#d.activity.fail(`dismissal of ${eventId}: ${(err as Error).message}`);
        this.#d.log.error({ event: eventId, case: id, err: (err as Error).message }, 'the case of a dismissed alert was not invalidated');
      }
    }
    return done;
  }

  /** Whether a case should end invalid: open, and every report in it dismissed. */
  #invalidates(c: CaseRecord): boolean {
    return INVALIDATE_FROM.has(c.state) && c.reports.length > 0 && c.reports.every((r) => this.#byEvent.has(r.event_id));
  }

  /** A new active router goes through every dismissal once (some may have come while none was active). */
  async reconcileAll(): Promise<void> {
    for (const id of [...this.#byEvent.keys()]) await this.reconcile(id);
  }

  #remember(d: Dismissal): void {
    if (typeof d?.event_id !== 'string') return;
    this.#byEvent.set(d.event_id, d);
    // The bucket forgets after keepMs (its TTL); so does the map.
    const cutoff = Date.now() - this.#d.keepMs;
    for (const [id, x] of this.#byEvent) {
      if (Date.parse(x.at) >= cutoff) break;
      this.#byEvent.delete(id);
    }
  }

  async #startWatch(fromRevision: number): Promise<void> {
    const kv = this.#kv!;
    const watch = await kv.watch(fromRevision > 0 ? { resumeFromRevision: fromRevision } : { include: KvWatchInclude.UpdatesOnly });
    this.#watch = watch;
    let last = fromRevision;
    void (async () => {
      try {
        for await (const e of watch) {
          last = Math.max(last, e.revision);
          if (e.operation !== 'PUT' || e.value.length === 0) continue;
          const d = e.json<Dismissal>();
          const fresh = !this.#byEvent.has(d.event_id);
          this.#remember(d);
          // Another node's dismissal: the active router holds the cases intake made.
          if (fresh && this.#d.active()) void this.reconcile(d.event_id);
        }
      } catch (err) {
        this.#d.activity.fail(`dismissals watch: ${(err as Error).message}`);
      }
      if (this.#watch !== watch || this.#d.stopped()) return;
      await new Promise((r) => setTimeout(r, 1000));
      if (this.#watch === watch && !this.#d.stopped()) await this.#startWatch(last + 1).catch((err) => this.#d.activity.fail(`dismissals watch: ${(err as Error).message}`));
    })();
  }
}

/** Event ids are free text; KV keys are subject tokens. */
function kvKey(eventId: string): string {
  return /^[A-Za-z0-9_=-]+$/.test(eventId) ? eventId : `b64.${Buffer.from(eventId).toString('base64url')}`;
}
