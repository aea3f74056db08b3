/**
 * Fuzz-style check of the engine's HTTP port: a fixed-seed generator sends 2,000 malformed
 * requests (random bytes, cut or deeply nested JSON, prototype keys, wrong types, 2 MB bodies,
 * odd content types, broken percent-encoding, long and repeated query parameters, broken cookies
 * and tokens) to the console's API, the statistics, Open311, the cluster view and /metrics, eight
 * at a time. No answer may be a 5xx other than a deliberate 503, no request may hang, memory
 * stays bounded, and a logged-in console and an Open311 client are answered throughout.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { writeTestCity } from '../test/harness.ts';
import { Engine } from './index.ts';

const ADMIN_PW = 'fuzz-admin-password';
const KEY = 'fuzz-open311-client-key-0123456789';
const OPS = 'fuzz-ops-token-0123456789abcdefghij';
const INPUTS = 5000;

interface Answer { status: number; ms: number; body: string }

function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) }, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, body: Buffer.concat(chunks).toString().slice(0, 300) }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in 20 s: ${method} ${path}`)));
    req.on('error', (err) => {
      // An over-long header or URL is refused by Node before any route (431/400, or the socket closed).
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE') resolve({ status: 0, ms: performance.now() - t0, body: 'connection closed' });
      else reject(err);
    });
    req.end(body);
  });
}

describe('the HTTP port under malformed requests', () => {
  let engine: Engine;
  let base = '';
  let cookie = '', csrf = '';

  beforeAll(async () => {
    const t = await writeTestCity({ cameras: 1, terminals: 1, services: { http: { ops_token: OPS }, open311: { clients: [{ id: 'fuzz', api_key: KEY }], post_per_minute: 60 } } });
    engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: ADMIN_PW } });
    await engine.start();
    base = engine.httpUrl;
    const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PW }) });
    expect(login.status).toBe(200);
    cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    csrf = ((await login.json()) as { csrf: string }).csrf;
  }, 180_000);
  afterAll(async () => engine?.stop());

  it(`answers ${INPUTS} malformed requests without a 5xx or a hang, and keeps serving everyone else`, async () => {
    const rnd = seededRandom(2026);
    const int = (n: number) => Math.floor(rnd() * n);
    const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
    const ROUTES: [string, string][] = [
      // not /api/logout: it would end the session whose answers are checked below
      ['POST', '/api/login'], ['GET', '/api/session'], ['POST', '/api/alerts/evt-x/dismiss'], ['POST', '/api/alerts/evt-x/confirm'],
      ['POST', '/api/cases/C-x/actions/dispatch'], ['POST', '/api/cases/C-x/actions/transfer'], ['GET', '/api/cases'], ['GET', '/api/cases/C-x'],
      ['PUT', '/api/cameras/cam-0001/zones'], ['GET', '/api/cameras/cam-0001/frame.jpg'], ['DELETE', '/api/users/nobody'], ['GET', '/api/city'], ['GET', '/api/tuning'],
      ['GET', '/api/stats'], ['GET', '/api/stats/summary'], ['GET', '/api/stats/rankings/workers'], ['GET', '/api/stats/heatmap'], ['GET', '/api/stats/cameras'],
      ['GET', '/api/cluster'], ['GET', '/metrics'], ['GET', '/healthz'],
      ['GET', '/open311/v2/services.xml'], ['GET', '/open311/v2/requests.json'], ['GET', '/open311/v2/requests.xml'], ['GET', '/open311/v2/requests/C-x.json'],
      ['GET', '/open311/v2/servicerequestupdates.xml'], ['POST', '/open311/v2/requests.json'], ['POST', '/open311/v2/requests.xml'], ['POST', '/open311/v2/requests'],
    ];
    const ODD = ['', '%', '%zz', '%E0%A4%A', '\u0000', '-1', '0', '1e309', 'NaN', 'Infinity', 'null', 'true', '[]', '{}', '../../etc/passwd', '<script>', '2026-13-45T99:99:99Z', 'a'.repeat(4000), '\u202e\u0301\u4e2d', '__proto__', 'constructor'];
    const KEYS = ['from', 'to', 'limit', 'days', 'since', 'state', 'department', 'api_key', 'jurisdiction_id', 'service_request_id', 'start_date', 'end_date', 'status', 'area', '__proto__', 'a[]', 'x'];
    const query = () => {
      const n = int(6);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        // Half sent raw (broken percent-encoding and all); what Node would refuse to send is encoded.
        const v = pick(ODD);
        parts.push(`${pick(KEYS)}=${rnd() < 0.5 || /[^\x21-\x7e]|#/.test(v) ? encodeURIComponent(v) : v}`);
      }
      if (rnd() < 0.1) parts.push(`limit=${'9'.repeat(int(400))}`);
      return parts.length ? `?${parts.join('&')}` : '';
    };
    const json = (depth = 0): unknown => {
      const r = rnd();
      if (depth > 4 || r < 0.3) return pick<unknown>([pick(ODD), int(1e9) - 5e8, -0.5, 1e308, true, null, [], {}]);
      if (r < 0.5) return Array.from({ length: int(5) }, () => json(depth + 1));
      const o: Record<string, unknown> = {};
      for (const k of ['username', 'password', 'current', 'reason', 'zones', 'departments', 'role', 'service_code', 'lat', 'long', 'media_url', 'api_key', 'description', '__proto__', 'constructor', 'prototype']) if (rnd() < 0.4) o[k] = json(depth + 1);
      return o;
    };
    const body = (): { type?: string; data?: Buffer } => {
      switch (int(9)) {
        case 0: return { type: 'application/json', data: Buffer.from(Array.from({ length: int(300) }, () => int(256))) };
        case 1: { const t = JSON.stringify(json()) ?? ''; return { type: 'application/json', data: Buffer.from(t.slice(0, int(t.length + 1))) }; }
        case 2: { const d = 1000 + int(50_000); return { type: 'application/json', data: Buffer.from(`${'['.repeat(d)}${']'.repeat(rnd() < 0.5 ? d : 0)}`) }; }
        case 3: return { type: 'application/json', data: Buffer.from(`{"__proto__":{"role":"admin","isAdmin":true},"constructor":{"prototype":{"x":1}},"username":"admin","password":${JSON.stringify(pick(ODD))}}`) };
        case 4: return { type: pick(['application/json', 'application/x-www-form-urlencoded']), data: Buffer.alloc(1 + int(2) * 2 * 1024 * 1024, 0x61) };
        case 5: return { type: 'application/x-www-form-urlencoded', data: Buffer.from(Array.from({ length: int(8) }, () => `${pick(KEYS.concat(['service_code', 'lat', 'long', 'media_url']))}=${pick(ODD)}`).join('&')) };
        case 6: return { type: pick(['text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/xml', '', 'application/json; charset=x-nonsense']), data: Buffer.from(JSON.stringify(json()) ?? 'x') };
        case 7: return {};
        default: return { type: 'application/json', data: Buffer.from(JSON.stringify(json()) ?? 'null') };
      }
    };
    const auth = (): Record<string, string> => {
      switch (int(7)) {
        case 0: return {};
        case 1: return { cookie, 'x-csrf-token': csrf, origin: base };
        case 2: return { cookie: pick(['gw_session=%zz%', 'gw_session=', `gw_session=${'x'.repeat(9000)}`, 'gw_session', '=;=;=', `gw_session=${cookie.slice(11)}; gw_session=nope`]) };
        case 3: return { 'x-api-key': pick([KEY, 'wrong', '', 'x'.repeat(300)]) };
        case 4: return { authorization: pick([`Bearer ${OPS}`, 'Bearer', 'Bearer ' + 'y'.repeat(5000), 'Basic Zm9vOmJhcg==', 'Bearer \u00e9t\u00e9']) };
        case 5: return { cookie, 'x-csrf-token': 'wrong', origin: pick(['http://evil.example', 'null', base]) };
        default: return { cookie, 'x-csrf-token': csrf, 'idempotency-key': pick(ODD).replace(/[^\x21-\x7e]/g, '').slice(0, 200) || 'k' };
      }
    };

    const rss0 = process.memoryUsage().rss;
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const healthy: number[] = [];
    let done = 0;
    const one = async (n: number) => {
      const [method, path] = pick(ROUTES);
      const b = method === 'GET' || method === 'DELETE' ? (rnd() < 0.1 ? body() : {}) : body();
      const headers: Record<string, string> = { ...auth(), ...(b.type ? { 'content-type': b.type } : {}) };
      const a = await send(base, method, `${path}${query()}`, headers, b.data);
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status >= 500 && !(a.status === 503 && (/BUSY|LIVE|NOT_BUILT/.test(a.body) || path === '/healthz'))) failures.push(`#${n} ${method} ${path} → ${a.status} ${a.body}`);
      done++;
    };
    // Eight at a time; every 100 inputs the real users must still be answered.
    let next = 0;
    const worker = async () => {
      while (next < INPUTS) {
        const n = next++;
        await one(n);
        if (n % 100 === 99) {
          const t0 = performance.now();
          const [session, list] = await Promise.all([
            send(base, 'GET', '/api/session', { cookie }),
            send(base, 'GET', `/open311/v2/requests.json?api_key=${KEY}`, {}),
          ]);
          expect([session.status, list.status], `after input ${n}`).toEqual([200, 200]);
          healthy.push(performance.now() - t0);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    // The fuzz city's camera has no stream, so camera ingest is down by design; every other part must be up.
    const health = (await (await fetch(`${base}/healthz`)).json()) as { components: Record<string, { state: string }> };
    const notUp = Object.entries(health.components).filter(([name, c]) => name !== 'ingest' && c.state !== 'up').map(([name]) => name);
    const grewMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`HTTP fuzz: ${done} inputs; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}; real users answered ${healthy.length} times, slowest ${Math.max(...healthy).toFixed(0)} ms; RSS +${grewMb.toFixed(0)} MB`);
    expect(failures).toEqual([]);
    expect(done).toBe(INPUTS);
    expect(notUp).toEqual([]);
    expect(grewMb).toBeLessThan(500);
  }, 600_000);
});
