import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

/** One Prometheus registry per engine, so that tests can run several engines in one process. */
export function createMetricsRegistry(options: { defaults?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'gridwatch_' });
  return registry;
}

/**
 * The telemetry contract every stage follows: received, sent, dropped (with a reason) and errors.
 * Handles are made once at build time; the hot path only calls `inc`.
 */
export interface StageCounters {
  readonly received: Counter<'stage'>;
  readonly sent: Counter<'stage'>;
  readonly dropped: Counter<'stage' | 'reason'>;
  readonly errors: Counter<'stage' | 'code'>;
}

const countersByRegistry = new WeakMap<Registry, StageCounters>();

export function stageCounters(registry: Registry): StageCounters {
  let c = countersByRegistry.get(registry);
  if (!c) {
    c = {
      received: new Counter({ name: 'gridwatch_stage_received_total', help: 'Items a stage received', labelNames: ['stage'], registers: [registry] }),
      sent: new Counter({ name: 'gridwatch_stage_sent_total', help: 'Items a stage passed on', labelNames: ['stage'], registers: [registry] }),
      dropped: new Counter({ name: 'gridwatch_stage_dropped_total', help: 'Items a stage dropped, by reason', labelNames: ['stage', 'reason'], registers: [registry] }),
      errors: new Counter({ name: 'gridwatch_stage_errors_total', help: 'Errors in a stage, by error code', labelNames: ['stage', 'code'], registers: [registry] }),
    };
    countersByRegistry.set(registry, c);
  }
  return c;
}
