import type { Logger } from '../core/index.ts';

/** Callbacks for one kind of news; a listener that throws is logged and never stops the others. */
export class Listeners<T> {
  readonly #set = new Set<(v: T) => void>();
  readonly #log: Logger;
  readonly #failed: string;

  /** `failed` is the log message for a listener that throws. */
  constructor(log: Logger, failed: string) {
    this.#log = log;
    this.#failed = failed;
  }

  /** Adds a listener; returns its unsubscribe. */
  add(listener: (v: T) => void): () => void {
    this.#set.add(listener);
    return () => this.#set.delete(listener);
  }

  get size(): number {
    return this.#set.size;
  }

  emit(v: T): void {
    for (const l of this.#set) {
      try {
        l(v);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, this.#failed);
      }
    }
  }
}
