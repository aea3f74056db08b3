/**
 * The last N message keys, to drop MQTT redeliveries (QoS 1 is at least once). A Set for lookup
 * and a ring of the same keys for first-in-first-out eviction: O(1) per message, bounded memory.
 */
export class RecentKeys {
  readonly #set = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(readonly capacity: number) {
    this.#ring = new Array(Math.max(0, capacity));
  }

  /** Adds the key; false when it was already there. */
  add(key: string): boolean {
    if (this.capacity === 0) return true;
    if (this.#set.has(key)) return false;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.capacity;
    this.#set.add(key);
    return true;
  }

  get size(): number {
    return this.#set.size;
  }
}
