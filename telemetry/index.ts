import type { ServicesT } from '../config/index.ts';
import { ChdbStore } from './chdb-store.ts';
import { ServerStore } from './server-store.ts';
import type { TelemetryStore } from './store.ts';
import type { Logger, Registry } from '../core/index.ts';
import { TelemetryWriter, type RejectedRow } from './writer.ts';

export type { TelemetryStore, InsertSettings } from './store.ts';
export { ChdbStore } from './chdb-store.ts';
export { ServerStore } from './server-store.ts';
export { TelemetryOpenError, TelemetryQueryError, TelemetryMigrationError, TelemetryStatsQueryError } from './errors.ts';
export { MIGRATIONS, migrate, type Migration, type MigrationContext, type MigrationResult } from './migrations.ts';
export {
  TABLES, TABLE_NAMES, compileEncoder, type TableName, type TableRows, type Millis,
  type CameraStatusRow, type EventRow, type CaseTransitionRow, type VerdictRow,
  type BeaconPositionRow, type BeaconReportRow, type TerminalEventRow, type TerminalEventKind,
} from './tables.ts';
export { TelemetryWriter, type WriterSettings, type TelemetryWriterOptions, type WriterStatus, type RejectedRow } from './writer.ts';

/** Embedded chdb in the data folder, or the server at `CLICKHOUSE_URL` / `services.clickhouse.url`. */
export function openTelemetryStore(services: ServicesT, dataDir: string): Promise<TelemetryStore> {
  const ch = services.clickhouse;
  const url = process.env.CLICKHOUSE_URL ?? ch.url;
  return url ? ServerStore.open(url, ch.database, { username: ch.username, password: ch.password }) : ChdbStore.open(dataDir, ch.database);
}
export { TelemetryStats, statsCity, type StatsCity, type StatsFilter, type Summary, type CaseCounts, type CategoryShare, type CellRank, type DepartmentRank, type WorkerRank, type HeatCell, type CameraUptime, type DetectorQuality } from './stats.ts';
export { registerStatsRoutes } from './stats-routes.ts';
export { INDICATOR_DIMENSIONS, type IndicatorDimension, type Indicators } from './indicators.ts';

/** The writer with the city's `services.clickhouse.writer` settings; its spool is in `<dataDir>/telemetry-spool`. */
export function createTelemetryWriter(services: ServicesT, opts: { store: TelemetryStore; dataDir: string; log: Logger; metrics: Registry; onReject?: (r: RejectedRow) => void }): TelemetryWriter {
  const w = services.clickhouse.writer;
  return new TelemetryWriter({
    ...opts,
    settings: {
      batchMaxRows: w.batch_max_rows, batchMaxBytes: w.batch_max_bytes, flushIntervalMs: w.flush_interval_ms, maxQueuedBatches: w.max_queued_batches,
      spoolMaxBytes: Math.round(w.spool_max_mb * 1024 * 1024), insertTimeoutMs: w.insert_timeout_ms, retryInitialMs: w.retry_initial_ms, retryMaxMs: w.retry_max_ms,
      commitIntervalMs: w.commit_interval_ms,
    },
  });
}
