import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { writeTestCity, until } from '../test/harness.ts';
import { cellCentre } from '../test/router.ts';
import { Engine } from './index.ts';

const ADMIN_PW = 'open311-test-admin-pw';
const KEYS = { app: 'citizen-app-key-0123456789abcdef', sanitation: 'sanitation-fms-key-0123456789abcd', readonly: 'readonly-partner-key-0123456789ab' };

describe('Open311 in the engine: keys, departments, formats and bounds', () => {
  let engine: Engine;
  let nc: NatsConnection;
  let url = '';
  const ids: Record<string, string> = {};

  const post = (body: Record<string, string | number>, key?: string, path = '/open311/v2/requests.json') =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(Object.entries({ ...body, ...(key ? { api_key: key } : {}) }).map(([k, v]) => [k, String(v)])).toString() });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { headers });

  beforeAll(async () => {
    const t = await writeTestCity({ routeAllDay: true,
      cameras: 0, terminals: 0,
      services: {
        open311: {
          jurisdiction_id: 'nanguan.example', post_per_minute: 12,
          clients: [
            { id: 'citizen-app', api_key: KEYS.app, read: false },
            { id: 'sanitation-fms', api_key: KEYS.sanitation, department: 'sanitation' },
            { id: 'partner', api_key: KEYS.readonly, report: false },
          ],
        },
      },
    });
    engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: ADMIN_PW } });
    await engine.start();
    url = engine.httpUrl;
    nc = await connect({ servers: engine.natsServer!.url });
  }, 120_000);
  afterAll(async () => {
    await nc?.close();
    await engine?.stop();
  });

  it('answers 401 without a key or session, in JSON and in XML; services stay public', async () => {
    for (const path of ['/open311/v2/requests', '/open311/v2/requests.json', '/open311/v2/servicerequestupdates.json', '/open311/v2/requests/C-anything']) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toEqual([{ code: 401, description: expect.stringMatching(/api_key/) }]);
    }
    const xml = await get('/open311/v2/requests.xml');
    expect(xml.status).toBe(401);
    expect(xml.headers.get('content-type')).toMatch(/xml/);
    expect(await xml.text()).toMatch(/<errors><error><code>401<\/code><description>.*<\/description><\/error><\/errors>/);
    expect((await get(`/open311/v2/requests.json?api_key=wrong-key-wrong-key-wrong-key`)).status).toBe(401);
    expect((await post({ service_code: 'sanitation', lat: 43.87, long: 125.3 })).status).toBe(401);
    expect((await get('/open311/v2/services.json')).status).toBe(200);
    expect(await (await get('/open311/v2/services.xml')).text()).toMatch(/<services><service><service_code>/);
  });

  it('takes a posted request with a key, refuses unsafe media_url values and keeps the public link out of the evidence', async () => {
    const city = engine.city;
    const [lat, lon] = cellCentre(city, 'G0404');
    for (const bad of ['javascript:alert(1)', 'file:///etc/passwd', 'http://127.0.0.1:8080/api/users', 'http://user:pw@photos.example.org/a.jpg', 'http://10.1.2.3/a.jpg', 'http://intranet/a.jpg', `https://photos.example.org/${'a'.repeat(2100)}`]) {
      const res = await post({ service_code: 'illegal_parking', lat, long: lon, media_url: bad }, KEYS.app);
      expect(res.status, bad).toBe(400);
    }
    const res = await post({ service_code: 'illegal_parking', lat, long: lon, description: 'car on the pavement', media_url: 'https://photos.example.org/p/1.jpg' }, KEYS.app);
    expect(res.status).toBe(201);
    ids.parking = ((await res.json()) as { service_request_id: string }[])[0]!.service_request_id;
    const xml = await post({ service_code: 'sanitation', lat, long: lon, description: 'rubbish' }, KEYS.app, '/open311/v2/requests.xml');
    expect(xml.status).toBe(201);
    ids.rubbish = /<service_request_id>([^<]+)<\/service_request_id>/.exec(await xml.text())![1]!;
    expect(engine.router.get(ids.rubbish)!.department).toBe('sanitation');
    // A client without the report right may not post.
    expect((await post({ service_code: 'sanitation', lat, long: lon }, KEYS.readonly)).status).toBe(403);
    // The dispatch order carries the citizen's link apart from the city's evidence.
    const consumer = await jetstream(nc).consumers.get('GW_DISPATCH', 'dispatch-traffic_police');
    const order = await until('the dispatch order', async () => {
      const m = await consumer.next({ expires: 1000 });
      if (!m) return undefined;
      m.ack();
      const o = m.json<{ case_id: string; evidence: string[]; citizen_media?: { url: string; source: string; reporter: string }[] }>();
      return o.case_id === ids.parking ? o : undefined;
    });
    expect(order.evidence).toEqual([]);
    expect(order.citizen_media).toEqual([{ url: 'https://photos.example.org/p/1.jpg', source: 'citizen', reporter: 'citizen-app:anonymous' }]);
  }, 60_000);

  it("throttles a client's posts", async () => {
    const [lat, lon] = cellCentre(engine.city, 'G0101');
    const codes: number[] = [];
    // Refused requests count too: a flood of bad ones is throttled like good ones.
    for (let i = 0; i < 6; i++) codes.push((await post({ service_code: 'no_such_service', lat, long: lon }, KEYS.app)).status);
    expect(codes).toContain(400);
    expect(codes.slice(-1)).toEqual([429]);
  }, 60_000);

  it("gives a department's client only that department's cases, in every form, with its jurisdiction", async () => {
    const list = (await (await get(`/open311/v2/requests.json?api_key=${KEYS.sanitation}`)).json()) as { service_request_id: string; agency_responsible: string }[];
    expect(list.map((r) => r.service_request_id)).toContain(ids.rubbish);
    expect(new Set(list.map((r) => r.agency_responsible))).toEqual(new Set(['sanitation']));
    expect((await get(`/open311/v2/requests/${ids.parking}.json?api_key=${KEYS.sanitation}`)).status).toBe(404);
    expect((await get(`/open311/v2/requests.json?api_key=${KEYS.sanitation}&department=traffic_police`)).status).toBe(200);
    expect(await (await get(`/open311/v2/requests.json?api_key=${KEYS.sanitation}&department=traffic_police`)).json()).toEqual([]);
    const xml = await (await get(`/open311/v2/requests.xml?api_key=${KEYS.sanitation}`)).text();
    expect(xml).toContain(`<service_request_id>${ids.rubbish}</service_request_id>`);
    expect(xml).not.toContain(ids.parking);
    const updates = await (await get(`/open311/v2/servicerequestupdates.xml?api_key=${KEYS.sanitation}&jurisdiction_id=nanguan.example`)).text();
    expect(updates).toMatch(new RegExp(`<service_request_updates><request_update><update_id>${ids.rubbish}-1</update_id><service_request_id>${ids.rubbish}</service_request_id><status>OPEN</status>`));
    expect(updates).not.toContain(ids.parking);
    expect((await get(`/open311/v2/requests.json?api_key=${KEYS.sanitation}&jurisdiction_id=elsewhere`)).status).toBe(404);
    // The partner reads the whole city.
    const all = (await (await get(`/open311/v2/requests.json?api_key=${KEYS.readonly}`)).json()) as { service_request_id: string }[];
    expect(all.map((r) => r.service_request_id)).toEqual(expect.arrayContaining([ids.parking, ids.rubbish]));
  });

  it("lets a console session read Open311, a clerk only its department's cases, as on the console's own API", async () => {
    const login = async (username: string, password: string) => {
      const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
      expect(res.status).toBe(200);
      return res.headers.get('set-cookie')!.split(';')[0]!;
    };
    await engine.console.users.put({ username: 'tp', role: 'clerk', department: 'traffic_police' }, 'clerk-password-1');
    const clerk = await login('tp', 'clerk-password-1');
    const mine = (await (await get('/open311/v2/requests.json', { cookie: clerk })).json()) as { service_request_id: string }[];
    expect(mine.map((r) => r.service_request_id)).toContain(ids.parking);
    expect(mine.map((r) => r.service_request_id)).not.toContain(ids.rubbish);
    expect((await get(`/open311/v2/requests/${ids.rubbish}`, { cookie: clerk })).status).toBe(404);
    await until('the console sees the cases', () => engine.console.hub.cases.size >= 2 || undefined);
    const consoleCases = ((await (await get('/api/cases', { cookie: clerk })).json()) as { cases: { id: string; departments: string[] }[] }).cases;
    expect(consoleCases.every((c) => c.departments.includes('traffic_police'))).toBe(true);
    expect(consoleCases.map((c) => c.id)).not.toContain(ids.rubbish);
    expect((await get(`/api/cases/${ids.rubbish}`, { cookie: clerk })).status).toBe(404);
    // Evidence is open to a clerk for its own department's cases only (console/engine-console.test.ts); an unknown alert is not found.
    expect((await get('/api/alerts/x/evidence.jpg', { cookie: clerk })).status).toBe(404);
    for (const path of ['/api/stats', '/api/stats/summary', '/api/tuning', '/api/cameras/x/frame.jpg']) expect((await get(path, { cookie: clerk })).status, path).toBe(403);
    const admin = await login('admin', ADMIN_PW);
    const all = (await (await get('/open311/v2/requests.json', { cookie: admin })).json()) as { service_request_id: string }[];
    expect(all.map((r) => r.service_request_id)).toEqual(expect.arrayContaining([ids.parking, ids.rubbish]));
    // A session cannot post: citizens' reports come through keys.
    expect((await fetch(`${url}/open311/v2/requests.json`, { method: 'POST', headers: { cookie: admin, 'content-type': 'application/json' }, body: JSON.stringify({ service_code: 'sanitation', lat: 43.87, long: 125.3 }) })).status).toBe(403);
  }, 60_000);
});
