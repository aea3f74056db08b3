import type { TelemetryStore } from './store.ts';
import { TelemetryMigrationError } from './errors.ts';

/**
 * Versioned migrations. Each is numbered, applied once, in order, and recorded in
 * `schema_migrations`; every statement is also idempotent (IF NOT EXISTS), so a migration that
 * was cut short re-runs cleanly. Never edit a migration that has shipped: add the next one.
 * The same SQL runs on embedded chdb and on a ClickHouse server. See docs/telemetry.md for why
 * each table is partitioned, ordered and aged the way it is.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements, given the city's time zone (daily rollups count days in local time). */
  readonly up: (ctx: MigrationContext) => readonly string[];
}

export interface MigrationContext {
  /** IANA time zone, e.g. 'Asia/Shanghai' */
  readonly tz: string;
}

/** A replayed batch carries the same insert_deduplication_token; this window makes MergeTree honour it. */
const DEDUP = 'non_replicated_deduplication_window = 1000';
/** Raw tables age out whole daily or monthly parts, never row by row. */
const RAW = `${DEDUP}, ttl_only_drop_parts = 1`;
/**
 * Beacon tables deduplicate by key (ReplacingMergeTree), so they skip the insert dedup log, whose
 * bookkeeping on every insert cost about 3% of beacon throughput at 20,000/s.
 */
const BEACON = 'ttl_only_drop_parts = 1';

const lc = 'LowCardinality(String)';
const ts = "DateTime64(3, 'UTC')";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'raw tables',
    up: () => [
      `CREATE TABLE IF NOT EXISTS camera_status (
        ts ${ts}, node ${lc}, camera ${lc}, state ${lc},
        interval_s Float32, fps Float32, bitrate_kbps Float32,
        gaps UInt32, reconnects UInt32, samples UInt32, drops UInt32
      ) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (camera, ts)
        TTL toDateTime(ts) + INTERVAL 400 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS samples (
        ts ${ts}, camera ${lc}, node ${lc}, sample_id String, keyframe_bytes UInt32,
        decode_ms Float32, gated Bool, inferred Bool, inference_ms Float32, detections UInt16,
        model ${lc}, model_version ${lc}
      ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY (camera, ts)
        TTL toDateTime(ts) + INTERVAL 14 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS detections (
        ts ${ts}, camera ${lc}, sample_id String, class ${lc}, score Float32,
        x1 Float32, y1 Float32, x2 Float32, y2 Float32, zone ${lc}, track_id UInt32,
        inference_ms Float32, model ${lc}, model_version ${lc}
      ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY (camera, zone, class, ts)
        TTL toDateTime(ts) + INTERVAL 30 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS terminal_positions (
        ts ${ts}, terminal ${lc}, worker ${lc}, cell ${lc}, lat Float64, lon Float64,
        acc_m Nullable(Float32), batt_pct Nullable(UInt8), speed_mps Nullable(Float32)
      ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY (worker, ts)
        TTL toDateTime(ts) + INTERVAL 180 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS terminal_reports (
        ts ${ts}, report_id String, terminal ${lc}, worker ${lc}, cell ${lc}, category ${lc},
        lat Float64, lon Float64, description String, photo String, event_id String
      ) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (worker, ts)
        TTL toDateTime(ts) + INTERVAL 1100 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS events (
        ts ${ts}, event_id String, version UInt16, category ${lc}, source ${lc}, source_id ${lc},
        district ${lc}, street ${lc}, cell ${lc}, lat Float64, lon Float64,
        class ${lc}, score Float32, dwell_s Float32, zone ${lc}, model ${lc}, model_version ${lc}, snapshot String
      ) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (district, category, ts)
        TTL toDateTime(ts) + INTERVAL 1100 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS case_transitions (
        ts ${ts}, case_id String, event_id String, from_state ${lc}, to_state ${lc},
        category ${lc}, district ${lc}, street ${lc}, cell ${lc}, department ${lc}, actor ${lc},
        opened_at ${ts}, deadline Nullable(${ts}), satisfaction Nullable(Float32), note String
      ) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (district, category, ts, case_id)
        TTL toDateTime(ts) + INTERVAL 1100 DAY SETTINGS ${RAW}`,
      `CREATE TABLE IF NOT EXISTS verdicts (
        ts ${ts}, event_id String, case_id String, camera ${lc}, zone ${lc}, category ${lc},
        district ${lc}, cell ${lc}, verdict ${lc}, reason ${lc}, operator ${lc}, model_version ${lc}
      ) ENGINE = MergeTree PARTITION BY toYYYYMM(ts) ORDER BY (camera, zone, ts)
        TTL toDateTime(ts) + INTERVAL 1100 DAY SETTINGS ${RAW}`,
    ],
  },
  {
    version: 2,
    name: 'daily rollups',
    up: ({ tz }) => {
      const day = `toDate(ts, '${tz}')`;
      return [
        // Cases per day × district × category × department; street and cell ride along so that
        // cell rankings and area filters below district level use the rollup too.
        `CREATE TABLE IF NOT EXISTS cases_daily (
          day Date, district ${lc}, category ${lc}, department ${lc}, street ${lc}, cell ${lc},
          created UInt64, dispatched UInt64, signed UInt64, signed_on_time UInt64,
          resolved UInt64, resolved_on_time UInt64, closed UInt64, closed_on_time UInt64, escalated UInt64,
          resolve_s_sum Float64, resolve_n UInt64, satisfaction_sum Float64, satisfaction_n UInt64
        ) ENGINE = SummingMergeTree PARTITION BY toYYYYMM(day)
          ORDER BY (day, district, category, department, street, cell) SETTINGS ${DEDUP}`,
        `CREATE MATERIALIZED VIEW IF NOT EXISTS cases_daily_mv TO cases_daily AS
          SELECT ${day} AS day, district, category, department, street, cell,
            countIf(to_state = 'reported') AS created,
            countIf(to_state = 'dispatched') AS dispatched,
            countIf(to_state = 'signed') AS signed,
            countIf(to_state = 'signed' AND (deadline IS NULL OR ts <= deadline)) AS signed_on_time,
            countIf(to_state = 'resolved') AS resolved,
            countIf(to_state = 'resolved' AND (deadline IS NULL OR ts <= deadline)) AS resolved_on_time,
            countIf(to_state = 'closed') AS closed,
            countIf(to_state = 'closed' AND (deadline IS NULL OR ts <= deadline)) AS closed_on_time,
            countIf(to_state IN ('escalated', 'transferred')) AS escalated,
            sumIf(toFloat64(dateDiff('millisecond', opened_at, ts)) / 1000, to_state = 'closed') AS resolve_s_sum,
            countIf(to_state = 'closed') AS resolve_n,
            sumIf(toFloat64(assumeNotNull(satisfaction)), satisfaction IS NOT NULL) AS satisfaction_sum,
            countIf(satisfaction IS NOT NULL) AS satisfaction_n
          FROM case_transitions GROUP BY day, district, category, department, street, cell`,
        // Camera uptime per day: the share of sampled time the session was streaming.
        `CREATE TABLE IF NOT EXISTS camera_uptime_daily (
          day Date, camera ${lc}, up_s Float64, total_s Float64, samples UInt64, up_samples UInt64,
          reconnects UInt64, gaps UInt64, drops UInt64
        ) ENGINE = SummingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, camera) SETTINGS ${DEDUP}`,
        `CREATE MATERIALIZED VIEW IF NOT EXISTS camera_uptime_daily_mv TO camera_uptime_daily AS
          SELECT ${day} AS day, camera,
            sumIf(toFloat64(interval_s), state = 'streaming') AS up_s, sum(toFloat64(interval_s)) AS total_s,
            count() AS samples, countIf(state = 'streaming') AS up_samples,
            sum(toUInt64(reconnects)) AS reconnects, sum(toUInt64(gaps)) AS gaps, sum(toUInt64(drops)) AS drops
          FROM camera_status GROUP BY day, camera`,
        // Detector quality per camera × zone: alerts raised (camera events) against operators' verdicts.
        `CREATE TABLE IF NOT EXISTS detector_quality_daily (
          day Date, camera ${lc}, zone ${lc}, category ${lc}, raised UInt64, confirmed UInt64, dismissed UInt64
        ) ENGINE = SummingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, camera, zone, category) SETTINGS ${DEDUP}`,
        `CREATE MATERIALIZED VIEW IF NOT EXISTS detector_raised_mv TO detector_quality_daily AS
          SELECT ${day} AS day, source_id AS camera, zone, category, count() AS raised, toUInt64(0) AS confirmed, toUInt64(0) AS dismissed
          FROM events WHERE source = 'camera' GROUP BY day, camera, zone, category`,
        `CREATE MATERIALIZED VIEW IF NOT EXISTS detector_verdicts_mv TO detector_quality_daily AS
          SELECT ${day} AS day, camera, zone, category, toUInt64(0) AS raised,
            countIf(verdict = 'confirmed') AS confirmed, countIf(verdict = 'dismissed') AS dismissed
          FROM verdicts WHERE camera != '' GROUP BY day, camera, zone, category`,
        // Per worker per day. Distance and time online need consecutive positions, which an insert
        // trigger cannot see across batches, so this is a parameterised view over the raw table,
        // whose ORDER BY (worker, ts) and daily partitions make it a range read.
        `CREATE VIEW IF NOT EXISTS worker_daily AS
          SELECT worker, day, sum(distance_m) AS distance_m, sum(online_s) AS online_s, sum(reports) AS reports
          FROM (
            SELECT worker, day,
              sumIf(d_m, dt_s > 0 AND dt_s <= {gap_s:Float64}) AS distance_m,
              sumIf(dt_s, dt_s > 0 AND dt_s <= {gap_s:Float64}) AS online_s,
              toUInt64(0) AS reports
            FROM (
              SELECT worker, ${day} AS day,
                toFloat64(dateDiff('millisecond', lagInFrame(ts) OVER w, ts)) / 1000 AS dt_s,
                2 * 6371008.8 * asin(sqrt(
                  pow(sin(radians(lat - lagInFrame(lat) OVER w) / 2), 2) +
                  cos(radians(lagInFrame(lat) OVER w)) * cos(radians(lat)) * pow(sin(radians(lon - lagInFrame(lon) OVER w) / 2), 2)
                )) AS d_m
              FROM terminal_positions
              WHERE ts >= fromUnixTimestamp64Milli({from_ms:Int64}) AND ts < fromUnixTimestamp64Milli({to_ms:Int64})
              WINDOW w AS (PARTITION BY worker, day ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
            ) GROUP BY worker, day
            UNION ALL
            SELECT worker, ${day} AS day, 0 AS distance_m, 0 AS online_s, count() AS reports
            FROM terminal_reports
            WHERE ts >= fromUnixTimestamp64Milli({from_ms:Int64}) AND ts < fromUnixTimestamp64Milli({to_ms:Int64})
            GROUP BY worker, day
          ) GROUP BY worker, day`,
      ];
    },
  },
  {
    version: 3,
    name: 'beacon tables, one copy of each position',
    up: ({ tz }) => {
      const day = `toDate(tst, '${tz}')`;
      return [
        // Terminal beacons as received (beacons/ writes them through the telemetry writer). ReplacingMergeTree on the
        // dedup key collapses redeliveries that slipped past the in-memory window; read with FINAL
        // (or GROUP BY the key) for exact counts. `worker` is who carried the terminal when it sent.
        `CREATE TABLE IF NOT EXISTS beacon_positions (
          terminal ${lc}, worker ${lc} DEFAULT terminal,
          tst ${ts} COMMENT 'when the terminal took the fix', received_at ${ts},
          source ${lc} COMMENT 'gw or owntracks',
          lat Float64, lon Float64,
          acc Nullable(Float32) COMMENT 'metres', alt Nullable(Float32) COMMENT 'metres',
          vel Nullable(Float32) COMMENT 'km/h', cog Nullable(Float32) COMMENT 'degrees',
          batt Nullable(Float32) COMMENT 'percent', conn ${lc},
          district ${lc}, street ${lc}, community ${lc}, cell ${lc} COMMENT 'empty when the point is in no cell',
          stuck UInt8 COMMENT '1 while the stuck-GPS flag is raised'
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMMDD(tst) ORDER BY (terminal, tst)
          TTL toDateTime(tst) + INTERVAL 180 DAY SETTINGS ${BEACON}`,
        `CREATE TABLE IF NOT EXISTS beacon_reports (
          event_id String, terminal ${lc}, worker ${lc} DEFAULT terminal,
          tst ${ts}, received_at ${ts}, category ${lc}, text String, lat Float64, lon Float64,
          grid_path Array(String) COMMENT 'district, street, community, cell', evidence Array(String)
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(tst) ORDER BY (terminal, tst, event_id)
          TTL toDateTime(tst) + INTERVAL 1100 DAY SETTINGS ${BEACON}`,
        `CREATE TABLE IF NOT EXISTS terminal_events (
          terminal ${lc}, at ${ts},
          kind ${lc} COMMENT 'cell_enter, cell_exit, online, offline, inactive, stuck_gps, stuck_gps_cleared',
          cell ${lc}, lat Nullable(Float64), lon Nullable(Float64)
        ) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(at) ORDER BY (terminal, at, kind, cell)
          TTL toDateTime(at) + INTERVAL 400 DAY SETTINGS ${BEACON}`,
        // Tables that an earlier gridwatch created from beacons/schema.ts get the worker column
        // (their old rows read the terminal id) and the same retention.
        `ALTER TABLE beacon_positions ADD COLUMN IF NOT EXISTS worker ${lc} DEFAULT terminal AFTER terminal`,
        `ALTER TABLE beacon_reports ADD COLUMN IF NOT EXISTS worker ${lc} DEFAULT terminal AFTER terminal`,
        `ALTER TABLE beacon_positions MODIFY TTL toDateTime(tst) + INTERVAL 180 DAY`,
        `ALTER TABLE beacon_reports MODIFY TTL toDateTime(tst) + INTERVAL 1100 DAY`,
        `ALTER TABLE terminal_events MODIFY TTL toDateTime(at) + INTERVAL 400 DAY`,
        // Worker statistics read the beacon tables, so each position is stored once (the engine
        // wrote terminal_positions / terminal_reports as a second copy until now; those tables
        // keep what was written before and get nothing new). A position stored twice adds
        // nothing: the copy is 0 s and 0 m from the original, and only steps over 0 s count.
        `DROP VIEW IF EXISTS worker_daily`,
        `CREATE VIEW worker_daily AS
          SELECT worker, day, sum(distance_m) AS distance_m, sum(online_s) AS online_s, sum(reports) AS reports
          FROM (
            SELECT worker, day,
              sumIf(d_m, dt_s > 0 AND dt_s <= {gap_s:Float64}) AS distance_m,
              sumIf(dt_s, dt_s > 0 AND dt_s <= {gap_s:Float64}) AS online_s,
              toUInt64(0) AS reports
            FROM (
              SELECT worker, ${day} AS day,
                toFloat64(dateDiff('millisecond', lagInFrame(tst) OVER w, tst)) / 1000 AS dt_s,
                2 * 6371008.8 * asin(sqrt(
                  pow(sin(radians(lat - lagInFrame(lat) OVER w) / 2), 2) +
                  cos(radians(lagInFrame(lat) OVER w)) * cos(radians(lat)) * pow(sin(radians(lon - lagInFrame(lon) OVER w) / 2), 2)
                )) AS d_m
              FROM beacon_positions
              WHERE tst >= fromUnixTimestamp64Milli({from_ms:Int64}) AND tst < fromUnixTimestamp64Milli({to_ms:Int64})
              WINDOW w AS (PARTITION BY worker, day ORDER BY tst ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
            ) GROUP BY worker, day
            UNION ALL
            SELECT worker, ${day} AS day, 0 AS distance_m, 0 AS online_s, uniqExact(event_id) AS reports
            FROM beacon_reports
            WHERE tst >= fromUnixTimestamp64Milli({from_ms:Int64}) AND tst < fromUnixTimestamp64Milli({to_ms:Int64})
            GROUP BY worker, day
          ) GROUP BY worker, day`,
      ];
    },
  },
  {
    version: 4,
    name: 'camera events as the console\'s alerts',
    // The console loads its alerts from here on start: which node holds the evidence JPEG
    // (`snapshot`, relative to that node's data folder), and the box the operator sees.
    up: () => [
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS node ${lc} DEFAULT ''`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS box_x Float32 DEFAULT 0`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS box_y Float32 DEFAULT 0`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS box_w Float32 DEFAULT 0`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS box_h Float32 DEFAULT 0`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS community ${lc} DEFAULT ''`,
    ],
  },
  {
    version: 5,
    name: 'category codes on events and case steps; repeat cases',
    // The codes other systems know a category by (CJ/T 214 and the city's list), so that rows
    // can be reported in them; and how many a violation counts (bicycles, people).
    up: () => [
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS standard_code ${lc} DEFAULT ''`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS local_code ${lc} DEFAULT ''`,
      `ALTER TABLE events ADD COLUMN IF NOT EXISTS count UInt32 DEFAULT 0`,
      `ALTER TABLE case_transitions ADD COLUMN IF NOT EXISTS standard_code ${lc} DEFAULT ''`,
      `ALTER TABLE case_transitions ADD COLUMN IF NOT EXISTS local_code ${lc} DEFAULT ''`,
      // The indicators count repeat cases from the `reported` row.
      `ALTER TABLE case_transitions ADD COLUMN IF NOT EXISTS repeat_of String DEFAULT ''`,
    ],
  },
];

export interface MigrationResult {
  readonly applied: number[];
  readonly current: number;
}

/** Brings the store's database up to the latest migration; safe to run on every start. */
export async function migrate(store: Pick<TelemetryStore, 'exec' | 'query' | 'insert'>, ctx: MigrationContext, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  if (!/^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/.test(ctx.tz) && ctx.tz !== 'UTC') throw new TelemetryMigrationError(0, 'setup', new Error(`bad time zone ${ctx.tz}`));
  try {
    await store.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
    ) ENGINE = MergeTree ORDER BY version`);
  } catch (err) {
    throw new TelemetryMigrationError(0, 'schema_migrations', err);
  }
  const done = new Set((await store.query<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    for (const sql of m.up(ctx)) {
      try {
        await store.exec(sql);
      } catch (err) {
        throw new TelemetryMigrationError(m.version, m.name, err);
      }
    }
    await store.insert('schema_migrations', [{ version: m.version, name: m.name }]);
    applied.push(m.version);
  }
  const current = Math.max(0, ...done, ...applied);
  return { applied, current };
}
