/**
 * Telemetry writer throughput against a bare bulk insert of the same rows, in one run, on embedded
 * chdb (or the server at CLICKHOUSE_URL), for two tables the engine writes: `camera_status` (narrow
 * rows, one per camera per interval) and `events` (wide rows).
 *
 *   npx tsx benchmarks/telemetry.bench.ts [--rows 200000] [--batch 10000] [--rounds 2]
 *
 * bare:   the rows made --batch at a time, shaped for ClickHouse (times as text) and inserted with
 *         one `store.insert` per chunk (JSONEachRow; no validation, no buffering, no spool).
 * writer: the same rows made 1000 at a time as a producer would (times in epoch ms), one
 *         `write()` each: validated, encoded, batched by size/time, inserted with a token.
 * Both timings include making the rows (the same cost on both sides).
 * Also reports the event loop's delay idle, while only chdb inserts run, and while the writer runs
 * (chdb inserts run off the loop), and `ceiling_rows_per_s`: pre-encoded camera_status rows inserted back
 * to back, i.e. ClickHouse alone with no JavaScript work.
 * The last stdout line is the JSON result; it is also written to benchmarks/results/telemetry.json.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createMetricsRegistry, silentLogger } from '../core/index.ts';
import { ChdbStore, ServerStore, TelemetryWriter, TABLES, compileEncoder, migrate, type TelemetryStore, type TableName, type CameraStatusRow, type EventRow } from '../telemetry/index.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const ROWS = Math.trunc(arg('rows', 200_000));
const BATCH = Math.trunc(arg('batch', 10_000));
const ROUNDS = Math.trunc(arg('rounds', 2));

const tsText = (ms: number) => `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}`;

const STATES = ['streaming', 'streaming', 'streaming', 'stalled', 'backoff'] as const;

function cameraStatus(n: number, t0: number): CameraStatusRow[] {
  const rows: CameraStatusRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const cam = i % 1000;
    rows[i] = { ts: t0 + i, node: `node-${cam % 3}`, camera: `cam-${cam}`, state: STATES[i % 5]!, interval_s: 10, fps: 15 - (i % 3), bitrate_kbps: 512 + (i % 40), gaps: i % 7 === 0 ? 1 : 0, reconnects: i % 5 === 4 ? 1 : 0, samples: 1, drops: 0 };
  }
  return rows;
}

function events(n: number, t0: number): EventRow[] {
  const classes = ['car', 'truck', 'person', 'bus', 'umbrella'];
  const rows: EventRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const cam = i % 1000;
    rows[i] = { ts: t0 + i, event_id: `ev-${t0}-${i}`, category: i % 2 ? 'illegal_parking' : 'vending', source: 'camera', source_id: `cam-${cam}`, district: `d-${cam % 7}`, street: `s-${cam % 41}`, cell: `c-${cam % 97}`, lat: 43.8 + (i % 1000) * 1e-5, lon: 125.3 + (i % 777) * 1e-5, class: classes[i % 5]!, score: 0.3 + (i % 70) / 100, dwell_s: 60 + (i % 300), zone: `z-${cam % 3}`, model: 'nanodet-g-416', model_version: '1.0.0', snapshot: `evidence/cam-${cam}/${i}.jpg` };
  }
  return rows;
}

/** The same rows as ClickHouse reads them in JSONEachRow: times as seconds text, defaults filled. */
function chShape(rows: readonly object[]): object[] {
  return rows.map((r) => {
    const o = { ...(r as Record<string, unknown>) };
    o.ts = tsText(o.ts as number);
    return o;
  });
}

type Make = (n: number, t0: number) => object[];

/** Bare: rows made chunk by chunk, shaped for ClickHouse, one `store.insert` per chunk. */
async function bare(store: TelemetryStore, table: TableName, make: Make, t0: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < ROWS; i += BATCH) await store.insert(table, chShape(make(Math.min(BATCH, ROWS - i), t0 + i)));
  return (performance.now() - t) / 1000;
}

/** Writer: the same rows made 1000 at a time, as a producer would, each handed to `write()`. */
async function viaWriter(store: TelemetryStore, dir: string, table: TableName, make: Make, t0: number): Promise<{ s: number; loopP99Ms: number; loopMaxMs: number }> {
  const writer = new TelemetryWriter({ store, dataDir: dir, log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), settings: { batchMaxRows: BATCH, batchMaxBytes: 64 << 20 } });
  await writer.start();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t = performance.now();
  for (let i = 0; i < ROWS; i += 1000) {
    const rows = make(Math.min(1000, ROWS - i), t0 + i);
    for (const r of rows) writer.write(table, r as never);
    await new Promise((r) => setImmediate(r));
  }
  const ok = await writer.flush(600_000);
  const s = (performance.now() - t) / 1000;
  h.disable();
  await writer.stop();
  const st = writer.status();
  if (!ok || st.rows.rejected || st.rows.dropped || st.rows.written !== ROWS) throw new Error(`writer lost rows: ${JSON.stringify(st.rows)}`);
  if (st.batches.spilled) console.log(`  ${table}: ${st.batches.spilled} of ${st.batches.direct + st.batches.replayed} batches went through the spool (ClickHouse slower than the producer)`);
  return { s, loopP99Ms: h.percentile(99) / 1e6, loopMaxMs: h.max / 1e6 };
}

/** Event-loop delay while `fn` runs (1 ms resolution). */
async function loopDelay(fn: () => Promise<void>): Promise<{ p99_ms: number; max_ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await fn();
  h.disable();
  return { p99_ms: +(h.percentile(99) / 1e6).toFixed(2), max_ms: +(h.max / 1e6).toFixed(2) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-telemetry-bench-'));
  const url = process.env.CLICKHOUSE_URL;
  const store = url ? await ServerStore.open(url, `gw_bench_${process.pid}`) : await ChdbStore.open(dir, 'gridwatch');
  await migrate(store, { tz: 'UTC' });
  const per: Record<string, { rows: number; bare_s: number; writer_s: number; rows_per_s: number; raw_rows_per_s: number; ratio: number; loop_p99_ms: number; loop_max_ms: number }> = {};
  let tBare = 0, tWriter = 0, nRows = 0, loopP99 = 0, loopMax = 0;
  const now = Date.now() - 3_600_000;
  let offset = 0;
  for (const [table, make] of [['camera_status', cameraStatus], ['events', events]] as const) {
    let b = 0, w = 0, p99 = 0, mx = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Fresh rows each time (identical blocks would be deduplicated), alternating the order.
      const ta = now + (offset += ROWS);
      const tc = now + (offset += ROWS);
      if (round % 2 === 0) {
        b += await bare(store, table, make, ta);
        const r = await viaWriter(store, join(dir, `w-${table}-${round}`), table, make, tc);
        w += r.s, p99 = Math.max(p99, r.loopP99Ms), mx = Math.max(mx, r.loopMaxMs);
      } else {
        const r = await viaWriter(store, join(dir, `w-${table}-${round}`), table, make, tc);
        w += r.s, p99 = Math.max(p99, r.loopP99Ms), mx = Math.max(mx, r.loopMaxMs);
        b += await bare(store, table, make, ta);
      }
    }
    const n = ROWS * ROUNDS;
    const [cnt] = await store.query<{ n: number }>(`SELECT count() AS n FROM ${table}`);
    if (Number(cnt!.n) !== 2 * n) throw new Error(`${table}: expected ${2 * n} rows, found ${cnt!.n}`);
    per[table] = { rows: n, bare_s: +b.toFixed(3), writer_s: +w.toFixed(3), rows_per_s: Math.round(n / w), raw_rows_per_s: Math.round(n / b), ratio: +(b / w).toFixed(3), loop_p99_ms: +p99.toFixed(2), loop_max_ms: +mx.toFixed(2) };
    console.log(`${table}: writer ${per[table]!.rows_per_s} rows/s, bare ${per[table]!.raw_rows_per_s} rows/s, ratio ${per[table]!.ratio}, event loop p99 ${per[table]!.loop_p99_ms} ms`);
    tBare += b, tWriter += w, nRows += n, loopP99 = Math.max(loopP99, p99), loopMax = Math.max(loopMax, mx);
  }
  // Does ClickHouse work block the loop? The loop idle, against the loop while only chdb inserts
  // run (pre-encoded batches, no JavaScript work between them).
  const idle = await loopDelay(() => new Promise((r) => setTimeout(r, 1000)));
  const bodies: Buffer[] = [];
  const enc = compileEncoder(TABLES.camera_status);
  for (let k = 0; k < 10; k++) bodies.push(Buffer.from(cameraStatus(BATCH, now + (offset += BATCH)).map((r) => enc(r) as string).join('')));
  const t0 = performance.now();
  const insertOnly = await loopDelay(async () => {
    for (const b of bodies) await store.insertRaw('camera_status', b);
  });
  const ceiling = Math.round((bodies.length * BATCH) / ((performance.now() - t0) / 1000));
  console.log(`event loop p99: idle ${idle.p99_ms} ms, during chdb inserts only ${insertOnly.p99_ms} ms, during the writer run ${loopP99.toFixed(2)} ms`);
  await store.close();
  if (url) {
    const s = await ServerStore.open(url, `gw_bench_${process.pid}`);
    await s.exec(`DROP DATABASE IF EXISTS gw_bench_${process.pid}`);
    await s.close();
  }
  rmSync(dir, { recursive: true, force: true });
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch { /* not a checkout */ }
  const result = {
    bench: 'telemetry', mode: url ? 'server' : 'embedded', rows_per_table: ROWS * ROUNDS, batch_rows: BATCH,
    rows_per_s: Math.round(nRows / tWriter), raw_rows_per_s: Math.round(nRows / tBare), ratio: +(tBare / tWriter).toFixed(3),
    // camera_status rows already encoded, inserted back to back: what ClickHouse alone takes, for scale
    ceiling_rows_per_s: ceiling,
    event_loop_p99_ms: +loopP99.toFixed(2), event_loop_max_ms: +loopMax.toFixed(2),
    event_loop: { idle, inserts_only: insertOnly, writer: { p99_ms: +loopP99.toFixed(2), max_ms: +loopMax.toFixed(2) } }, tables: per,
    machine: { cores: cpus().length, memory_gib: +(totalmem() / 2 ** 30).toFixed(1), cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
    commit, at: new Date().toISOString(),
  };
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'telemetry.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
