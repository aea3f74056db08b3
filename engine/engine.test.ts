import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { jetstreamManager, jetstream } from '@nats-io/jetstream';
import { freePort, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { writeTestCity, until } from '../test/harness.ts';
import { Engine } from './index.ts';
import { demoSimulators } from '../sim/index.ts';


const OPS_TOKEN = 'ops-token-for-the-engine-test-0123456789';
const ADMIN_PW = 'engine-test-admin-pw';

describe('engine on embedded services', () => {
  let engine: Engine;
  let raw: Record<string, any>;

  beforeAll(async () => {
    const t = await writeTestCity({ cameras: 2, terminals: 3, simulators: { camera_farm: true }, cameraFarmPort: await freePort() });
    raw = t.raw;
    engine = new Engine({ addOns: [demoSimulators], city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_OPS_TOKEN: OPS_TOKEN, GRIDWATCH_ADMIN_PASSWORD: ADMIN_PW } });
    await engine.start();
  });
  afterAll(async () => engine?.stop());

  it('reports nats, mqtt and clickhouse up on /healthz, and serves /metrics', async () => {
    // Up once the two demo cameras stream from the simulated camera farm.
    type Health = { status: string; components: Record<string, { state: string; embedded?: boolean }> };
    const body = await until('all components up', async () => {
      const res = await fetch(`${engine.httpUrl}/healthz`);
      const b = (await res.json()) as Health;
      return res.status === 200 && b.status === 'up' ? b : undefined;
    });
    expect(body.components.ingest?.state).toBe('up');
    for (const c of ['nats', 'mqtt', 'clickhouse', 'telemetry-writer']) expect(body.components[c]?.state).toBe('up');
    const stats = await fetch(`${engine.httpUrl}/api/stats/summary`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } });
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ created: 0, closure_rate: null });
    expect(body.components.nats?.embedded).toBe(true);
    // A single node holds the lease of every camera.
    expect(body.components.cluster).toMatchObject({ state: 'up', owned: 2, nodes: 1 });
    expect([...engine.ownedCameras].sort()).toEqual(['cam-0001', 'cam-0002']);
    const metrics = await fetch(`${engine.httpUrl}/metrics`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } });
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    expect(await metrics.text()).toMatch(/^gridwatch_process_cpu_user_seconds_total \d/m);
  });

  it('answers /api/stats, /api/cluster and /metrics only to a console session with the right role or the ops token', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${engine.httpUrl}${path}`, { headers });
    const guarded = ['/api/stats/rankings/workers', '/api/stats/summary', '/api/cluster', '/metrics'];
    for (const path of guarded) {
      const res = await get(path);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('CONSOLE_LOGIN');
      expect((await get(path, { authorization: 'Bearer not-the-token-not-the-token' })).status, path).toBe(401);
      expect((await get(path, { authorization: `Bearer ${OPS_TOKEN}` })).status, path).toBe(200);
    }
    const login = async (username: string, password: string) => {
      const res = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
      expect(res.status).toBe(200);
      return res.headers.get('set-cookie')!.split(';')[0]!;
    };
    const admin = await login('admin', ADMIN_PW);
    for (const path of guarded) expect((await get(path, { cookie: admin })).status, path).toBe(200);
    // A department clerk may not read the statistics, the cluster or the metrics.
    await engine.console.users.put({ username: 'clerk1', role: 'clerk', department: [...engine.city.departments.keys()][0]! }, 'clerk-password-1');
    const clerk = await login('clerk1', 'clerk-password-1');
    for (const path of guarded) expect((await get(path, { cookie: clerk })).status, path).toBe(403);
    // One request may not make chdb scan more than MAX_WINDOW_DAYS.
    const wide = await get('/api/stats/summary?from=2000-01-01', { cookie: admin });
    expect(wide.status).toBe(400);
    expect(((await wide.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'TELEMETRY_STATS_QUERY', message: expect.stringMatching(/at most 400/) });
    // /healthz stays public, for load balancers.
    expect((await get('/healthz')).status).toBe(200);
  });

  it('embedded aedes takes a real mqtt.js terminal, and refuses bad log-ins and foreign topics', async () => {
    const t0 = raw.terminals[0], t1 = raw.terminals[1];
    const url = engine.broker!.url;
    const seen: string[] = [];
    await engine.mqtt.client.subscribeAsync('gw/terminals/#', { qos: 1 });
    engine.mqtt.client.on('message', (topic) => seen.push(topic));

    const bad = mqtt.connect(url, { username: t0.id, password: 'wrong-password', reconnectPeriod: 0 });
    const badErr = await new Promise<Error>((resolve) => bad.once('error', resolve));
    expect(badErr.message).toMatch(/Bad username or password|Not authorized/i);
    bad.end(true);

    const good = await mqtt.connectAsync(url, { username: t0.id, password: t0.password, reconnectPeriod: 0 });
    await good.publishAsync(`gw/terminals/${t0.id}/location`, JSON.stringify({ _type: 'location', lat: 43.87, lon: 125.31, tst: 1 }), { qos: 1 });
    await good.publishAsync(`gw/terminals/${t1.id}/location`, '{}', { qos: 0 }).catch(() => undefined); // someone else's topic
    await until('own-topic message', () => seen.includes(`gw/terminals/${t0.id}/location`));
    await good.endAsync().catch(() => undefined);
    expect(seen).not.toContain(`gw/terminals/${t1.id}/location`);
    const metrics = await engine.metrics.getSingleMetricAsString('gridwatch_mqtt_refused_total');
    expect(metrics).toMatch(/reason="bad_login"} 1/);
    expect(metrics).toMatch(/reason="foreign_topic"} 1/);
  });

  it('chdb creates, writes and reads a table in the data folder', async () => {
    await engine.telemetry.exec('CREATE TABLE IF NOT EXISTS probe (at DateTime64(3), camera LowCardinality(String), n UInt32) ENGINE = MergeTree ORDER BY (camera, at)');
    await engine.telemetry.insert('probe', [{ at: '2026-11-22 08:00:00.000', camera: 'cam-0001', n: 3 }, { at: '2026-11-22 08:00:01.000', camera: 'cam-0002', n: 4 }]);
    const rows = await engine.telemetry.query<{ camera: string; n: number }>('SELECT camera, n FROM probe ORDER BY camera');
    expect(rows).toEqual([{ camera: 'cam-0001', n: 3 }, { camera: 'cam-0002', n: 4 }]);
    expect(existsSync(join(engine.dataDir, 'clickhouse'))).toBe(true);
  });

  it('restarts the embedded nats-server after SIGKILL, and JetStream keeps its streams', async () => {
    const jsm = await jetstreamManager(engine.bus.nc);
    await jsm.streams.add({ name: 'PROBE', subjects: ['probe.>'] });
    await jetstream(engine.bus.nc).publish('probe.a', 'before');
    const pid = engine.natsServer!.pid!;
    process.kill(pid, 'SIGKILL');
    await until('nats down', () => engine.health.report().components.nats?.state === 'down' || undefined, 5000).catch(() => undefined);
    await until('nats restarted', () => (engine.natsServer!.pid !== pid && engine.health.report().components.nats?.state === 'up') || undefined);
    expect(engine.natsServer!.status().restarts).toBe(1);
    const js = jetstream(engine.bus.nc);
    await until('publish after restart', async () => (await js.publish('probe.a', 'after').catch(() => undefined)) ?? undefined);
    const info = await (await jetstreamManager(engine.bus.nc)).streams.info('PROBE');
    expect(info.state.messages).toBe(2);
  });
});
