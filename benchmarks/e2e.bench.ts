/**
 * End to end on the demo city: simulated cameras (the RTSP camera farm streaming vtest.avi),
 * terminals and departments, with the whole engine in this process. Measures, per violation:
 *   capture → event:  the capture time of the frame that confirmed it → the event seen on NATS;
 *   event → dispatch: the event seen on NATS → the dispatch order seen on NATS;
 *   event → alert:    the event seen on NATS → the alert received by a logged-in websocket console
 *                     (negative when the console had it first: the alert is pushed before the publish).
 * Baseline in the same run: capture → sample handed to the detectors (ingest and decode alone).
 *
 *   npx tsx benchmarks/e2e.bench.ts --cameras 20 --terminals 10 --duration-s 60
 *
 * The last stdout line is one JSON object.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import WebSocket from 'ws';
import { connect } from '@nats-io/transport-node';
import { freePort, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { generateCity, demoSimulators } from '../sim/index.ts';
import { Engine } from '../engine/index.ts';
import { tempDir } from '../test/harness.ts';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: expected a number >= 0`);
  return v;
}
const cameras = arg('cameras', 20), terminals = arg('terminals', 10), durationS = arg('duration-s', 60);
const q = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : null);
const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);

// Set-up: the demo city on free ports, short dwell so that violations come within the run.
const dir = tempDir('gw-e2e-');
const raw = generateCity({ cameras, terminals, demo: true, cameraFarmPort: await freePort() }) as Record<string, any>;
raw.services = { data_dir: join(dir, 'data'), http: { host: '127.0.0.1', port: await freePort() }, mqtt: { port: await freePort() } };
raw.ingest = { sample_period_s: 2 };
for (const c of raw.cameras) for (const z of c.zones) z.dwell_s = 6;
const file = join(dir, 'city.yaml');
writeFileSync(file, stringify(raw));
const engine = new Engine({ addOns: [demoSimulators], city: loadCity(file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: 'e2e-admin-pw' } });
const cpu0 = process.cpuUsage();
const t0 = Date.now();
await engine.start();
process.stderr.write(`engine started in ${Date.now() - t0} ms; measuring for ${durationS} s\n`);

// Observers: an independent NATS client, and a console logged in over the websocket.
const nc = await connect({ servers: engine.bus.url.split(',') });
const eventSeen = new Map<string, { at: number; captureMs: number }>();
const captureToEvent: number[] = [], eventToDispatch: number[] = [], eventToAlert: number[] = [], captureToSample: number[] = [];
const alertSeen = new Map<string, number>();
const events = nc.subscribe('gw.events.>');
void (async () => {
  for await (const m of events) {
    const e = m.json<{ id: string; source: { kind: string }; confirmed_at: string }>();
    if (e.source.kind !== 'camera' || eventSeen.has(e.id)) continue;
    const at = Date.now(), captureMs = Date.parse(e.confirmed_at);
    eventSeen.set(e.id, { at, captureMs });
    captureToEvent.push(at - captureMs);
    const a = alertSeen.get(e.id);
    if (a !== undefined) eventToAlert.push(a - at);
  }
})();
const orders = nc.subscribe('gw.dispatch.*');
// A case's first dispatch order only: a later one (the department sent the case back and it
// went to another) is not a latency.
const dispatched = new Set<string>();
let redispatches = 0;
void (async () => {
  for await (const m of orders) {
    const o = m.json<{ case_id: string; action: string }>();
    const eventId = engine.router.get(o.case_id)?.reports[0]?.event_id;
    const seen = eventId ? eventSeen.get(eventId) : undefined;
    if (o.action !== 'dispatch' || !seen) continue;
    if (dispatched.has(o.case_id)) { redispatches++; continue; }
    dispatched.add(o.case_id);
    eventToDispatch.push(Date.now() - seen.at);
  }
})();
const login = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'e2e-admin-pw' }) });
const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
const ws = new WebSocket(`${engine.httpUrl.replace('http', 'ws')}/api/live`, { headers: { cookie, origin: engine.httpUrl } });
ws.on('message', (d) => {
  const at = Date.now();
  const msgs = JSON.parse(String(d));
  for (const m of Array.isArray(msgs) ? msgs : [msgs]) {
    const id = m?.type === 'alert' ? m.alert?.alert?.id : undefined;
    if (!id || alertSeen.has(id)) continue;
    alertSeen.set(id, at);
    const e = eventSeen.get(id);
    if (e) eventToAlert.push(at - e.at);
  }
});
// Baseline: samples handed over by ingest, against their capture time.
const detectors = engine.cameras.detectors!;
const submit = detectors.submit.bind(detectors);
detectors.submit = (s) => { captureToSample.push(Date.now() - s.captureTimeMs); return submit(s); };

await new Promise((r) => setTimeout(r, durationS * 1000));
const cpu = process.cpuUsage(cpu0);
const wallS = (Date.now() - t0) / 1000;
const rssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
ws.close();
await nc.drain();
await engine.stop();

const result = {
  bench: 'e2e', cameras, terminals, duration_s: durationS, violations: eventSeen.size, dispatch_orders: eventToDispatch.length, later_dispatch_orders: redispatches, alerts: alertSeen.size,
  capture_to_event_p50_ms: round(q(captureToEvent, 0.5)), capture_to_event_p99_ms: round(q(captureToEvent, 0.99)),
  event_to_dispatch_p50_ms: round(q(eventToDispatch, 0.5)), event_to_dispatch_p99_ms: round(q(eventToDispatch, 0.99)),
  event_to_alert_p50_ms: round(q(eventToAlert, 0.5)), event_to_alert_p99_ms: round(q(eventToAlert, 0.99)),
  baseline_capture_to_sample_p50_ms: round(q(captureToSample, 0.5)), baseline_capture_to_sample_p99_ms: round(q(captureToSample, 0.99)),
  engine_process_cpu_cores: Math.round(((cpu.user + cpu.system) / 1e6 / wallS) * 100) / 100, engine_process_rss_mb: rssMb,
  note: 'engine process only: ffmpeg decoders and nats-server are separate processes',
};
console.log(JSON.stringify(result));
process.exit(0);
