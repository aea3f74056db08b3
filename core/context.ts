import type { Logger } from './log.ts';
import type { Registry } from './metrics.ts';
import type { HealthRegistry } from './health.ts';

/**
 * What every component's `build(ctx)` receives: a logger, the metrics registry, the health
 * registry, the data folder, and a signal that aborts when the engine shuts down.
 */
export interface BuildContext {
  readonly log: Logger;
  readonly metrics: Registry;
  readonly health: HealthRegistry;
  readonly dataDir: string;
  readonly signal: AbortSignal;
}

/** Long-lived things (servers, pools, sessions) have a start, a stop and a readable status. */
export interface Lifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
}
