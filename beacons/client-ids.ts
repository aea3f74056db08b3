/**
 * Which principal owns which MQTT client id. MQTT lets a new connection with a client id take
 * over the session of the old one: the old connection is closed and its last will published. So
 * a terminal that knew another's client id could knock it off the map and mark it offline. Here
 * a client id belongs to the principal that first logged in with it, for as long as it is
 * connected, and, for a persistent session (clean = false), after that too: another principal is
 * refused with "identifier rejected". The same principal may take its own session over (a
 * reconnect after a dropped network).
 */
export class ClientIds {
  readonly #owner = new Map<string, string>();
  /** per owner, the client ids it holds, oldest first (a Set keeps insertion order) */
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #maxPerOwner: number;

  /** `maxPerOwner` bounds what one principal can make the broker remember (persistent sessions with ever new ids). */
  constructor(maxPerOwner = 64) {
    this.#maxPerOwner = maxPerOwner;
  }

  /** Claims `clientId` for `owner`; false when another principal holds it. */
  claim(clientId: string, owner: string): boolean {
    const held = this.#owner.get(clientId);
    if (held !== undefined && held !== owner) return false;
    let ids = this.#byOwner.get(owner);
    if (!ids) this.#byOwner.set(owner, (ids = new Set()));
    ids.delete(clientId);
    ids.add(clientId);
    this.#owner.set(clientId, owner);
    // The oldest ids of a principal with too many are forgotten (they are its own sessions).
    for (const old of ids) {
      if (ids.size <= this.#maxPerOwner) break;
      ids.delete(old);
      this.#owner.delete(old);
    }
    return true;
  }

  /** A connection with this id ended and left no persistent session behind. */
  release(clientId: string): void {
    const owner = this.#owner.get(clientId);
    if (owner === undefined) return;
    this.#owner.delete(clientId);
    const ids = this.#byOwner.get(owner);
    ids?.delete(clientId);
    if (ids && ids.size === 0) this.#byOwner.delete(owner);
  }

  get size(): number {
    return this.#owner.size;
  }
}
