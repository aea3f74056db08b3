import { Readable } from 'node:stream';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { ComponentHealth } from '../core/index.ts';
import type { InsertSettings, TelemetryStore } from './store.ts';
import { TelemetryOpenError, TelemetryQueryError } from './errors.ts';

/** A ClickHouse server or cluster over HTTP, through @clickhouse/client. */
export class ServerStore implements TelemetryStore {
  readonly mode = 'server' as const;
  readonly database: string;
  readonly url: string;
  #client: ClickHouseClient | null;
  #lastError = '';

  private constructor(client: ClickHouseClient, url: string, database: string) {
    this.#client = client;
    this.url = url;
    this.database = database;
  }

  static async open(url: string, database: string, auth: { username?: string; password?: string } = {}): Promise<ServerStore> {
    const bootstrap = createClient({ url, username: auth.username, password: auth.password });
    try {
      await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    } catch (err) {
      throw new TelemetryOpenError(url, err);
    } finally {
      await bootstrap.close();
    }
    return new ServerStore(createClient({ url, username: auth.username, password: auth.password, database }), url, database);
  }

  #live(): ClickHouseClient {
    if (!this.#client) throw new Error('telemetry store is closed');
    return this.#client;
  }

  async #run<T>(sql: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.#lastError = '';
      return r;
    } catch (err) {
      this.#lastError = (err as Error).message;
      throw new TelemetryQueryError(this.mode, sql, err);
    }
  }

  exec(sql: string): Promise<void> {
    return this.#run(sql, async () => void (await this.#live().command({ query: sql })));
  }

  insert(table: string, rows: readonly object[], settings?: InsertSettings): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return this.#run(`INSERT INTO ${table}`, async () => void (await this.#live().insert({ table, values: rows as object[], format: 'JSONEachRow', clickhouse_settings: settings as never })));
  }

  insertRaw(table: string, body: Buffer, settings?: InsertSettings): Promise<void> {
    if (body.length === 0) return Promise.resolve();
    return this.#run(`INSERT INTO ${table}`, async () => void (await this.#live().insert({ table, values: Readable.from([body]), format: 'JSONCompactEachRow', clickhouse_settings: settings as never })));
  }

  query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    return this.#run(sql, async () => (await (await this.#live().query({ query: sql, format: 'JSONEachRow' })).json<T>()));
  }

  health(): ComponentHealth {
    if (!this.#client) return { state: 'down', reason: 'closed' };
    return this.#lastError ? { state: 'degraded', reason: `last statement failed: ${this.#lastError.split('\n')[0]}`, url: this.url } : { state: 'up', mode: this.mode, url: this.url };
  }

  async close(): Promise<void> {
    await this.#client?.close();
    this.#client = null;
  }
}
