import type { Counter, Logger } from '../core/index.ts';
import { applyAction, type ActionInput, type CaseRecord, type Transition } from '../domain/index.ts';
import { CaseActionError } from './errors.ts';
import { isCasConflict, type CaseStore, type Entry } from './store.ts';
import type { CaseView } from './view.ts';

/** A transition's effects (dispatch order, notice, log entry), published after the write. */
export type Effect = () => Promise<void>;

export interface MutateOptions {
  /** The revision the caller saw; another one is a `conflict`, and there is no retry. */
  readonly revision?: number;
  /** Attempts after a lost compare-and-set (8 unless `revision` is set). */
  readonly retries?: number;
  /** Read the case from the bucket, not from the view. */
  readonly fresh?: boolean;
  /** Collect the effects here instead of publishing them before returning. */
  readonly effects?: Effect[];
}

export interface CaseWriterDeps {
  readonly store: CaseStore;
  readonly view: CaseView;
  readonly log: Logger;
  readonly transitions: Counter<'action'> | null;
}

/**
 * Every case write: compare-and-set with retry, new cases, the effects of each transition, and,
 * after a crash, the effects a crash cut short. Each write goes into the view at once, marked as
 * this instance's own, so that its listeners hear each transition once and as local.
 */
export class CaseWriter {
  readonly #store: CaseStore;
  readonly #view: CaseView;
  readonly #log: Logger;
  readonly #transitions: Counter<'action'> | null;

  constructor(deps: CaseWriterDeps) {
    this.#store = deps.store;
    this.#view = deps.view;
    this.#log = deps.log;
    this.#transitions = deps.transitions;
  }

  /**
   * Reads, applies actions and writes by compare-and-set. Internal actors retry on a conflict;
   * with `revision` set (acks, console) a conflict is the caller's answer instead. `plan` returns
   * the actions to apply (none: nothing to do) or the error to throw.
   */
  async mutate(id: string, plan: (c: CaseRecord) => ActionInput[] | CaseActionError, opts: MutateOptions = {}): Promise<Entry> {
    const retries = opts.revision !== undefined ? 0 : (opts.retries ?? 8);
    for (let attempt = 0; ; attempt++) {
      const entry = opts.fresh || attempt > 0 ? await this.#store.get(id) : (this.#view.entry(id) ?? (await this.#store.get(id)));
      if (!entry) throw new CaseActionError('unknown_case', `no case ${id}`, { case: id });
      if (opts.revision !== undefined && opts.revision !== entry.revision) throw new CaseActionError('conflict', `case ${id} changed (revision ${entry.revision}, you sent ${opts.revision}); read it again`, { case: id, revision: entry.revision });
      const inputs = plan(entry.record);
      if (inputs instanceof CaseActionError) throw inputs;
      if (inputs.length === 0) return entry;
      let c = entry.record;
      const ts: Transition[] = [];
      for (const input of inputs) {
        const out = applyAction(c, input);
        if (!out.ok) {
          // The same action just applied by someone else: a lost race (two clerks signing at
          // once), answered as a conflict rather than as an illegal transition.
          const last = c.history[c.history.length - 1];
          if (last?.action === input.action && input.action !== 'report') throw new CaseActionError('conflict', `case ${id} was already ${c.state} by ${last.actor} at ${last.at} (revision ${entry.revision})`, { case: id, state: c.state, revision: entry.revision });
          throw new CaseActionError('illegal_transition', out.reason, { case: id, state: c.state, action: input.action });
        }
        c = out.record;
        ts.push(out.transition);
      }
      let revision: number;
      const keys = this.#view.claim(id, ts);
      try {
        revision = await this.#store.update(c, entry.revision);
      } catch (err) {
        this.#view.release(keys);
        if (!isCasConflict(err)) throw err;
        if (attempt >= retries) throw new CaseActionError('conflict', `case ${id} was changed concurrently; read it again`, { case: id });
        continue;
      }
      const next = { record: c, revision };
      // Listeners hear each transition once: here, or already from the watch if it came first.
      this.#view.apply(next, true);
      for (const t of ts) {
        this.#transitions?.inc({ action: t.action });
        if (opts.effects) opts.effects.push(() => this.emit(c, t, revision));
        else await this.emit(c, t, revision);
      }
      return next;
    }
  }

  /**
   * Creates a case; when it exists already (a retry of an interrupted attempt), the stored one
   * is returned instead.
   */
  async create(c: CaseRecord): Promise<Entry> {
    const keys = this.#view.claim(c.id, c.history);
    const rev = await this.#store.create(c).catch((err) => (this.#view.release(keys), Promise.reject(err)));
    if (rev === null) this.#view.release(keys);
    const entry = rev === null ? await this.#store.get(c.id) : { record: c, revision: rev };
    if (!entry) throw new Error(`case ${c.id} vanished while being created`);
    this.#view.apply(entry, true);
    return entry;
  }

  /** Publishes one transition's effects (deduplicated by JetStream on `caseId:seq`). */
  async emit(c: CaseRecord, t: Transition, revision: number): Promise<void> {
    await this.#store.emit(c, t, revision);
  }

  /** After a crash: publish the effects of transitions that were written but not logged. */
  async completeEffects(): Promise<void> {
    const counts = await this.#store.loggedCounts();
    let redone = 0;
    for (const { record: c, revision } of this.#view.entries()) {
      const logged = counts.get(c.id) ?? 0;
      if (logged >= c.seq) continue;
      // Effects of concurrent events may land out of order, so recent transitions are all
      // published again (JetStream drops those it has); older ones only past the logged count.
      const recent = Date.now() - 540_000;
      for (const t of c.history) if (t.seq > logged || Date.parse(t.at) > recent) (await this.emit(c, t, revision), redone++);
    }
    if (redone) this.#log.info({ redone }, 'published effects that a crash cut short');
  }
}
