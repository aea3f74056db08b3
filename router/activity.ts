/** How long the last error keeps the router's health degraded. */
const ERROR_SHOWN_MS = 60_000;

/**
 * What the router's parts report to its facade: the work in flight (events, acks, deadlines),
 * which `follow()` and `stop()` wait for, and the last error, which health shows for a minute.
 */
export class Activity {
  #inflight = 0;
  #errorText = '';
  #errorAt = 0;

  get inflight(): number {
    return this.#inflight;
  }

  begin(): void {
    this.#inflight++;
  }

  end(): void {
    this.#inflight--;
  }

  /** The last error, while it is recent; '' otherwise. */
  get lastError(): string {
    return Date.now() - this.#errorAt < ERROR_SHOWN_MS ? this.#errorText : '';
  }

  fail(message: string): void {
    this.#errorText = message;
    this.#errorAt = Date.now();
  }

  /** What failed works again. */
  recover(): void {
    this.#errorText = '';
  }

  /** Waits until nothing is in flight, at most `maxMs`. */
  async settle(maxMs: number): Promise<void> {
    const until = Date.now() + maxMs;
    while (this.#inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }
}
