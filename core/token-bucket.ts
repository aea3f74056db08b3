/**
 * A rate limit of `perS` a second, of which one second's worth (at least one) may be saved up;
 * refilled from `clock` (milliseconds, performance.now by default) whenever it is asked.
 * A rate that is not finite never limits.
 */
export class TokenBucket {
  readonly perS: number;
  readonly #clock: () => number;
  #tokens: number;
  #refilledAt: number;

  constructor(perS: number, clock: () => number = () => performance.now()) {
    this.perS = perS;
    this.#clock = clock;
    this.#tokens = Math.max(1, perS);
    this.#refilledAt = clock();
  }

  /** Whether a token is there now. */
  get ready(): boolean {
    this.#refill();
    return this.#tokens >= 1;
  }

  /** Takes a token when there is one; false when the rate is spent for now. */
  take(): boolean {
    if (!this.ready) return false;
    this.#tokens -= 1;
    return true;
  }

  #refill(): void {
    if (!Number.isFinite(this.perS)) { this.#tokens = Infinity; return; }
    const now = this.#clock();
    this.#tokens = Math.min(Math.max(1, this.perS), this.#tokens + ((now - this.#refilledAt) / 1000) * this.perS);
    this.#refilledAt = now;
  }
}
