/** What one MQTT client may make the embedded broker hold. */
export interface BrokerLimits {
  /** the largest packet before log-in: the CONNECT with its client id, credentials and will */
  readonly connectBytes: number;
  /** the largest packet after log-in: a report with its photo (the engine derives it from `beacons`) */
  readonly packetBytes: number;
  /** a retained message over this is delivered but not kept */
  readonly retainedBytes: number;
  /** topics with a retained message, at most; past it new ones are delivered but not kept */
  readonly retainedTopics: number;
  /** open connections from one address, at most (0: no limit) */
  readonly connectionsPerAddress: number;
  /** a connection that has not sent its CONNECT by then is closed */
  readonly connectTimeoutMs: number;
}

export const BROKER_LIMITS: BrokerLimits = Object.freeze({
  connectBytes: 16 * 1024,
  packetBytes: 4 * 1024 * 1024,
  retainedBytes: 4096,
  retainedTopics: 10_000,
  connectionsPerAddress: 100,
  connectTimeoutMs: 10_000,
});

/**
 * The topics that hold a retained message. aedes keeps every retained message for as long as it
 * runs, so their size and number are capped here; an empty retained message clears its topic.
 */
export class RetainedTopics {
  readonly #topics = new Set<string>();
  readonly #maxBytes: number;
  readonly #maxTopics: number;

  constructor(maxBytes: number, maxTopics: number) {
    this.#maxBytes = maxBytes;
    this.#maxTopics = maxTopics;
  }

  /** Whether a retained message of `bytes` on `topic` may be kept. */
  keep(topic: string, bytes: number): boolean {
    if (bytes === 0) {
      this.#topics.delete(topic);
      return true;
    }
    if (bytes > this.#maxBytes) return false;
    if (!this.#topics.has(topic) && this.#topics.size >= this.#maxTopics) return false;
    this.#topics.add(topic);
    return true;
  }

  get size(): number {
    return this.#topics.size;
  }
}
