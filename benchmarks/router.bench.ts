/**
 * Router benchmark: event → dispatch-order latency through a router in its own process, and,
 * side by side in the same run, a bare JetStream publish → consume round trip at the same rate.
 *
 *   npx tsx benchmarks/router.bench.ts --rate 500 --duration-s 60
 *
 * The baseline runs at the same rate during the same seconds, so that both see the same load.
 * CPU per event is counted for the router process, nats-server (both streams) and this client.
 *
 * The last stdout line is one JSON object; it is also written to benchmarks/results/router.json.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { validateCity } from '../config/index.ts';
import { generateCity } from '../sim/index.ts';
import { publishEvent } from '../bus/index.ts';
import { EVENT_SCHEMA, type GridEventT } from '../domain/index.ts';
import { startNatsServer, tempDir, until } from '../test/harness.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

const rate = arg('rate', 500);
const durationS = arg('duration-s', 10);
const rawDurationS = durationS;
const drainS = 15;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
const round = (v: number) => Math.round(v * 100) / 100;

/** CPU seconds a process has used so far (Linux /proc; 0 elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Calls `tick(i)` `rate` times a second for `seconds`, in 10 ms slices, without awaiting each call. */
async function paced(seconds: number, tick: (i: number) => void): Promise<number> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    while (sent < due) tick(sent++);
    await new Promise((r) => setTimeout(r, 10));
  }
  return sent;
}

async function rawRoundTrip(nc: NatsConnection): Promise<{ p50: number; p99: number; n: number }> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'BENCH_RAW', subjects: ['bench.raw'], duplicate_window: 600e9 });
  await jsm.consumers.add('BENCH_RAW', { durable_name: 'raw', ack_policy: 'explicit' as never });
  const js = jetstream(nc);
  const sentAt = new Map<number, number>();
  const lat: number[] = [];
  const messages = await (await js.consumers.get('BENCH_RAW', 'raw')).consume({ max_messages: 1000 });
  const done = (async () => {
    for await (const m of messages) {
      const i = Number(m.string());
      const t0 = sentAt.get(i);
      if (t0 !== undefined) lat.push(performance.now() - t0);
      m.ack();
    }
  })();
  const n = await paced(rawDurationS, (i) => {
    sentAt.set(i, performance.now());
    void js.publish('bench.raw', String(i), { msgID: `raw-${i}` });
  });
  // Drains for at most drainS; what has not arrived by then is reported, not waited for.
  await until('the baseline drained', () => lat.length >= n, drainS * 1000).catch(() => undefined);
  await messages.close();
  await done;
  lat.sort((a, b) => a - b);
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), n };
}

async function main(): Promise<void> {
  const nats = await startNatsServer();
  let router: ChildProcess | null = null;
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  try {
    // A demo city where every event is its own case (merge radius 0), categories with one department each.
    const cityRaw = generateCity({ cameras: 2, terminals: 2 }) as Record<string, any>;
    cityRaw.routing.merge_radius_m = 0;
    const city = validateCity(cityRaw);
    const dir = tempDir('gw-bench-router-');
    const file = join(dir, 'city.yaml');
    writeFileSync(file, stringify(cityRaw));
    router = spawn(process.execPath, [...(process.env.ROUTER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', 'router/router-process.ts', nats.url, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('router not ready in 30 s')), 30_000);
      router!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) (clearTimeout(t), resolve()); });
    });

    const js = jetstream(nc);
    const sentAt = new Map<string, number>();
    const got = new Map<string, number>();
    const lat: number[] = [];
    const windows: number[][] = [];
    const benchStart = performance.now();
    let duplicated = 0;
    const consumers = await Promise.all([...city.departments.keys()].map(async (d) => (await js.consumers.get('GW_DISPATCH', `dispatch-${d}`)).consume({ max_messages: 1000 })));
    const onOrder = (m: JsMsg) => {
      const o = m.json<{ event_id?: string }>();
      m.ack();
      if (!o.event_id) return;
      const seen = got.get(o.event_id) ?? 0;
      got.set(o.event_id, seen + 1);
      if (seen > 0) return void duplicated++;
      const t0 = sentAt.get(o.event_id);
      if (t0 === undefined) return;
      const l = performance.now() - t0;
      lat.push(l);
      (windows[Math.floor((t0 - benchStart) / 10_000)] ??= []).push(l);
    };
    const loops = consumers.map(async (c) => { for await (const m of c) onOrder(m); });

    const categories = ['illegal_parking', 'sanitation', 'illegal_posting', 'facility_damage'];
    const [w, s, e, n] = city.grid.bounds();
    const runId = Date.now().toString(36);
    let publishErrors = 0;
    const cpu0 = { router: cpuSeconds(router.pid), nats: cpuSeconds(nats.process.pid), self: process.cpuUsage() };
    // The baseline runs at the same time on its own connection and stream, so that both see the
    // same load on this shared machine.
    const rawNc = await connect({ servers: nats.url, noAsyncTraces: true });
    const rawRun = rawRoundTrip(rawNc);
    const events = await paced(durationS, (i) => {
      const lat0 = s + Math.random() * (n - s), lon0 = w + Math.random() * (e - w);
      const now = new Date().toISOString();
      const category = categories[i % categories.length]!;
      const ev: GridEventT = {
        schema: EVENT_SCHEMA, id: `bench-${runId}-${i}`, type: category === 'illegal_parking' ? 'illegal_parking' : 'terminal_report', category,
        source: { kind: 'camera', id: 'cam-0001', zone: 'kerb' }, first_seen: now, confirmed_at: now,
        place: { lat: lat0, lon: lon0, path: [...(city.grid.locate(lat0, lon0)?.path ?? [])], method: 'ground_point' },
        object: { class: 'car', box: [1, 2, 3, 4], dwell_s: 60, score: 0.7 }, evidence: [`http://127.0.0.1/e/${i}.jpg`], model: { name: 'nanodet-g-416', version: '1' },
      };
      sentAt.set(ev.id, performance.now());
      publishEvent(js, ev).catch(() => publishErrors++);
    });
    const cpu1 = { router: cpuSeconds(router.pid), nats: cpuSeconds(nats.process.pid), self: process.cpuUsage(cpu0.self) };
    const raw = await rawRun;
    await rawNc.close();
    await until('every dispatch order', () => got.size >= events, drainS * 1000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    for (const c of consumers) await c.close();
    await Promise.all(loops);
    const jsm = await jetstreamManager(nc);
    const ordersInStream = (await jsm.streams.info('GW_DISPATCH')).state.messages;

    lat.sort((a, b) => a - b);
    const result = {
      bench: 'router',
      events,
      rate,
      duration_s: durationS,
      p50_ms: round(quantile(lat, 0.5)),
      p99_ms: round(quantile(lat, 0.99)),
      max_ms: round(lat[lat.length - 1] ?? NaN),
      raw_p50_ms: round(raw.p50),
      raw_p99_ms: round(raw.p99),
      raw_events: raw.n,
      p99_over_raw: round(quantile(lat, 0.99) / raw.p99),
      p99_ms_per_10s: windows.map((w) => round(quantile(w.sort((a, b) => a - b), 0.99))),
      router_cpu_ms_per_event: round(((cpu1.router - cpu0.router) * 1000) / events),
      nats_cpu_ms_per_event: round(((cpu1.nats - cpu0.nats) * 1000) / events),
      client_cpu_ms_per_event: round((cpu1.self.user + cpu1.self.system) / 1000 / events),
      load_avg_1m: round(loadavg()[0]!),
      lost: events - got.size,
      duplicated: duplicated + Math.max(0, ordersInStream - events),
      publish_errors: publishErrors,
      machine: { cores: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version, shared: true },
      commit: (() => { try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } })(),
      finished_at: new Date().toISOString(),
    };
    const out = join(import.meta.dirname, 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'router.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    if (router && router.exitCode === null) {
      const exited = new Promise((r) => router!.once('exit', r));
      router.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (router.exitCode === null) router.kill('SIGKILL');
    }
    await nc.close();
    await nats.stop();
  }
}

await main();
