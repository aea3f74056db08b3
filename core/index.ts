export { GridwatchError, errorMessage } from './errors.ts';
export { createLogger, silentLogger, type Logger } from './log.ts';
export { HealthRegistry, type ComponentHealth, type HealthSource, type HealthState } from './health.ts';
export { createMetricsRegistry, stageCounters, Counter, Gauge, Histogram, Registry, type StageCounters } from './metrics.ts';
export type { BuildContext, Lifecycle } from './context.ts';
export { freePort, waitForPort } from './net.ts';
export { seededRandom } from './random.ts';
