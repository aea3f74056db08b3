import { GridwatchError } from '../core/index.ts';

/** ClickHouse refused or failed a statement. */
export class TelemetryQueryError extends GridwatchError {
  constructor(mode: string, sql: string, cause: unknown) {
    const first = ((cause as Error)?.message ?? String(cause)).split('\n')[0];
    super('TELEMETRY_QUERY', `ClickHouse (${mode}) failed: ${first} [in: ${sql.replace(/\s+/g, ' ').slice(0, 160)}]`, { cause, details: { mode }, httpStatus: 503 });
  }
}

/** Cannot open the embedded engine or reach the server. */
export class TelemetryOpenError extends GridwatchError {
  constructor(where: string, cause: unknown) {
    super('TELEMETRY_OPEN', `cannot open ClickHouse at ${where}: ${(cause as Error)?.message ?? String(cause)}; check services.clickhouse.url or CLICKHOUSE_URL`, { cause, details: { where } });
  }
}

/** A migration statement failed; the database stays at the previous version. */
export class TelemetryMigrationError extends GridwatchError {
  constructor(version: number, name: string, cause: unknown) {
    super('TELEMETRY_MIGRATION', `ClickHouse migration ${version} (${name}) failed: ${((cause as Error)?.message ?? String(cause)).split('\n')[0]}`, { cause, details: { version } });
  }
}

/** A statistics request with a bad parameter (unknown area, empty time range). */
export class TelemetryStatsQueryError extends GridwatchError {
  constructor(message: string) {
    super('TELEMETRY_STATS_QUERY', message, { httpStatus: 400 });
  }
}
