/**
 * Console responsiveness at scale: 1,000 cameras, 500 open cases and 200 moving terminals, live
 * traffic through the ConsoleFeed, 50 consoles connected. Measures, in real Chromium, long tasks
 * on the renderer's main thread (from a performance trace) per view, against the same page with
 * no live traffic (the baseline); and websocket delivery lag with 50 consoles against 1.
 * Prints one JSON object as its last line.
 *   npx tsx benchmarks/console.bench.ts [--cameras 1000] [--cases 500] [--terminals 200] [--consoles 50] [--duration-s 8]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';
import { cameraAlert, sceneJpeg } from '../sim/index.ts';
import { ADMIN_PASSWORD, ensureWebBuilt, startConsoleServer, launchChromium } from '../test/console.ts';

const { values } = parseArgs({ options: {
  cameras: { type: 'string', default: '1000' }, cases: { type: 'string', default: '500' }, terminals: { type: 'string', default: '200' },
  consoles: { type: 'string', default: '50' }, 'duration-s': { type: 'string', default: '8' }, views: { type: 'string', default: 'map,cases,alerts,cameras' },
} });
const CAMERAS = Number(values.cameras), CASES = Number(values.cases), TERMINALS = Number(values.terminals), CONSOLES = Number(values.consoles);
const DURATION_MS = Number(values['duration-s']) * 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (...a: unknown[]) => console.error('[console.bench]', ...a);

// ---- set-up ----
await ensureWebBuilt();
const s = await startConsoleServer({ cameras: CAMERAS, terminals: TERMINALS });
await s.addUser({ username: 'op', role: 'operator' }, 'operator-pass');
const feed = s.svc.feed, desk = s.desk;
const frame = await sceneJpeg({ label: 'bench' });
const cams = [...s.city.cameras.values()];
cams.forEach((c, i) => {
  feed.cameraStatus(i % 37 === 0 ? { cameraId: c.id, state: 'down', reason: 'RTSP connect refused', ts: Date.now() } : { cameraId: c.id, state: 'up', ts: Date.now(), frameTs: Date.now() });
  feed.frame(c.id, frame, Date.now());
});
const cells = [...s.city.areas.values()].filter((a) => a.level === 'cell');
const workers = [...s.city.terminals.values()].map((t) => t.worker);
const categories = ['illegal_parking', 'road_vending', 'sanitation', 'illegal_posting'];
const op = { username: 'op', role: 'operator' as const };
async function openCase(i: number) {
  const cell = cells[i % cells.length]!;
  const [lon, lat] = cell.ring[0]!;
  const c = await desk.report({ category: categories[i % categories.length]!, lat: lat - 0.0005 - (i % 7) * 0.0001, lon: lon + 0.0005 + (i % 5) * 0.0001, reporter: workers[i % workers.length]! });
  if (i % 3 >= 1) await desk.dispatch(c.id, op);
  if (i % 3 === 2) await desk.sign(c.id, c.departments[0]!);
  return c.id;
}
const open: string[] = [];
for (let i = 0; i < CASES; i++) open.push(await openCase(i));
for (let i = 0; i < 200; i++) feed.alert(cameraAlert(s.city, cams[i % cams.length]!.id, 'kerb', i), frame);
const pos = [...s.city.terminals.values()].map((t, i) => {
  const [lon, lat] = s.city.areas.get(t.cell)!.ring[0]!;
  return { id: t.id, lat: lat - 0.001, lon: lon + 0.001, k: i };
});
log(`set up: ${CAMERAS} cameras, ${open.length} open cases, ${TERMINALS} terminals`);

// ---- live traffic: every terminal moves once a second, ~5 case changes and 1 alert a second ----
let traffic: NodeJS.Timeout | null = null;
let tick = 0, nextCase = CASES, nextAlert = 200;
function startTraffic() {
  traffic = setInterval(() => {
    tick++;
    const now = Date.now();
    for (let j = 0; j < Math.ceil(TERMINALS / 10); j++) {
      const p = pos[(tick * Math.ceil(TERMINALS / 10) + j) % pos.length]!;
      p.lat += 0.00003 * Math.sin(tick / 7 + p.k);
      p.lon += 0.00003 * Math.cos(tick / 5 + p.k);
      feed.terminalPosition({ terminalId: p.id, lat: p.lat, lon: p.lon, ts: now });
    }
    if (tick % 2 === 0) {
      // Advance one case; a resolved one closes and a new one opens, so ~CASES stay open.
      const id = open[tick % open.length]!;
      const c = desk.cases.get(id)!;
      const step = c.state === 'reported' ? desk.dispatch(id, op) : c.state === 'dispatched' ? desk.sign(id, c.departments[0]!) : c.state === 'signed' ? desk.resolve(id, c.departments[0]!) : desk.verifyClose(id, op).then(async () => { open[tick % open.length] = await openCase(nextCase++); });
      void step.catch(() => {});
    }
    if (tick % 10 === 0) feed.alert(cameraAlert(s.city, cams[nextAlert % cams.length]!.id, 'walk', nextAlert++), frame);
  }, 100);
}
function stopTraffic() {
  if (traffic) clearInterval(traffic);
  traffic = null;
}

// ---- consoles over websocket ----
async function login(username: string, password: string): Promise<string> {
  const res = await fetch(`${s.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  return res.headers.get('set-cookie')!.split(';')[0]!;
}
interface Probe { ws: WebSocket; lags: number[]; messages: number; ready: Promise<void> }
function consoleSocket(cookie: string): Probe {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/live`, { headers: { cookie, origin: s.url } });
  const p: Probe = { ws, lags: [], messages: 0, ready: null! };
  p.ready = new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      if (!Array.isArray(m)) return resolve();
      const now = Date.now();
      for (const x of m) {
        p.messages++;
        if (x.type === 'terminal') p.lags.push(now - x.position.ts);
      }
    });
  });
  return p;
}
const pctl = (a: number[], q: number) => (a.length ? [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))]! : NaN);

async function fanOut(n: number, cookies: string[]) {
  const probes = Array.from({ length: n }, (_, i) => consoleSocket(cookies[i % cookies.length]!));
  const t0 = performance.now();
  await Promise.all(probes.map((p) => p.ready));
  const connectMs = performance.now() - t0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  startTraffic();
  await sleep(DURATION_MS);
  stopTraffic();
  loop.disable();
  await sleep(300);
  const lags = probes.flatMap((p) => p.lags);
  const result = { consoles: n, connect_all_ms: Math.round(connectMs), messages_per_console: Math.round(probes.reduce((a, p) => a + p.messages, 0) / n), lag_p50_ms: pctl(lags, 0.5), lag_p99_ms: pctl(lags, 0.99), event_loop_p99_ms: Number((loop.percentile(99) / 1e6).toFixed(1)), dropped: probes.filter((p) => p.ws.readyState !== WebSocket.OPEN).length };
  for (const p of probes) p.ws.close();
  return result;
}

const cookies = await Promise.all(Array.from({ length: 5 }, () => login('op', 'operator-pass')));
log('fan-out: 1 console (baseline)');
const fanBase = await fanOut(1, cookies);
log('fan-out:', CONSOLES, 'consoles');
const fan = await fanOut(CONSOLES, cookies);

// ---- Chromium: long tasks per view ----
const browser: Browser = await launchChromium();
const page: Page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
await page.goto(s.url);
await page.fill('#login-user', 'admin');
await page.fill('#login-pass', ADMIN_PASSWORD);
await page.click('#login-submit');
await page.waitForSelector('#link-status.link-live');

interface TraceEvent { name: string; ph: string; pid: number; tid: number; ts: number; dur?: number; args?: { name?: string } }
async function traced(route: string, ready: string, live: boolean) {
  await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
  const t0 = Date.now();
  await page.goto(`${s.url}/#/${route}`);
  await page.waitForSelector(ready, { state: 'attached' });
  const firstRenderMs = Date.now() - t0;
  // Background sockets: the other consoles, connected while the view is measured.
  const probes = live ? Array.from({ length: CONSOLES - 1 }, (_, i) => consoleSocket(cookies[i % cookies.length]!)) : [];
  await Promise.all(probes.map((p) => p.ready));
  if (live) startTraffic();
  await sleep(DURATION_MS);
  stopTraffic();
  for (const p of probes) p.ws.close();
  const trace = JSON.parse((await browser.stopTracing()).toString()) as { traceEvents: TraceEvent[] };
  const main = new Set(trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const runs = trace.traceEvents.filter((e) => e.name === 'RunTask' && e.ph === 'X' && main.has(`${e.pid}:${e.tid}`));
  const start = Math.min(...runs.map((e) => e.ts));
  const tasks = runs.map((e) => (e.dur ?? 0) / 1000);
  const longAt = runs.filter((e) => (e.dur ?? 0) > 50_000).map((e) => `${Math.round((e.ts - start) / 1000)}ms:${Math.round((e.dur ?? 0) / 1000)}`);
  // The first navigation's parse and first render are a page load, not a frame: reported apart.
  return { view: route, live, first_render_ms: firstRenderMs, tasks: tasks.length, max_task_ms: Number(Math.max(0, ...tasks).toFixed(1)), tasks_over_50ms: tasks.filter((d) => d > 50).length, tasks_over_100ms: tasks.filter((d) => d > 100).length, long_tasks_at: longAt };
}

// Warm the page once so that the city is loaded, then measure.
await page.goto(`${s.url}/#/map`);
await page.waitForSelector('circle.case-light', { state: 'attached' });
log('chromium: map idle (baseline)');
const idle = await traced('map', 'circle.case-light', false);
const views = [];
for (const [route, ready] of ([['map', 'circle.case-light'], ['cases', '.case-card'], ['alerts', '.alert-card'], ['cameras', '.tile']] as const).filter(([r]) => values.views.split(',').includes(r))) {
  log('chromium:', route, 'under live traffic with', CONSOLES, 'consoles');
  views.push(await traced(route, ready, true));
}
await browser.close();
const openNow = [...desk.cases.values()].filter((c) => !['closed', 'invalid'].includes(c.state)).length;
await s.stop();

const worst = views.reduce((a, v) => Math.max(a, v.max_task_ms), 0);
console.log(JSON.stringify({
  cameras: CAMERAS, open_cases: openNow, terminals: TERMINALS, consoles: CONSOLES, duration_s: DURATION_MS / 1000,
  long_tasks_over_100ms: views.reduce((a, v) => a + v.tasks_over_100ms, 0),
  max_task_ms_live: worst,
  max_task_ms_idle_baseline: idle.max_task_ms,
  max_task_ratio_live_vs_idle: Number((worst / Math.max(1, idle.max_task_ms)).toFixed(2)),
  ws_lag_p99_ms: fan.lag_p99_ms,
  ws_lag_p99_ms_1_console_baseline: fanBase.lag_p99_ms,
  ws_connect_all_ms: fan.connect_all_ms,
  ws_dropped: fan.dropped,
  fan_out: { baseline: fanBase, measured: fan },
  views: [idle, ...views],
}));
