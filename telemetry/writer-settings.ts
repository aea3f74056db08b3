import type { Logger, Registry } from '../core/index.ts';
import type { TelemetryStore } from './store.ts';
import type { TableName } from './tables.ts';
import type { RejectedRow } from './rejects.ts';

export interface WriterSettings {
  /** a table's buffer is sealed into a batch at this many rows… */
  readonly batchMaxRows: number;
  /** …or this many encoded bytes… */
  readonly batchMaxBytes: number;
  /** …or when its oldest row is this old */
  readonly flushIntervalMs: number;
  /** sealed batches held in memory while one insert is in flight; more go to the spool */
  readonly maxQueuedBatches: number;
  /** the on-disk queue's limit; past it, new batches are dropped and counted */
  readonly spoolMaxBytes: number;
  /** an insert slower than this counts as failed; its batch is spooled and replayed (deduplicated) */
  readonly insertTimeoutMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** rows someone waits on (`durable()`) are sealed and journaled at most this long after the wait began */
  readonly commitIntervalMs: number;
}

export const WRITER_DEFAULTS: WriterSettings = Object.freeze({
  batchMaxRows: 10_000,
  batchMaxBytes: 4 << 20,
  flushIntervalMs: 1000,
  maxQueuedBatches: 4,
  spoolMaxBytes: 512 << 20,
  insertTimeoutMs: 30_000,
  retryInitialMs: 250,
  retryMaxMs: 30_000,
  commitIntervalMs: 100,
});

export interface TelemetryWriterOptions {
  readonly store: TelemetryStore;
  /** the spool lives in `<dataDir>/telemetry-spool` */
  readonly dataDir: string;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly settings?: Partial<WriterSettings>;
  /** called for every row refused, by validation or by ClickHouse */
  readonly onReject?: (r: RejectedRow) => void;
}

export interface WriterStatus {
  readonly running: boolean;
  readonly failing: boolean;
  readonly lastError: string;
  readonly bufferedRows: number;
  readonly queuedBatches: number;
  /** rows accepted and not yet in ClickHouse: in buffers, queued, in flight or in the spool */
  readonly pendingRows: number;
  readonly spool: { readonly batches: number; readonly rows: number; readonly bytes: number; readonly fill: number; readonly dir: string };
  readonly rows: { readonly received: number; readonly written: number; readonly rejected: number; readonly dropped: number };
  /** rows written, per table */
  readonly writtenByTable: Readonly<Partial<Record<TableName, number>>>;
  /** batches inserted straight from memory, spilled to the spool, replayed from it */
  readonly batches: { readonly direct: number; readonly spilled: number; readonly replayed: number };
  readonly recentRejects: readonly RejectedRow[];
}
