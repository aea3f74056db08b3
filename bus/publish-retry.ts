import type { JetStreamClient } from '@nats-io/jetstream';
import type { GridEventT } from '../domain/index.ts';
import { publishEvent } from './events.ts';

export interface PublishRetryOptions {
  /** tries in all; 8 unless given */
  readonly attempts?: number;
  /** checked after a failed try: once aborted (shutdown), no more tries */
  readonly signal?: AbortSignal;
  /** called once when the event is not published: the last error and how many tries were made */
  readonly onGiveUp: (err: unknown, attempts: number) => void;
}

/** The wait after failed try `attempt` (1-based): 200 ms, 400 ms, … at most 5 s. */
export const publishBackoffMs = (attempt: number): number => Math.min(5000, 100 * 2 ** attempt);

/**
 * Publishes one event to JetStream (`publishEvent`, deduplicated by its id, so a retry never
 * makes a second message), trying again with back-off while it fails. Resolves true once
 * published, false after the last try (or on abort), when `onGiveUp` has been told; never rejects.
 */
export async function publishWithRetry(js: JetStreamClient, event: GridEventT, opts: PublishRetryOptions): Promise<boolean> {
  const attempts = opts.attempts ?? 8;
  for (let attempt = 1; ; attempt++) {
    try {
      await publishEvent(js, event);
      return true;
    } catch (err) {
      if (attempt >= attempts || opts.signal?.aborted) {
        opts.onGiveUp(err, attempt);
        return false;
      }
      await new Promise((r) => setTimeout(r, publishBackoffMs(attempt)));
    }
  }
}
