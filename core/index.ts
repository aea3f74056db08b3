export { GridwatchError, errorMessage } from './errors.ts';
export { writeFileAtomic, writeFileAtomicSync, type AtomicWriteOptions } from './atomic-file.ts';
export {
  HTTP_ERROR_SCHEMA, httpErrorBody, sendHttpError, httpErrorAnswer, httpErrorHandler, httpNotFoundHandler, handleHttpErrors,
  type HttpErrorBody, type HttpErrorAnswer,
} from './http-error.ts';
export { createLogger, silentLogger, type Logger } from './log.ts';
export { HealthRegistry, type ComponentHealth, type HealthSource, type HealthState } from './health.ts';
export { createMetricsRegistry, stageCounters, Counter, Gauge, Histogram, Registry, type StageCounters } from './metrics.ts';
export { freePort, waitForPort } from './net.ts';
export { seededRandom } from './random.ts';
export { TokenBucket } from './token-bucket.ts';
