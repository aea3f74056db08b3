/**
 * ClickHouse tables for terminal beacons, as received (`BeaconIngest.start()` creates them;
 * idempotent). They are apart from telemetry's `terminal_positions` / `terminal_reports`, which
 * the engine fills from the same accepted beacons for the worker statistics (engine/beacon-feed.ts),
 * so a position is stored twice. ReplacingMergeTree on the dedup key collapses redeliveries that slipped
 * past the in-memory window; read with FINAL (or GROUP BY the key) for exact counts.
 */
export const BEACON_TABLES = {
  beacon_positions: `CREATE TABLE IF NOT EXISTS beacon_positions (
  terminal LowCardinality(String),
  tst DateTime64(3, 'UTC') COMMENT 'when the terminal took the fix',
  received_at DateTime64(3, 'UTC'),
  source LowCardinality(String) COMMENT 'gw or owntracks',
  lat Float64,
  lon Float64,
  acc Nullable(Float32) COMMENT 'metres',
  alt Nullable(Float32) COMMENT 'metres',
  vel Nullable(Float32) COMMENT 'km/h',
  cog Nullable(Float32) COMMENT 'degrees',
  batt Nullable(Float32) COMMENT 'percent',
  conn LowCardinality(String),
  district LowCardinality(String),
  street LowCardinality(String),
  community LowCardinality(String),
  cell LowCardinality(String) COMMENT 'empty when the point is in no cell',
  stuck UInt8 COMMENT '1 while the stuck-GPS flag is raised'
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(tst)
ORDER BY (terminal, tst)`,
  beacon_reports: `CREATE TABLE IF NOT EXISTS beacon_reports (
  event_id String,
  terminal LowCardinality(String),
  tst DateTime64(3, 'UTC'),
  received_at DateTime64(3, 'UTC'),
  category LowCardinality(String),
  text String,
  lat Float64,
  lon Float64,
  grid_path Array(String) COMMENT 'district, street, community, cell',
  evidence Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(tst)
ORDER BY (terminal, tst, event_id)`,
  terminal_events: `CREATE TABLE IF NOT EXISTS terminal_events (
  terminal LowCardinality(String),
  at DateTime64(3, 'UTC'),
  kind LowCardinality(String) COMMENT 'cell_enter, cell_exit, online, offline, inactive, stuck_gps, stuck_gps_cleared',
  cell LowCardinality(String),
  lat Nullable(Float64),
  lon Nullable(Float64)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (terminal, at, kind, cell)`,
} as const;

export type BeaconTable = keyof typeof BEACON_TABLES;
