/**
 * Limits on log-in attempts, decided before any password is hashed and counted at once (an
 * attempt in flight counts as a failure until it succeeds), so parallel guesses cannot slip
 * past a count read before the slow hash.
 *
 * - Per address: a token bucket (`addressBurst` attempts, one more every `addressRefillMs`), so
 *   one address can neither guess fast nor spray thousands of user names.
 * - Per user name and source: after `sourceFailures` failures, back-off doubling from `backoffMs`
 *   up to `backoffMaxMs`. The source is the browser's device cookie when it has one for that user
 *   (it logged in as that user before), else the address: an attacker's failures lock the
 *   attacker's source, not the real user.
 * - Per user name, over all sources: after `userFailures` failures, sources without a device
 *   cookie for that user back off too (slow, distributed guessing). Browsers the user logged in
 *   from before are not affected, so one failure a minute cannot keep `admin` out.
 *
 * Every table is bounded (`maxEntries`); when one is full, entries that hold no lock go first,
 * so spraying names never clears a lock.
 */
export interface LoginLimitOptions {
  readonly addressBurst?: number;
  readonly addressRefillMs?: number;
  readonly sourceFailures?: number;
  readonly userFailures?: number;
  readonly backoffMs?: number;
  readonly backoffMaxMs?: number;
  /** failures older than this are forgotten when nothing is locked */
  readonly forgetMs?: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export type LoginRefusal = { readonly code: 'CONSOLE_LOGIN_THROTTLED' | 'CONSOLE_LOGIN_LOCKED'; readonly retryAfterS: number; readonly message: string };

interface Failures { failures: number; pending: number; lockedUntil: number; lastAt: number }
interface Bucket { tokens: number; at: number }

/** One attempt that passed the limits; say how it ended exactly once. */
export interface LoginAttempt {
  succeeded(): void;
  failed(): void;
}

export class LoginLimits {
  readonly #o: Required<Omit<LoginLimitOptions, 'now'>>;
  readonly #now: () => number;
  readonly #addresses = new Map<string, Bucket>();
  readonly #sources = new Map<string, Failures>();
  readonly #users = new Map<string, Failures>();

  constructor(o: LoginLimitOptions = {}) {
    this.#o = {
      addressBurst: o.addressBurst ?? 10, addressRefillMs: o.addressRefillMs ?? 6_000,
      sourceFailures: o.sourceFailures ?? 5, userFailures: o.userFailures ?? 20,
      backoffMs: o.backoffMs ?? 60_000, backoffMaxMs: o.backoffMaxMs ?? 15 * 60_000,
      forgetMs: o.forgetMs ?? 30 * 60_000, maxEntries: o.maxEntries ?? 50_000,
    };
    this.#now = o.now ?? Date.now;
  }

  /** Entries held, for tests and metrics. */
  get size(): { addresses: number; sources: number; users: number } {
    return { addresses: this.#addresses.size, sources: this.#sources.size, users: this.#users.size };
  }

  /**
   * Checks and counts one attempt for `username` from `address`; `device` is the id of a device
   * cookie valid for this user name, if the browser sent one. A refusal costs no hashing.
   */
  begin(username: string, address: string, device?: string): LoginAttempt | LoginRefusal {
    const now = this.#now();
    const throttled = this.#takeToken(address, now);
    if (throttled) return throttled;
    const sourceKey = `${username}\u0000${device ? `d:${device}` : `a:${address}`}`;
    const source = this.#entry(this.#sources, sourceKey, now);
    if (!source) return this.#busy();
    const sourceWait = this.#wait(source, this.#o.sourceFailures, now);
    if (sourceWait > 0) return { code: 'CONSOLE_LOGIN_LOCKED', retryAfterS: Math.ceil(sourceWait / 1000), message: 'too many failed log-ins for this user from here; try again later' };
    const user = this.#entry(this.#users, username, now);
    if (!user) return this.#busy();
    if (!device) {
      const userWait = this.#wait(user, this.#o.userFailures, now);
      if (userWait > 0) return { code: 'CONSOLE_LOGIN_LOCKED', retryAfterS: Math.ceil(userWait / 1000), message: 'too many failed log-ins for this user; try again later, or from a browser that logged in as this user before' };
    }
    source.pending++;
    user.pending++;
    let done = false;
    return {
      succeeded: () => {
        if (done) return;
        done = true;
        source.pending--;
        user.pending--;
        this.#sources.delete(sourceKey);
      },
      failed: () => {
        if (done) return;
        done = true;
        const at = this.#now();
        this.#fail(source, this.#o.sourceFailures, at);
        this.#fail(user, this.#o.userFailures, at);
      },
    };
  }

  /** How long this entry must wait; attempts in flight count as failures already. */
  #wait(f: Failures, threshold: number, now: number): number {
    if (f.lockedUntil > now) return f.lockedUntil - now;
    if (f.failures + f.pending >= threshold) return f.pending > 0 ? 1000 : 0;
    return 0;
  }

  #fail(f: Failures, threshold: number, at: number): void {
    f.pending--;
    f.failures++;
    f.lastAt = at;
    if (f.failures >= threshold) {
      const doublings = Math.min(f.failures - threshold, 20);
      f.lockedUntil = at + Math.min(this.#o.backoffMs * 2 ** doublings, this.#o.backoffMaxMs);
    }
  }

  #takeToken(address: string, now: number): LoginRefusal | null {
    let b = this.#addresses.get(address);
    if (!b) {
      if (this.#addresses.size >= this.#o.maxEntries) this.#evict(this.#addresses, (x) => this.#refill(x, now) >= this.#o.addressBurst);
      if (this.#addresses.size >= this.#o.maxEntries) return this.#busy();
      b = { tokens: this.#o.addressBurst, at: now };
      this.#addresses.set(address, b);
    }
    b.tokens = this.#refill(b, now);
    b.at = now;
    if (b.tokens < 1) return { code: 'CONSOLE_LOGIN_THROTTLED', retryAfterS: Math.ceil(((1 - b.tokens) * this.#o.addressRefillMs) / 1000), message: 'too many log-in attempts from this address; slow down' };
    b.tokens -= 1;
    return null;
  }

  #refill(b: Bucket, now: number): number {
    return Math.min(this.#o.addressBurst, b.tokens + (now - b.at) / this.#o.addressRefillMs);
  }

  #entry(map: Map<string, Failures>, key: string, now: number): Failures | null {
    let f = map.get(key);
    if (f && f.pending === 0 && f.lockedUntil <= now && now - f.lastAt > this.#o.forgetMs) {
      map.delete(key);
      f = undefined;
    }
    if (f) return f;
    if (map.size >= this.#o.maxEntries) this.#evict(map, (x) => x.pending === 0 && x.lockedUntil <= now);
    if (map.size >= this.#o.maxEntries) return null;
    f = { failures: 0, pending: 0, lockedUntil: 0, lastAt: now };
    map.set(key, f);
    return f;
  }

  /** Frees a tenth of a full table, oldest first, taking only entries that hold no lock. */
  #evict<V>(map: Map<string, V>, free: (v: V) => boolean): void {
    let want = Math.max(1, Math.floor(this.#o.maxEntries / 10));
    for (const [k, v] of map) {
      if (want === 0) break;
      if (free(v)) (map.delete(k), want--);
    }
  }

  #busy(): LoginRefusal {
    return { code: 'CONSOLE_LOGIN_THROTTLED', retryAfterS: 60, message: 'too many log-in attempts right now; try again in a minute' };
  }
}

export function isRefusal(x: LoginAttempt | LoginRefusal): x is LoginRefusal {
  return 'code' in x;
}
