import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { latLngToCell } from 'h3-js';
import { createMetricsRegistry, handleHttpErrors, silentLogger } from '../core/index.ts';
import { tempDir, until } from '../test/harness.ts';
import {
  ChdbStore, ServerStore, TABLES, TABLE_NAMES, TelemetryStats, TelemetryWriter, migrate, registerStatsRoutes,
  type InsertSettings, type StatsCity, type TelemetryStore, type RejectedRow, type WriterSettings,
} from './index.ts';

const TZ = 'Asia/Shanghai';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Local midnight (UTC+8) two days ago: recent enough for every TTL. */
const D0 = Math.floor((Date.now() + 8 * HOUR) / DAY) * DAY - 8 * HOUR - 2 * DAY;
const D1 = D0 + DAY;

/** A store wrapper that a test can switch off (an outage), or make report failure after the insert landed. */
class FlakyStore implements TelemetryStore {
  down = false;
  landThenFail = false;
  poison = '';
  /** hold every insert this long before it lands (a slow server) */
  delayMs = 0;
  calls = 0;
  /** the first row's number (event_id `o-N`) of each events batch that landed, in insert order */
  landed: number[] = [];
  constructor(readonly inner: TelemetryStore) {}
  get mode() { return this.inner.mode; }
  get database() { return this.inner.database; }
  exec(sql: string) { return this.inner.exec(sql); }
  insert(table: string, rows: readonly object[], s?: InsertSettings) { return this.inner.insert(table, rows, s); }
  query<T>(sql: string) { return this.inner.query<T>(sql); }
  health() { return this.inner.health(); }
  close() { return this.inner.close(); }
  async insertRaw(table: string, body: Buffer, s?: InsertSettings): Promise<void> {
    this.calls++;
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:8123 (simulated outage)');
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    // Poison: unquote a marked string, so that ClickHouse itself refuses the row it is in.
    if (this.poison && body.includes(this.poison)) body = Buffer.from(body.toString().replace(`"${this.poison}"`, this.poison));
    await this.inner.insertRaw(table, body, s);
    const first = /"o-(\d+)"/.exec(body.subarray(0, 200).toString());
    if (table === 'events' && first) this.landed.push(Number(first[1]));
    if (this.landThenFail) throw new Error('insert took longer than 30000 ms (simulated: it landed anyway)');
  }
}

const city: StatsCity = {
  timezone: TZ,
  areas: new Map([
    ['d1', { id: 'd1', level: 'district', path: ['d1'] }],
    ['s1', { id: 's1', level: 'street', path: ['d1', 's1'] }],
    ['m1', { id: 'm1', level: 'community', path: ['d1', 's1', 'm1'] }],
    ['c1', { id: 'c1', level: 'cell', path: ['d1', 's1', 'm1', 'c1'] }],
    ['c2', { id: 'c2', level: 'cell', path: ['d1', 's1', 'c2'] }],
    ['d2', { id: 'd2', level: 'district', path: ['d2'] }],
    ['s2', { id: 's2', level: 'street', path: ['d2', 's2'] }],
    ['c3', { id: 'c3', level: 'cell', path: ['d2', 's2', 'c3'] }],
  ]),
  terminals: new Map([
    ['t1', { worker: 'w1', cell: 'c1' }],
    ['t2', { worker: 'w2', cell: 'c2' }],
    ['t3', { worker: 'w3', cell: 'c3' }],
  ]),
  cameraCells: new Map([['cam1', 'c1'], ['cam2', 'c3']]),
};

const FAST: Partial<WriterSettings> = { batchMaxRows: 100, flushIntervalMs: 50, retryInitialMs: 20, retryMaxMs: 100, insertTimeoutMs: 10_000 };

const serverUrl = process.env.CLICKHOUSE_URL;
if (!serverUrl) console.log('telemetry: server-mode tests skipped: set CLICKHOUSE_URL (e.g. http://127.0.0.1:8123) to run the same tests against a ClickHouse server');

const modes: { name: string; skip: boolean; open: (dir: string) => Promise<TelemetryStore>; reopens: boolean }[] = [
  { name: 'embedded chdb', skip: false, open: (dir) => ChdbStore.open(dir, 'gridwatch'), reopens: true },
  { name: 'server', skip: !serverUrl, open: async () => ServerStore.open(serverUrl!, `gw_test_${process.pid}_${Date.now()}`), reopens: true },
];

for (const mode of modes) {
  describe.skipIf(mode.skip)(`telemetry on ${mode.name}`, () => {
    let dir: string;
    let store: TelemetryStore;

    beforeAll(async () => {
      dir = tempDir('gw-telemetry-');
      store = await mode.open(dir);
    });
    afterAll(async () => {
      if (mode.name === 'server' && store) await store.exec(`DROP DATABASE IF EXISTS ${store.database}`).catch(() => undefined);
      await store?.close();
    });

    it('migrates an empty database, then again on the existing one, and matches the row types', async () => {
      // Beacon tables as gridwatch created them before migration 3 (beacons/schema.ts), with a row.
      await store.exec(`CREATE TABLE beacon_positions (terminal LowCardinality(String), tst DateTime64(3, 'UTC'), received_at DateTime64(3, 'UTC'),
        source LowCardinality(String), lat Float64, lon Float64, acc Nullable(Float32), alt Nullable(Float32), vel Nullable(Float32), cog Nullable(Float32),
        batt Nullable(Float32), conn LowCardinality(String), district LowCardinality(String), street LowCardinality(String), community LowCardinality(String),
        cell LowCardinality(String), stuck UInt8) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(tst) ORDER BY (terminal, tst)`);
      await store.exec(`CREATE TABLE beacon_reports (event_id String, terminal LowCardinality(String), tst DateTime64(3, 'UTC'), received_at DateTime64(3, 'UTC'),
        category LowCardinality(String), text String, lat Float64, lon Float64, grid_path Array(String), evidence Array(String))
        ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(tst) ORDER BY (terminal, tst, event_id)`);
      await store.exec(`CREATE TABLE terminal_events (terminal LowCardinality(String), at DateTime64(3, 'UTC'), kind LowCardinality(String), cell LowCardinality(String),
        lat Nullable(Float64), lon Nullable(Float64)) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(at) ORDER BY (terminal, at, kind, cell)`);
      await store.insert('beacon_positions', [{ terminal: 'legacy-t', tst: D0, received_at: D0, source: 'gw', lat: 43.87, lon: 125.31, cell: 'c1' }]);
      const first = await migrate(store, { tz: TZ });
      expect(first).toEqual({ applied: [1, 2, 3, 4, 5], current: 5 });
      // The old tables got the worker column (old rows read the terminal) and a retention.
      expect(await store.query(`SELECT terminal, worker FROM beacon_positions`)).toEqual([{ terminal: 'legacy-t', worker: 'legacy-t' }]);
      const ttl = await store.query<{ name: string; q: string }>(`SELECT name, create_table_query AS q FROM system.tables WHERE database = currentDatabase() AND name IN ('beacon_positions', 'beacon_reports', 'terminal_events') ORDER BY name`);
      expect(ttl.map((t) => [t.name, /TTL toDateTime\((tst|at)\) \+ toIntervalDay\((\d+)\)/.exec(t.q)?.[2]])).toEqual([['beacon_positions', '180'], ['beacon_reports', '1100'], ['terminal_events', '400']]);
      expect((await store.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'beacon_reports' AND name = 'worker'`))).toHaveLength(1);
      for (const table of TABLE_NAMES) {
        const cols = await store.query<{ name: string }>(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}' ORDER BY position`);
        expect(cols.map((c) => c.name), table).toEqual(TABLES[table].map((c) => c.name));
      }
      const tables = (await store.query<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name`)).map((t) => t.name);
      expect(tables).toEqual(expect.arrayContaining(['schema_migrations', 'cases_daily', 'cases_daily_mv', 'camera_uptime_daily', 'detector_quality_daily', 'worker_daily', 'beacon_positions', 'beacon_reports', 'terminal_events']));
      expect(await migrate(store, { tz: TZ })).toEqual({ applied: [], current: 5 });
      if (mode.reopens && mode.name !== 'server') {
        await store.close(); // chdb: one data folder per process, so close before opening it again
        store = await mode.open(dir);
        expect(await migrate(store, { tz: TZ })).toEqual({ applied: [], current: 5 });
      }
      const rows = await store.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r) => Number(r.version))).toEqual([1, 2, 3, 4, 5]);
    });

    it('rejects bad rows with a reason and writes the rest of the batch', async () => {
      const rejected: RejectedRow[] = [];
      const flaky = new FlakyStore(store);
      const writer = new TelemetryWriter({ store: flaky, dataDir: join(dir, 'bad'), log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), settings: FAST, onReject: (r) => rejected.push(r) });
      await writer.start();
      const ts = D0 - 4 * DAY;
      const good = (i: number) => ({ ts: ts + i, event_id: `bad-${i}`, category: 'vending', source: 'camera' as const, source_id: 'bad-cam', district: 'dx', cell: 'cx', lat: 43.87, lon: 125.31, class: 'car', score: 0.9 });
      const results = [
        writer.write('events', good(0)),
        writer.write('events', { ...good(1), score: 'high' as unknown as number }),
        writer.write('events', good(2)),
        writer.write('events', { ...good(3), ts: 'yesterday' as unknown as number }),
        writer.write('events', { ...good(4), source_id: undefined as unknown as string }),
        writer.write('events', { ...good(5), version: -1 }),
        writer.write('events', good(6)),
      ];
      expect(results).toEqual([true, false, true, false, false, false, true]);
      expect(rejected.map((r) => r.reason)).toEqual([
        'column score: expected a finite number, got "high"',
        'column ts: expected epoch milliseconds or a Date, got "yesterday"',
        'column source_id: required, missing',
        'column version: expected an integer in 0..65535 (u16), got number -1',
      ]);
      // A row that passes validation but that ClickHouse refuses is isolated by splitting the batch.
      flaky.poison = 'poison';
      for (let i = 7; i < 17; i++) writer.write('events', { ...good(i), class: i === 11 ? 'poison' : 'car' });
      expect(await writer.flush()).toBe(true);
      const ids = await store.query<{ event_id: string }>(`SELECT event_id FROM events WHERE source_id = 'bad-cam' ORDER BY ts`);
      expect(ids.map((r) => r.event_id)).toEqual(['bad-0', 'bad-2', 'bad-6', ...[7, 8, 9, 10, 12, 13, 14, 15, 16].map((i) => `bad-${i}`)]);
      expect(rejected[4]?.reason).toMatch(/ClickHouse refused it: .*Code: \d+\. DB::Exception: Cannot (parse|read)/);
      expect(rejected[4]?.row).toContain('poison');
      expect(writer.status().rows).toMatchObject({ received: 17, rejected: 5, written: 12, dropped: 0 });
      await writer.stop();
    });

    it('loses nothing and doubles nothing through an outage, and replays the spool in order', async () => {
      const flaky = new FlakyStore(store);
      const metrics = createMetricsRegistry({ defaults: false });
      const writer = new TelemetryWriter({ store: flaky, dataDir: join(dir, 'outage'), log: silentLogger(), metrics, settings: FAST });
      await writer.start();
      const base = D0 - 3 * DAY;
      let n = 0;
      const burst = (count: number) => {
        for (let i = 0; i < count; i++, n++) {
          writer.write('events', { ts: base + n, event_id: `o-${n}`, category: 'vending', source: 'camera', source_id: 'out-cam', district: 'dx', cell: 'cx', lat: 43.87, lon: 125.31 });
          if (n % 10 === 0) writer.write('camera_status', { ts: base + n, camera: 'out-cam', state: 'streaming', interval_s: 10, fps: 25, bitrate_kbps: 500, gaps: 0, reconnects: 0, samples: 1, drops: 0 });
        }
      };
      burst(250);
      expect(await writer.flush()).toBe(true);
      expect(writer.health().state).toBe('up');

      flaky.down = true; // ClickHouse goes away while rows keep arriving
      for (let k = 0; k < 10; k++) {
        burst(100);
        await new Promise((r) => setTimeout(r, 15));
      }
      await until('rows spooled', () => writer.status().spool.rows >= 900, 20_000);
      const h = writer.health();
      expect(h.state).toBe('degraded');
      expect(h.reason).toMatch(/on-disk spool/);
      expect(readdirSync(join(dir, 'outage', 'telemetry-spool')).filter((f) => f.endsWith('.batch')).length).toBeGreaterThan(0);
      expect(await metrics.metrics()).toMatch(/^gridwatch_telemetry_spool_batches [1-9]/m);

      // Back, but every insert reports failure after it landed: the replays must be deduplicated.
      flaky.down = false;
      flaky.landThenFail = true;
      await until('a batch landed and was reported failed', () => flaky.calls > 0 && writer.status().lastError.includes('landed'), 20_000);
      burst(50);
      flaky.landThenFail = false;
      burst(50);
      expect(await writer.flush()).toBe(true);
      expect(writer.health().state).toBe('up');

      const [r] = await store.query<{ n: number; u: number; first: string; last: string }>(`SELECT count() AS n, uniqExact(event_id) AS u FROM events WHERE source_id = 'out-cam'`);
      expect(Number(r!.n)).toBe(n);
      expect(Number(r!.u)).toBe(n);
      const [s] = await store.query<{ n: number }>(`SELECT sum(samples) AS n FROM camera_uptime_daily WHERE camera = 'out-cam'`);
      expect(Number(s!.n)).toBe(n / 10); // the rollup saw each status row once, replays included
      expect(await metrics.metrics()).toMatch(/^gridwatch_telemetry_batches_total\{path="replayed"\} [1-9]/m);
      expect(flaky.landed.length).toBeGreaterThan(10);
      expect(flaky.landed).toEqual([...flaky.landed].sort((a, b) => a - b)); // replayed in order

      // Rows left in the spool at shutdown are replayed by the next writer on the same folder.
      flaky.down = true;
      const before = n;
      burst(300);
      await writer.stop();
      expect(writer.status().spool.rows).toBe(300 + 30); // events and camera status rows
      flaky.down = false;
      const next = new TelemetryWriter({ store: flaky, dataDir: join(dir, 'outage'), log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), settings: FAST });
      await next.start();
      expect(await next.flush()).toBe(true);
      await next.stop();
      const [r2] = await store.query<{ n: number; u: number }>(`SELECT count() AS n, uniqExact(event_id) AS u FROM events WHERE source_id = 'out-cam'`);
      expect(Number(r2!.n)).toBe(before + 300);
      expect(Number(r2!.u)).toBe(before + 300);
    });

    it('a slow ClickHouse: inserts that time out go to the spool, land anyway, and are counted once', async () => {
      const flaky = new FlakyStore(store);
      flaky.delayMs = 300;
      const writer = new TelemetryWriter({ store: flaky, dataDir: join(dir, 'slow'), log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), settings: { ...FAST, insertTimeoutMs: 100 } });
      await writer.start();
      for (let i = 0; i < 300; i++) writer.write('events', { ts: D0 - 7 * DAY + i, event_id: `sl-${i}`, category: 'vending', source: 'camera', source_id: 'slow-cam', district: 'dx', cell: 'cx', lat: 43.87, lon: 125.31 });
      await until('an insert timed out', () => writer.status().lastError.includes('longer than 100 ms'), 20_000);
      expect(writer.health().state).toBe('degraded');
      await new Promise((r) => setTimeout(r, 400)); // the timed-out inserts land meanwhile
      flaky.delayMs = 0;
      expect(await writer.flush()).toBe(true);
      await writer.stop();
      expect(writer.status().batches.spilled).toBeGreaterThan(0);
      const [r] = await store.query<{ n: number; u: number }>(`SELECT count() AS n, uniqExact(event_id) AS u FROM events WHERE source_id = 'slow-cam'`);
      expect([Number(r!.n), Number(r!.u)]).toEqual([300, 300]);
    });

    it('raises the alarm as the spool fills, goes down and counts drops when it is full, refuses rows after stop', async () => {
      const flaky = new FlakyStore(store);
      flaky.down = true;
      const metrics = createMetricsRegistry({ defaults: false });
      const writer = new TelemetryWriter({ store: flaky, dataDir: join(dir, 'full'), log: silentLogger(), metrics, settings: { ...FAST, batchMaxRows: 10, spoolMaxBytes: 8 * 1024 } });
      await writer.start();
      for (let i = 0; i < 10; i++) writer.write('events', { ts: D0 - 6 * DAY + i, event_id: `f-${i}`, category: 'vending', source: 'camera', source_id: 'full-cam', district: 'dx', cell: 'cx', lat: 43.87, lon: 125.31 });
      await until('first batch spooled', () => writer.status().spool.batches === 1, 20_000);
      expect(writer.health()).toMatchObject({ state: 'degraded', alarm: 'filling' });
      for (let i = 10; i < 400; i++) {
        writer.write('events', { ts: D0 - 6 * DAY + i, event_id: `f-${i}`, category: 'vending', source: 'camera', source_id: 'full-cam', district: 'dx', cell: 'cx', lat: 43.87, lon: 125.31 });
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5)); // rows keep arriving, not all in one tick
      }
      await until('spool full', () => writer.status().rows.dropped > 0, 20_000);
      expect(writer.health().state).toBe('down');
      expect(writer.health().reason).toMatch(/spool full/);
      expect(await metrics.metrics()).toMatch(/^gridwatch_stage_dropped_total\{stage="telemetry",reason="spool_full"\} [1-9]/m);
      const { spool, rows } = writer.status();
      expect(spool.bytes).toBeLessThanOrEqual(8 * 1024);
      expect(spool.rows + rows.dropped).toBe(400); // every row is either waiting on disk or counted as dropped
      await writer.stop();
      expect(writer.write('events', { ts: D0, event_id: 'late', category: 'vending', source: 'camera', source_id: 'full-cam', district: 'dx', cell: 'cx', lat: 43.87, lon: 125.31 })).toBe(false);
      expect(writer.status().recentRejects.at(-1)?.reason).toMatch(/stopped/);
    });

    describe('statistics on a scripted scenario, computed by hand', () => {
      let stats: TelemetryStats;
      const range = { from_ms: D0, to_ms: D0 + 2 * DAY };

      beforeAll(async () => {
        const writer = new TelemetryWriter({ store, dataDir: join(dir, 'scenario'), log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), settings: FAST });
        await writer.start();
        const place = { c1: { district: 'd1', street: 's1', cell: 'c1' }, c2: { district: 'd1', street: 's1', cell: 'c2' }, c3: { district: 'd2', street: 's2', cell: 'c3' } };
        type Step = [number, string, string | null, number | null, number | null]; // ts, state, department, deadline, satisfaction
        const kase = (id: string, category: string, at: keyof typeof place, opened: number, steps: Step[]) => {
          for (const [ts, to_state, department, deadline, satisfaction] of steps) {
            writer.write('case_transitions', { ts, case_id: id, to_state: to_state as never, category, ...place[at], department: department ?? '', opened_at: opened, deadline, satisfaction });
          }
        };
        // A: on time everywhere, satisfied, 5 h to close.
        kase('A', 'vending', 'c1', D0 + 1 * HOUR, [[D0 + 1 * HOUR, 'reported', null, null, null], [D0 + 1 * HOUR, 'dispatched', 'urban', null, null],
          [D0 + 2 * HOUR, 'signed', 'urban', D0 + 3 * HOUR, null], [D0 + 5 * HOUR, 'resolved', 'urban', D0 + 6 * HOUR, null], [D0 + 6 * HOUR, 'closed', 'urban', D0 + 25 * HOUR, 1]]);
        // B: late everywhere, not satisfied, closed the next day after 24 h.
        kase('B', 'parking', 'c2', D0 + 2 * HOUR, [[D0 + 2 * HOUR, 'reported', null, null, null], [D0 + 2 * HOUR, 'dispatched', 'traffic', null, null],
          [D0 + 10 * HOUR, 'signed', 'traffic', D0 + 4 * HOUR, null], [D1 + 1 * HOUR, 'resolved', 'traffic', D0 + 8 * HOUR, null], [D1 + 2 * HOUR, 'closed', 'traffic', D0 + 14 * HOUR, 0]]);
        // C: signed on time, still open.
        kase('C', 'vending', 'c3', D0 + 3 * HOUR, [[D0 + 3 * HOUR, 'reported', null, null, null], [D0 + 3 * HOUR, 'dispatched', 'urban', null, null], [D0 + 4 * HOUR, 'signed', 'urban', D0 + 5 * HOUR, null]]);
        // D: never signed, escalated.
        kase('D', 'vending', 'c1', D1 + 1 * HOUR, [[D1 + 1 * HOUR, 'reported', null, null, null], [D1 + 1 * HOUR, 'dispatched', 'urban', null, null], [D1 + 5 * HOUR, 'escalated', 'urban', null, null]]);
        // A case from another week that no range below covers.
        kase('Z', 'vending', 'c1', D0 - 5 * DAY, [[D0 - 5 * DAY, 'reported', null, null, null]]);

        // Workers: w1 walks 2 × 0.001° of latitude in 2 min, then a 3 h gap; w2 stands still for 200 s; w3 does nothing.
        // Positions and reports as the beacon ingest stores them; one position and one report arrive twice (a redelivery).
        const positions: object[] = [];
        const pos = (worker: string, terminal: string, tst: number, lat: number) => positions.push({ terminal, worker, tst, received_at: tst, source: 'gw', lat, lon: 125.31, acc: 5, batt: 80, cell: 'c1' });
        pos('w1', 't1', D0 + 9 * HOUR, 43.87); pos('w1', 't1', D0 + 9 * HOUR + 60_000, 43.871); pos('w1', 't1', D0 + 9 * HOUR + 60_000, 43.871); pos('w1', 't1', D0 + 9 * HOUR + 120_000, 43.872); pos('w1', 't1', D0 + 12 * HOUR, 43.9);
        pos('w2', 't2', D0 + 9 * HOUR, 43.88); pos('w2', 't2', D0 + 9 * HOUR + 200_000, 43.88);
        const reports: object[] = [];
        const report = (worker: string, terminal: string, i: number) => reports.push({ event_id: `${worker}-r${i}`, terminal, worker, tst: D0 + 10 * HOUR + i, received_at: D0 + 10 * HOUR + i, category: 'sanitation', lat: 43.87, lon: 125.31 });
        report('w1', 't1', 1); report('w1', 't1', 2); report('w1', 't1', 2); report('w2', 't2', 1); report('w2', 't2', 2);
        await store.insert('beacon_positions', positions);
        await store.insert('beacon_reports', reports);

        // Cameras: cam1 streams 4 of 6 ten-second samples, cam2 2 of 2.
        const states = ['streaming', 'streaming', 'stalled', 'backoff', 'streaming', 'streaming'] as const;
        states.forEach((state, i) => writer.write('camera_status', { ts: D0 + 8 * HOUR + i * 10_000, camera: 'cam1', state, interval_s: 10, fps: 25, bitrate_kbps: 800, gaps: state === 'stalled' ? 1 : 0, reconnects: state === 'backoff' ? 1 : 0, samples: 1, drops: 0 }));
        for (let i = 0; i < 2; i++) writer.write('camera_status', { ts: D0 + 8 * HOUR + i * 10_000, camera: 'cam2', state: 'streaming', interval_s: 10, fps: 25, bitrate_kbps: 800, gaps: 0, reconnects: 0, samples: 1, drops: 0 });

        // Events: 4 from cam1/z1, 1 from cam2/z2, 1 from a terminal; verdicts on four of them.
        const ev = (id: string, source: 'camera' | 'terminal', source_id: string, zone: string, lat: number, lon: number, at: keyof typeof place) =>
          writer.write('events', { ts: D0 + 7 * HOUR, event_id: id, category: 'vending', source, source_id, zone, lat, lon, ...place[at] });
        ev('e1', 'camera', 'cam1', 'z1', 43.88, 125.32, 'c1'); ev('e2', 'camera', 'cam1', 'z1', 43.88, 125.32, 'c1');
        ev('e3', 'camera', 'cam1', 'z1', 43.88, 125.32, 'c1'); ev('e4', 'camera', 'cam1', 'z1', 43.88, 125.32, 'c1');
        ev('e5', 'camera', 'cam2', 'z2', 43.9, 125.35, 'c3'); ev('e6', 'terminal', 't1', '', 43.881, 125.321, 'c1');
        const verdict = (event_id: string, camera: string, zone: string, verdict: 'confirmed' | 'dismissed', reason = '') =>
          writer.write('verdicts', { ts: D0 + 7 * HOUR + 60_000, event_id, camera, zone, category: 'vending', verdict, reason, operator: 'op1' });
        verdict('e1', 'cam1', 'z1', 'confirmed'); verdict('e2', 'cam1', 'z1', 'dismissed', 'false_positive'); verdict('e3', 'cam1', 'z1', 'dismissed', 'duplicate');
        verdict('e5', 'cam2', 'z2', 'confirmed');
        expect(writer.status().rows.rejected).toBe(0);
        expect(await writer.flush()).toBe(true);
        await writer.stop();
        stats = new TelemetryStats(store, city);
      });

      it('closure, on-time sign and close rates, resolve time and satisfaction', async () => {
        expect(await stats.summary(range)).toEqual({
          created: 4, dispatched: 4, signed: 3, signed_on_time: 2, resolved: 2, resolved_on_time: 1, closed: 2, closed_on_time: 1, escalated: 1,
          closure_rate: 0.5, on_time_sign_rate: 2 / 3, on_time_close_rate: 0.5, mean_resolve_s: (5 * 3600 + 24 * 3600) / 2, satisfaction: 0.5, satisfaction_n: 2,
        });
        const day0 = await stats.summary({ from_ms: D0, to_ms: D1 });
        expect(day0).toMatchObject({ created: 3, signed: 3, signed_on_time: 2, closed: 1, closed_on_time: 1, closure_rate: 1 / 3, mean_resolve_s: 5 * 3600, satisfaction: 1 });
        expect(await stats.summary({ ...range, area: 'd1' })).toMatchObject({ created: 3, closed: 2, closure_rate: 2 / 3, signed: 2, on_time_sign_rate: 0.5 });
        expect(await stats.summary({ ...range, area: 'm1' })).toMatchObject({ created: 2, closed: 1, closure_rate: 0.5, escalated: 1 });
        expect(await stats.summary({ ...range, area: 'c3' })).toMatchObject({ created: 1, closed: 0, closure_rate: 0, signed_on_time: 1 });
      });

      it('category shares and cell rankings', async () => {
        expect(await stats.categories(range)).toEqual([{ category: 'vending', cases: 3, share: 0.75 }, { category: 'parking', cases: 1, share: 0.25 }]);
        expect(await stats.cells(range)).toEqual([
          { rank: 1, cell: 'c1', created: 2, closed: 1, closure_rate: 0.5, on_time_close_rate: 1 },
          { rank: 2, cell: 'c2', created: 1, closed: 1, closure_rate: 1, on_time_close_rate: 0 },
          { rank: 3, cell: 'c3', created: 1, closed: 0, closure_rate: 0, on_time_close_rate: null },
        ]);
      });

      it('department ranking', async () => {
        expect(await stats.departments(range)).toEqual([
          { rank: 1, department: 'urban', received: 3, signed: 2, resolved: 1, closure_rate: 1 / 3, on_time_sign_rate: 1, on_time_close_rate: 1, satisfaction: 1, mean_resolve_s: 5 * 3600 },
          { rank: 2, department: 'traffic', received: 1, signed: 1, resolved: 1, closure_rate: 1, on_time_sign_rate: 0, on_time_close_rate: 0, satisfaction: 0, mean_resolve_s: 24 * 3600 },
        ]);
      });

      it('worker ranking with distance, time online and reports, and the yellow-light list', async () => {
        const R = 6371008.8;
        const step = 2 * R * Math.asin(Math.sqrt(Math.sin((0.001 * Math.PI) / 180 / 2) ** 2)); // 0.001° of latitude
        const { workers, yellow_light } = await stats.workers(range);
        expect(workers.map((w) => [w.rank, w.worker, w.reports, w.online_s])).toEqual([[1, 'w2', 2, 200], [2, 'w1', 2, 120], [3, 'w3', 0, 0]]);
        expect(workers[1]!.distance_m).toBeCloseTo(2 * step, 3); // float rounding of 43.871 − 43.87 only
        expect(workers[0]!.distance_m).toBe(0);
        expect(yellow_light.map((w) => w.worker)).toEqual(['w3', 'w1', 'w2']);
        expect((await stats.workers({ ...range, area: 'd2' })).workers.map((w) => w.worker)).toEqual(['w3']);
      });

      it('camera uptime, detector false-positive rates and the H3 heatmap', async () => {
        expect(await stats.cameraUptime(range)).toEqual([
          { camera: 'cam1', uptime: 40 / 60, up_s: 40, total_s: 60, samples: 6, reconnects: 1, gaps: 1, drops: 0 },
          { camera: 'cam2', uptime: 1, up_s: 20, total_s: 20, samples: 2, reconnects: 0, gaps: 0, drops: 0 },
        ]);
        expect((await stats.cameraUptime({ ...range, area: 'd2' })).map((c) => c.camera)).toEqual(['cam2']);
        expect(await stats.detectors(range)).toEqual({
          zones: [
            { camera: 'cam1', zone: 'z1', raised: 4, confirmed: 1, dismissed: 2, false_positive_rate: 2 / 3 },
            { camera: 'cam2', zone: 'z2', raised: 1, confirmed: 1, dismissed: 0, false_positive_rate: 0 },
          ],
          dismiss_reasons: [{ reason: 'duplicate', count: 1 }, { reason: 'false_positive', count: 1 }],
        });
        const heat = await stats.heatmap(range, 8);
        const expected = new Map<string, number>();
        for (const [lat, lon, k] of [[43.88, 125.32, 4], [43.9, 125.35, 1], [43.881, 125.321, 1]] as const) {
          const h = latLngToCell(lat, lon, 8);
          expected.set(h, (expected.get(h) ?? 0) + k);
        }
        expect(new Map(heat.map((c) => [c.h3, c.count]))).toEqual(expected);
        expect(heat[0]!.boundary.length).toBeGreaterThanOrEqual(6);
        expect((await stats.heatmap({ ...range, area: 'c3' }, 8)).map((c) => c.count)).toEqual([1]);
      });

      it('serves the same figures over HTTP, typed, and refuses bad parameters', async () => {
        const app = Fastify();
        handleHttpErrors(app); // as the engine's server does
        registerStatsRoutes(app, stats, { guard: async () => undefined });
        await app.ready();
        try {
          const q = `from=${D0}&to=${D0 + 2 * DAY}`;
          const summary = await app.inject({ url: `/api/stats/summary?${q}&area=d1` });
          expect(summary.statusCode).toBe(200);
          expect(summary.json()).toMatchObject({ window: { from: new Date(D0).toISOString(), area: 'd1' }, created: 3, closure_rate: 2 / 3 });
          const workers = await app.inject({ url: `/api/stats/rankings/workers?${q}` });
          expect(workers.json().yellow_light.map((w: { worker: string }) => w.worker)).toEqual(['w3', 'w1', 'w2']);
          for (const path of ['categories', 'rankings/cells', 'rankings/departments', 'heatmap', 'cameras/uptime', 'detectors']) {
            expect((await app.inject({ url: `/api/stats/${path}?${q}` })).statusCode, path).toBe(200);
          }
          const bad = await app.inject({ url: `/api/stats/summary?${q}&area=nowhere` });
          expect(bad.statusCode).toBe(400);
          expect(bad.json()).toEqual({ error: { code: 'TELEMETRY_STATS_QUERY', message: expect.stringMatching(/unknown area nowhere/) } });
          const soon = await app.inject({ url: `/api/stats/summary?from=soon` });
          expect([soon.statusCode, soon.json().error.code]).toEqual([400, 'TELEMETRY_STATS_QUERY']);
          const res = await app.inject({ url: `/api/stats/heatmap?${q}&res=99` });
          expect([res.statusCode, res.json()]).toEqual([400, { error: { code: 'BAD_REQUEST', message: expect.stringMatching(/res/) } }]);
        } finally {
          await app.close();
        }
      });
    });
  });
}
