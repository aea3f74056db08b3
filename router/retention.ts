import type { City } from '../config/index.ts';
import type { Logger } from '../core/index.ts';
import type { Activity } from './activity.ts';
import { isCasConflict, type CaseStore } from './store.ts';
import type { CaseView } from './view.ts';

/** The most time between two sweeps for closed cases past their retention. */
const SWEEP_EVERY_MS = 600_000;

/** How long closed and invalid cases are kept after their last step (`routing.keep_closed_days`). */
export const keepClosedMs = (city: City): number => city.config.routing.keep_closed_days * 86_400_000;

export interface RetentionDeps {
  readonly city: City;
  readonly store: CaseStore;
  readonly view: CaseView;
  readonly activity: Activity;
  readonly log: Logger;
  /** Whether this instance is the active one; a sweep stops when it no longer is. */
  readonly active: () => boolean;
}

/**
 * The active instance removes closed and invalid cases whose last step is older than
 * routing.keep_closed_days from the bucket (by compare-and-set: one reopened meanwhile stays);
 * every node's watch then drops them from memory, and its log in GW_CASE_LOG goes too. Their
 * rows stay in ClickHouse.
 */
export class Retention {
  readonly #store: CaseStore;
  readonly #view: CaseView;
  readonly #activity: Activity;
  readonly #log: Logger;
  readonly #active: () => boolean;
  readonly #keepClosedMs: number;
  #lastSweepAt = Date.now();
  #sweeping = false;

  constructor(deps: RetentionDeps) {
    this.#store = deps.store;
    this.#view = deps.view;
    this.#activity = deps.activity;
    this.#log = deps.log;
    this.#active = deps.active;
    this.#keepClosedMs = keepClosedMs(deps.city);
  }

  /**
   * Logs of cases that are no longer in the bucket (removed before logs went with their cases, or
   * a crash between the two): dropped when an instance becomes active.
   */
  async dropOrphanLogs(): Promise<void> {
    let dropped = 0;
    for (const id of (await this.#store.loggedCounts()).keys()) {
      if (this.#view.entry(id) || (await this.#store.get(id))) continue;
      await this.#store.removeLog(id);
      dropped++;
    }
    if (dropped) this.#log.info({ dropped }, 'case logs of removed cases dropped');
  }

  /** On each tick: sweeps when the last sweep is long enough ago (at most every 10 minutes). */
  tick(now: number): void {
    if (now - this.#lastSweepAt >= Math.min(SWEEP_EVERY_MS, this.#keepClosedMs / 4)) {
      this.#lastSweepAt = now;
      void this.#sweep(now);
    }
  }

  async #sweep(now: number): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    let removed = 0;
    try {
      for (const { record: c, revision } of [...this.#view.entries()]) {
        if (!this.#active()) break;
        if ((c.state !== 'closed' && c.state !== 'invalid') || now - Date.parse(c.updated_at) < this.#keepClosedMs) continue;
        try {
          await this.#store.remove(c.id, revision);
        } catch (err) {
          if (isCasConflict(err)) continue;
          throw err;
        }
        this.#view.forget(c.id);
        await this.#store.removeLog(c.id);
        removed++;
      }
    } catch (err) {
      this.#activity.fail(`removing closed cases: ${(err as Error).message}`);
    } finally {
      this.#sweeping = false;
    }
    if (removed) this.#log.info({ removed, keep_closed_days: this.#keepClosedMs / 86_400_000, cases: this.#view.size }, 'closed cases past their retention removed');
  }
}
