import { Counter, Gauge, Histogram, stageCounters, type Registry, type StageCounters } from '../core/index.ts';

/** The telemetry writer's metrics: one set per registry, shared by every writer on it. */
export interface WriterMetrics {
  readonly stage: StageCounters;
  readonly rows: Counter<'table' | 'outcome'>;
  readonly batches: Counter<'path'>;
  readonly insertSeconds: Histogram<'table'>;
  readonly spoolBytes: Gauge;
  readonly spoolBatches: Gauge;
  readonly spoolFill: Gauge;
}

const metricsByRegistry = new WeakMap<Registry, WriterMetrics>();

export function writerMetrics(registry: Registry): WriterMetrics {
  let m = metricsByRegistry.get(registry);
  if (!m) {
    m = {
      stage: stageCounters(registry),
      rows: new Counter({ name: 'gridwatch_telemetry_rows_total', help: 'Telemetry rows by table and outcome (written, rejected, dropped)', labelNames: ['table', 'outcome'], registers: [registry] }),
      batches: new Counter({ name: 'gridwatch_telemetry_batches_total', help: 'Batches inserted directly, spilled to the spool, replayed from it', labelNames: ['path'], registers: [registry] }),
      insertSeconds: new Histogram({ name: 'gridwatch_telemetry_insert_seconds', help: 'Time to insert one batch', labelNames: ['table'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
      spoolBytes: new Gauge({ name: 'gridwatch_telemetry_spool_bytes', help: 'Bytes waiting in the on-disk queue', registers: [registry] }),
      spoolBatches: new Gauge({ name: 'gridwatch_telemetry_spool_batches', help: 'Batches waiting in the on-disk queue', registers: [registry] }),
      spoolFill: new Gauge({ name: 'gridwatch_telemetry_spool_fill_ratio', help: 'On-disk queue fill, 0..1; alarm above 0', registers: [registry] }),
    };
    metricsByRegistry.set(registry, m);
  }
  return m;
}
