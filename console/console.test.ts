import { chmodSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { cameraAlert, sceneJpeg } from '../sim/index.ts';
import { SessionStore } from './users.ts';
import { ADMIN_PASSWORD, startConsoleServer, type ConsoleServer } from '../test/console.ts';
import { until } from '../test/harness.ts';

interface Client { cookie: string; csrf: string }

async function login(url: string, username: string, password: string): Promise<Client> {
  const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(res.status).toBe(200);
  const cookie = res.headers.get('set-cookie')!;
  expect(cookie).toMatch(/HttpOnly/);
  expect(cookie).toMatch(/SameSite=Strict/);
  return { cookie: cookie.split(';')[0]!, csrf: ((await res.json()) as { csrf: string }).csrf };
}

function call(s: ConsoleServer, c: Client, method: string, path: string, body?: unknown, csrf = true) {
  const headers: Record<string, string> = { cookie: c.cookie };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf) headers['x-csrf-token'] = c.csrf;
  return fetch(`${s.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** A websocket client that collects every message (wait on them with `until`). */
function live(s: ConsoleServer, c: Client, since?: number) {
  const msgs: any[] = [];
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/api/live${since === undefined ? '' : `?since=${since}`}`, { headers: { cookie: c.cookie, origin: s.url } });
  ws.on('message', (d) => {
    const m = JSON.parse(String(d));
    if (Array.isArray(m)) msgs.push(...m); else msgs.push(m);
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  return { ws, msgs, closed, close: () => (ws.close(), closed) };
}

describe('console server', () => {
  let s: ConsoleServer;
  let admin: Client, operator: Client, clerkTraffic: Client, clerkMarket: Client;

  beforeAll(async () => {
    s = await startConsoleServer({ cameras: 12, terminals: 12, replayMessages: 100 });
    await s.addUser({ username: 'op', role: 'operator' }, 'operator-pass');
    await s.addUser({ username: 'tp', role: 'clerk', department: 'traffic_police' }, 'clerk-pass-1');
    await s.addUser({ username: 'mk', role: 'clerk', department: 'market_reg' }, 'clerk-pass-2');
    [admin, operator, clerkTraffic, clerkMarket] = await Promise.all([login(s.url, 'admin', ADMIN_PASSWORD), login(s.url, 'op', 'operator-pass'), login(s.url, 'tp', 'clerk-pass-1'), login(s.url, 'mk', 'clerk-pass-2')]);
  });
  afterAll(async () => s?.stop());

  it('refuses wrong passwords, and stores only scrypt hashes', async () => {
    const res = await fetch(`${s.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'nope-nope' }) });
    expect(res.status).toBe(401);
    const file = readFileSync(s.svc.users.file, 'utf8');
    expect(file).not.toContain(ADMIN_PASSWORD);
    expect(file).toMatch(/"scrypt\$131072\$8\$1\$/);
  });

  it('locks a user name from this address after five failed log-ins', async () => {
    await s.addUser({ username: 'guessme', role: 'operator' }, 'right-password');
    const attempt = (password: string) => fetch(`${s.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'guessme', password }) });
    for (let i = 0; i < 5; i++) expect((await attempt(`wrong-${i}`)).status).toBe(401);
    expect((await attempt('right-password')).status).toBe(429);
  });

  it('sends a CSP and refuses state changes without the CSRF token or from another origin', async () => {
    const page = await fetch(`${s.url}/`);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    s.svc.feed.alert(cameraAlert(s.city, 'cam-0001', 'kerb', 900));
    expect((await call(s, operator, 'POST', '/api/alerts/evt-cam-0001-kerb-900/dismiss', { reason: 'x' }, false)).status).toBe(403);
    const cross = await fetch(`${s.url}/api/alerts/evt-cam-0001-kerb-900/dismiss`, { method: 'POST', headers: { cookie: operator.cookie, 'x-csrf-token': operator.csrf, origin: 'http://evil.example', 'content-type': 'application/json' }, body: '{"reason":"x"}' });
    expect(cross.status).toBe(403);
    expect((await fetch(`${s.url}/api/cases`)).status).toBe(401);
  });

  it('checks every route against the role', async () => {
    expect((await call(s, clerkTraffic, 'GET', '/api/tuning')).status).toBe(403);
    expect((await call(s, clerkTraffic, 'POST', '/api/alerts/evt-cam-0001-kerb-900/confirm', {})).status).toBe(403);
    expect((await call(s, operator, 'PUT', '/api/cameras/cam-0001/zones', { zones: [] })).status).toBe(403);
    expect((await call(s, operator, 'GET', '/api/users')).status).toBe(403);
    expect((await call(s, admin, 'GET', '/api/users')).status).toBe(200);
  });

  it('confirms an alert into a case that only its department\'s clerk sees, live and by API', async () => {
    const tpLive = live(s, clerkTraffic), mkLive = live(s, clerkMarket), opLive = live(s, operator);
    await Promise.all([tpLive, mkLive, opLive].map((l) => until('snapshot', () => l.msgs.some((m) => m.type === 'snapshot'), 5000)));
    s.svc.feed.alert(cameraAlert(s.city, 'cam-0002', 'kerb', 1), await sceneJpeg({ variant: 1 }));
    await until('alert on the operator socket', () => opLive.msgs.some((m) => m.type === 'alert' && m.alert.alert.id === 'evt-cam-0002-kerb-1'), 5000);
    const evidence = await call(s, operator, 'GET', '/api/alerts/evt-cam-0002-kerb-1/evidence.jpg');
    expect(evidence.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await evidence.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const res = await call(s, operator, 'POST', '/api/alerts/evt-cam-0002-kerb-1/confirm', {});
    const { case: c } = (await res.json()) as { case: { id: string; departments: string[] } };
    expect(c.departments).toEqual(['traffic_police']);
    await until('case on the traffic clerk socket', () => tpLive.msgs.some((m) => m.type === 'case' && m.case.id === c.id), 5000);
    expect((await call(s, clerkTraffic, 'GET', `/api/cases/${c.id}`)).status).toBe(200);
    expect((await call(s, clerkMarket, 'GET', `/api/cases/${c.id}`)).status).toBe(404);
    expect(((await (await call(s, clerkMarket, 'GET', '/api/cases')).json()) as { cases: unknown[] }).cases).toHaveLength(0);
    expect((await call(s, clerkMarket, 'POST', `/api/cases/${c.id}/actions/return`, { reason: 'not ours' })).status).toBe(404);
    expect(mkLive.msgs.some((m) => m.type === 'case' || m.type === 'alert')).toBe(false);
    // An operator may dispatch but not close; a clerk may not dispatch.
    expect((await call(s, clerkTraffic, 'POST', `/api/cases/${c.id}/actions/dispatch`, {})).status).toBe(403);
    expect((await call(s, operator, 'POST', `/api/cases/${c.id}/actions/dispatch`, {})).status).toBe(200);
    expect((await call(s, operator, 'POST', `/api/cases/${c.id}/actions/close`, {})).status).toBe(403);
    // A closed case past its retention leaves the router: the boards that showed it drop it.
    s.svc.feed.caseRemoved(c.id);
    await until('the removal on the traffic clerk socket', () => tpLive.msgs.some((m) => m.type === 'case_removed' && m.id === c.id), 5000);
    expect((await call(s, clerkTraffic, 'GET', `/api/cases/${c.id}`)).status).toBe(404);
    expect(mkLive.msgs.some((m) => m.type === 'case_removed')).toBe(false);
    await Promise.all([tpLive.close(), mkLive.close(), opLive.close()]);
  });

  it('resumes from the last sequence number without missing anything, and sends a snapshot when too far behind', async () => {
    const first = live(s, operator);
    await until('snapshot', () => first.msgs.some((m) => m.type === 'snapshot'), 5000);
    for (let i = 0; i < 5; i++) s.svc.feed.terminalPosition({ terminalId: 'T0001', lat: 43.87 - i * 1e-4, lon: 125.301, ts: Date.now() + i });
    await until('5 positions', () => first.msgs.filter((m) => m.type === 'terminal').length === 5, 5000);
    const last = Math.max(...first.msgs.map((m) => m.seq ?? 0));
    await first.close();
    // While it is away: 7 more positions and one alert.
    for (let i = 5; i < 12; i++) s.svc.feed.terminalPosition({ terminalId: 'T0001', lat: 43.87 - i * 1e-4, lon: 125.301, ts: Date.now() + i });
    s.svc.feed.alert(cameraAlert(s.city, 'cam-0003', 'walk', 2));
    const again = live(s, operator, last);
    await until('the 8 missed messages', () => again.msgs.filter((m) => m.type === 'terminal' || m.type === 'alert').length === 8, 5000);
    const seqs = again.msgs.filter((m) => m.type === 'terminal' || m.type === 'alert').map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: 8 }, (_, i) => last + 1 + i));
    expect(again.msgs[0].type).toBe('resumed');
    await again.close();
    // More than the ring holds (100): the client gets a snapshot instead.
    for (let i = 0; i < 150; i++) s.svc.feed.terminalPosition({ terminalId: 'T0002', lat: 43.87, lon: 125.30 + i * 1e-5, ts: Date.now() + i });
    const behind = live(s, operator, last);
    await until('first message', () => behind.msgs.length > 0, 5000);
    expect(behind.msgs[0].type).toBe('snapshot');
    expect(behind.msgs[0].terminals.find((t: { terminalId: string }) => t.terminalId === 'T0002').track.length).toBeGreaterThan(0);
    await behind.close();
  });

  it('refuses a websocket without a session or from another origin, and takes only pings', async () => {
    const anon = new WebSocket(`${s.url.replace('http', 'ws')}/api/live`);
    expect(await new Promise((r) => anon.on('close', (code) => r(code)))).toBe(4401);
    const evil = new WebSocket(`${s.url.replace('http', 'ws')}/api/live`, { headers: { cookie: operator.cookie, origin: 'http://evil.example' } });
    expect(await new Promise((r) => evil.on('close', (code) => r(code)))).toBe(4401);
    const l = live(s, operator);
    await until('snapshot', () => l.msgs.length > 0, 5000);
    l.ws.send(JSON.stringify({ type: 'confirm', id: 'evt-cam-0003-walk-2' }));
    await until('refusal', () => l.msgs.some((m) => m.type === 'error'), 5000);
    expect(s.svc.hub.alerts.get('evt-cam-0003-walk-2')!.status).toBe('new');
    await l.close();
  });

  it('saves zones to the city file after validation, and refuses invalid ones', async () => {
    const bad = await call(s, admin, 'PUT', '/api/cameras/cam-0004/zones', { zones: [{ id: 'z1', type: 'no_parking', polygon: [[0, 0], [10, 0]], dwell_s: 30 }] });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('CONSOLE_ZONE_INVALID');
    // Schema validation and unknown routes answer the same body.
    const invalid = await call(s, admin, 'PUT', '/api/cameras/cam-0004/zones', { polygons: [] });
    expect([invalid.status, await invalid.json()]).toEqual([400, { error: { code: 'BAD_REQUEST', message: expect.stringMatching(/zones/) } }]);
    const missing = await call(s, admin, 'GET', '/api/nowhere');
    expect([missing.status, ((await missing.json()) as { error: { code: string } }).error.code]).toEqual([404, 'NOT_FOUND']);
    const zones = [{ id: 'z1', type: 'no_parking', polygon: [[10, 10], [200, 10], [200, 150], [10, 150], [10, 10]], dwell_s: 45, classes: ['car'], ground_point: [s.city.cameras.get('cam-0004')!.lat, s.city.cameras.get('cam-0004')!.lon] }];
    // The city file holds passwords: saving keeps its mode (here one the umask would change).
    chmodSync(s.cityFile, 0o660);
    const ok = await call(s, admin, 'PUT', '/api/cameras/cam-0004/zones', { zones });
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(statSync(s.cityFile).mode & 0o777).toBe(0o660);
    const saved = (parse(readFileSync(s.cityFile, 'utf8')) as { cameras: { id: string; zones: { id: string; dwell_s: number }[] }[] }).cameras.find((c) => c.id === 'cam-0004')!;
    expect(saved.zones.map((z) => [z.id, z.dwell_s])).toEqual([['z1', 45]]);
    // Applied without a restart: the console's city already has them.
    expect(s.svc.city.cameras.get('cam-0004')!.zones[0]!.min_score).toBe(0.35);
  });

  it('answers a live view of an unreachable camera with a clear 502, and only to roles that see cameras', async () => {
    expect((await call(s, clerkTraffic, 'GET', '/api/cameras/cam-0001/live.mjpeg')).status).toBe(403);
    const res = await call(s, operator, 'GET', '/api/cameras/cam-0001/live.mjpeg');
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('CONSOLE_LIVE_UNAVAILABLE');
    expect(body.error.message).not.toContain(s.city.cameras.get('cam-0001')!.password!);
  });

  it('frees the live-view slot when ffmpeg cannot even start: a fifth and sixth try still get 502, not "busy"', async () => {
    const path = process.env.PATH;
    // No ffmpeg on the PATH: spawn fails with ENOENT, which emits 'error' and 'close' but no 'exit'.
    process.env.PATH = '/nonexistent-gridwatch-test';
    try {
      for (let i = 0; i < 6; i++) {
        const res = await call(s, operator, 'GET', '/api/cameras/cam-0001/live.mjpeg');
        expect(res.status, `try ${i + 1}`).toBe(502);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('CONSOLE_LIVE_UNAVAILABLE');
      }
    } finally {
      process.env.PATH = path;
    }
  });

  it('expires sessions after the idle time and at the hard cap', () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 1000, maxMs: 5000, now: () => now });
    const a = store.create({ username: 'a', role: 'operator' });
    now = 900;
    expect(store.get(a.id)).not.toBeNull();
    now = 1800;
    expect(store.get(a.id)).not.toBeNull(); // renewed at 900
    now = 2900;
    expect(store.get(a.id)).toBeNull();
    const b = store.create({ username: 'b', role: 'operator' });
    for (now = 3000; now < 3000 + 5000; now += 800) expect(store.get(b.id)).not.toBeNull();
    now = 8000;
    expect(store.get(b.id)).toBeNull();
  });
});
