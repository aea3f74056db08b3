import type { ServicesT } from '../config/index.ts';
import { ChdbStore } from './chdb-store.ts';
import { ServerStore } from './server-store.ts';
import type { TelemetryStore } from './store.ts';

export type { TelemetryStore, InsertSettings } from './store.ts';
export { ChdbStore } from './chdb-store.ts';
export { ServerStore } from './server-store.ts';
export { TelemetryOpenError, TelemetryQueryError } from './errors.ts';

/** Embedded chdb in the data folder, or the server at `CLICKHOUSE_URL` / `services.clickhouse.url`. */
export function openTelemetryStore(services: ServicesT, dataDir: string): Promise<TelemetryStore> {
  const ch = services.clickhouse;
  const url = process.env.CLICKHOUSE_URL ?? ch.url;
  return url ? ServerStore.open(url, ch.database, { username: ch.username, password: ch.password }) : ChdbStore.open(dataDir, ch.database);
}
