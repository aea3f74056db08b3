import type { BeaconPositionRow, BeaconReportRow, TerminalEventRow, WriterStatus } from '../telemetry/index.ts';

/**
 * The ClickHouse tables for terminal beacons, as received: `beacon_positions`, `beacon_reports`
 * and `terminal_events`. Telemetry migration 3 creates them (telemetry/migrations.ts), and
 * `BeaconIngest.start()` runs the migrations, so a beacon ingest on its own store has them too.
 * Their rows go through the telemetry writer (batched, spooled while ClickHouse is away). The
 * worker statistics (`worker_daily`) read them: each position is stored once.
 */
export interface BeaconRows {
  beacon_positions: BeaconPositionRow;
  beacon_reports: BeaconReportRow;
  terminal_events: TerminalEventRow;
}

export type BeaconTable = keyof BeaconRows;

export const BEACON_TABLES: readonly BeaconTable[] = ['beacon_positions', 'beacon_reports', 'terminal_events'];

/** Where beacon rows go: the telemetry writer (structurally `TelemetryWriter`). */
export interface BeaconRowSink {
  /** Buffers one row; false when it is refused (the writer counts and logs why). */
  write<T extends BeaconTable>(table: T, row: BeaconRows[T]): boolean;
  /** Resolves once everything written so far is in ClickHouse, false after `timeoutMs`. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Resolves once every row written so far is safe (on disk or in ClickHouse); rejects when one was dropped. */
  durable(): Promise<void>;
  status(): Pick<WriterStatus, 'lastError' | 'pendingRows' | 'writtenByTable'>;
}

/** What beacons read and migrate in the telemetry store (structurally `TelemetryStore`). */
export interface BeaconStore {
  exec(sql: string): Promise<void>;
  insert(table: string, rows: readonly object[]): Promise<void>;
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
}
