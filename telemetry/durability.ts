interface Waiter {
  /** the highest batch number it waits for */
  readonly upTo: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * Which sealed batches are not yet safe (neither on disk nor in ClickHouse), and who waits for
 * them. A batch is safe once its journal or spool file is synced, or once ClickHouse has it; it is
 * lost when it is dropped (spool full, disk failing). A waiter is told once every batch up to its
 * number is safe, or as soon as one of them is lost.
 */
export class Durability {
  readonly #unsafe = new Set<number>();
  #waiters: Waiter[] = [];

  sealed(seq: number): void {
    this.#unsafe.add(seq);
  }

  safe(seq: number): void {
    if (!this.#unsafe.delete(seq)) return;
    this.#settle();
  }

  lost(seq: number, why: string): void {
    if (!this.#unsafe.delete(seq)) return;
    const err = new Error(`telemetry rows not stored: ${why}`);
    this.#waiters = this.#waiters.filter((w) => (w.upTo >= seq ? (w.reject(err), false) : true));
    this.#settle();
  }

  /** Resolves once every batch numbered up to `upTo` is safe. */
  wait(upTo: number): Promise<void> {
    if (this.#oldestUnsafe() > upTo) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ upTo, resolve, reject }));
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  #oldestUnsafe(): number {
    let min = Infinity;
    for (const s of this.#unsafe) if (s < min) min = s;
    return min;
  }

  #settle(): void {
    if (!this.#waiters.length) return;
    const oldest = this.#oldestUnsafe();
    this.#waiters = this.#waiters.filter((w) => (w.upTo < oldest ? (w.resolve(), false) : true));
  }
}
