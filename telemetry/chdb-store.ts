import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'chdb';
import type { ComponentHealth } from '../core/index.ts';
import type { InsertSettings, TelemetryStore } from './store.ts';
import { TelemetryOpenError, TelemetryQueryError } from './errors.ts';

function settingsClause(settings?: InsertSettings): string {
  if (!settings) return '';
  const parts = Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`}`);
  return parts.length ? ` SETTINGS ${parts.join(', ')}` : '';
}

/** Embedded ClickHouse (chdb) with its tables in `<dataDir>/clickhouse`. */
export class ChdbStore implements TelemetryStore {
  readonly mode = 'embedded' as const;
  readonly database: string;
  readonly path: string;
  #session: Session | null;
  #lastError = '';

  private constructor(session: Session, path: string, database: string) {
    this.#session = session;
    this.path = path;
    this.database = database;
  }

  static async open(dataDir: string, database: string): Promise<ChdbStore> {
    const path = join(dataDir, 'clickhouse');
    try {
      mkdirSync(path, { recursive: true });
      const session = new Session(path);
      const store = new ChdbStore(session, path, database);
      await store.exec(`CREATE DATABASE IF NOT EXISTS ${database}`);
      await store.exec(`USE ${database}`); // the session keeps it, so SQL is the same as in server mode
      return store;
    } catch (err) {
      throw new TelemetryOpenError(path, err);
    }
  }

  #live(): Session {
    if (!this.#session) throw new Error('telemetry store is closed');
    return this.#session;
  }


  async exec(sql: string): Promise<void> {
    try {
      await this.#live().queryAsync(`${sql}`, { format: 'CSV' });
      this.#lastError = '';
    } catch (err) {
      this.#lastError = (err as Error).message;
      throw new TelemetryQueryError(this.mode, sql, err);
    }
  }

  async insert(table: string, rows: readonly object[], settings?: InsertSettings): Promise<void> {
    if (rows.length === 0) return;
    const body = rows.map((r) => JSON.stringify(r)).join('\n');
    const sql = `INSERT INTO ${table}${settingsClause(settings)} FORMAT JSONEachRow\n${body}`;
    try {
      await this.#live().queryAsync(sql, { format: 'CSV' });
      this.#lastError = '';
    } catch (err) {
      this.#lastError = (err as Error).message;
      throw new TelemetryQueryError(this.mode, `INSERT INTO ${table}`, err);
    }
  }

  async insertRaw(table: string, body: Buffer, settings?: InsertSettings): Promise<void> {
    if (body.length === 0) return;
    try {
      // The raw insert hands the bytes to chdb zero-copy and parses them on its own threads.
      await this.#live().insert({ table, values: body, format: 'JSONCompactEachRow', settings });
      this.#lastError = '';
    } catch (err) {
      this.#lastError = (err as Error).message;
      throw new TelemetryQueryError(this.mode, `INSERT INTO ${table}`, err);
    }
  }

  async query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    try {
      const res = await this.#live().queryAsync(sql, { format: 'JSONEachRow' });
      const text = res.text();
      this.#lastError = '';
      return text ? text.trimEnd().split('\n').map((l) => JSON.parse(l) as T) : [];
    } catch (err) {
      this.#lastError = (err as Error).message;
      throw new TelemetryQueryError(this.mode, sql, err);
    }
  }

  health(): ComponentHealth {
    if (!this.#session) return { state: 'down', reason: 'closed' };
    return this.#lastError ? { state: 'degraded', reason: `last statement failed: ${this.#lastError.split('\n')[0]}`, mode: this.mode } : { state: 'up', mode: this.mode, path: this.path };
  }

  async close(): Promise<void> {
    this.#session?.close();
    this.#session = null;
  }
}
