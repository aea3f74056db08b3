import type { ComponentHealth } from '../core/index.ts';

/** Settings passed to one insert, such as `insert_deduplication_token`. */
export type InsertSettings = Record<string, string | number>;

/**
 * One interface over embedded chdb and a ClickHouse server, so that both modes share
 * the same DDL, queries and tests. Every call is asynchronous and off the event loop.
 */
export interface TelemetryStore {
  readonly mode: 'embedded' | 'server';
  readonly database: string;
  /** Runs a statement that returns nothing (DDL, INSERT … SELECT). */
  exec(sql: string): Promise<void>;
  /** Inserts rows as JSONEachRow. */
  insert(table: string, rows: readonly object[], settings?: InsertSettings): Promise<void>;
  /**
   * Inserts a payload that is already encoded (JSONCompactEachRow lines, columns in table
   * order). The bytes go to ClickHouse as they are, so a replayed batch is byte-identical and
   * its `insert_deduplication_token` makes ClickHouse drop it when the first try had landed.
   */
  insertRaw(table: string, body: Buffer, settings?: InsertSettings): Promise<void>;
  /** Runs a SELECT and returns its rows as objects. */
  query<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  health(): ComponentHealth;
  close(): Promise<void>;
}
