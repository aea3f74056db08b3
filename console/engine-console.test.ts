import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { writeTestCity, until } from '../test/harness.ts';
import { EVENT_SCHEMA, citizenEvent } from '../domain/index.ts';
import { cellCentre } from '../test/router.ts';
import { Engine } from '../engine/index.ts';
import { cameraAlert, sceneJpeg } from '../sim/index.ts';
import { ensureWebBuilt } from '../test/console.ts';

describe('the console in the engine', () => {
  let engine: Engine;
  beforeAll(async () => {
    await ensureWebBuilt();
    const t = await writeTestCity({ routeAllDay: true, cameras: 3, terminals: 3 });
    // Citizens' sanitation reports wait for the supervision centre to file them (立案).
    t.raw.categories.find((c: { code: string }) => c.code === 'sanitation').auto_file = ['camera', 'terminal'];
    writeFileSync(t.file, stringify(t.raw));
    engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: 'engine-admin-pw' } });
    await engine.start();
  });
  afterAll(async () => engine?.stop());

  it('serves the app, logs the admin in, pushes an alert live and turns it into a case', async () => {
    const health = (await (await fetch(`${engine.httpUrl}/healthz`)).json()) as { components: Record<string, { state: string }> };
    expect(health.components.console?.state).toBe('up');
    const page = await fetch(`${engine.httpUrl}/`);
    expect(await page.text()).toContain('<div id="app">');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");

    const login = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'engine-admin-pw' }) });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await login.json()) as { csrf: string };

    const got: any[] = [];
    const ws = new WebSocket(`${engine.httpUrl.replace('http', 'ws')}/api/live`, { headers: { cookie } });
    ws.on('message', (d) => { const m = JSON.parse(String(d)); if (Array.isArray(m)) got.push(...m); else got.push(m); });
    await new Promise((r) => ws.once('message', r));
    const alert = cameraAlert(engine.city, 'cam-0001', 'kerb', 1);
    engine.console.feed.alert(alert, await sceneJpeg());
    await until('the alert on the live socket', () => got.some((m) => m.type === 'alert'), 2000);
    expect(got.find((m) => m.type === 'alert')?.alert.alert.id).toBe(alert.id);

    const res = await fetch(`${engine.httpUrl}/api/alerts/${alert.id}/confirm`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    const { case: c } = (await res.json()) as { case: { id: string; state: string } };
    // In the engine the router makes the case and dispatches it by the city's routing rules at once.
    expect(c.state).toBe('dispatched');
    expect(engine.router.get(c.id)?.reports.map((r) => r.event_id)).toEqual([alert.id]);
    await until('the case on the live socket', () => got.some((m) => m.type === 'case'), 2000);
    expect(got.find((m) => m.type === 'case')?.case.id).toBe(c.id);
    ws.close();
  });

  it('dismissing an alert closes the case its event opened as invalid, and records the verdict', async () => {
    const login = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'engine-admin-pw' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await login.json()) as { csrf: string };
    const alert = cameraAlert(engine.city, 'cam-0002', 'kerb', 9);
    const at = new Date(alert.ts).toISOString();
    await engine.router.publish({
      schema: EVENT_SCHEMA, id: alert.id, type: 'illegal_parking', category: 'illegal_parking', source: { kind: 'camera', id: alert.cameraId, zone: alert.zoneId },
      first_seen: at, confirmed_at: at, place: { lat: alert.lat, lon: alert.lon, path: [...alert.path] }, evidence: [],
    });
    const caseId = await until('the case of the camera event', () => engine.router.casesOfEvent(alert.id)[0]);
    engine.console.feed.alert(alert);
    const res = await fetch(`${engine.httpUrl}/api/alerts/${alert.id}/dismiss`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'shadow' }) });
    expect(res.status).toBe(200);
    expect(engine.router.get(caseId)?.state).toBe('invalid');
    await engine.telemetryWriter.flush();
    const rows = await engine.telemetry.query<{ verdict: string; reason: string; camera: string; case_id: string }>(`SELECT verdict, reason, camera, case_id FROM verdicts WHERE event_id = '${alert.id}'`);
    expect(rows).toEqual([{ verdict: 'dismissed', reason: 'shadow', camera: 'cam-0002', case_id: caseId }]);
  });

  it('an alert dismissed before its event is routed: the case the event makes later is invalid, never dispatched', async () => {
    const login = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'engine-admin-pw' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await login.json()) as { csrf: string };
    // The camera pipeline shows the alert first and publishes its event after: the operator can be quicker.
    const alert = cameraAlert(engine.city, 'cam-0003', 'kerb', 11);
    engine.console.feed.alert(alert);
    const res = await fetch(`${engine.httpUrl}/api/alerts/${alert.id}/dismiss`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'shadow' }) });
    expect(res.status).toBe(200);
    expect(engine.router.casesOfEvent(alert.id)).toEqual([]);
    const at = new Date(alert.ts).toISOString();
    await engine.router.publish({
      schema: EVENT_SCHEMA, id: alert.id, type: 'illegal_parking', category: 'illegal_parking', source: { kind: 'camera', id: alert.cameraId, zone: alert.zoneId },
      first_seen: at, confirmed_at: at, place: { lat: alert.lat, lon: alert.lon, path: [...alert.path] }, evidence: [],
    });
    const caseId = await until('the case of the dismissed alert', () => engine.router.casesOfEvent(alert.id)[0]);
    expect(engine.router.get(caseId)!.state).toBe('invalid');
    expect(engine.router.get(caseId)!.history.map((t) => t.action)).toEqual(['report', 'invalidate']);
    await until('the console shows it invalid', () => engine.console.hub.cases.get(caseId)?.state === 'invalid', 2000);
  });

  it('a clerk sees the evidence of its own department\'s cases, and no other', async () => {
    const login = async (username: string, password: string) => {
      const res = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
      return res.headers.get('set-cookie')!.split(';')[0]!;
    };
    const alert = cameraAlert(engine.city, 'cam-0001', 'kerb', 21);
    engine.console.feed.alert(alert, await sceneJpeg());
    const c = await engine.console.actions.confirmAlert(alert, { username: 'admin', role: 'admin' });
    await until('the case in the console', () => engine.console.hub.cases.get(c.id), 2000);
    const other = [...engine.city.departments.keys()].find((d) => !c.departments.includes(d))!;
    await engine.console.users.put({ username: 'own-clerk', role: 'clerk', department: c.departments[0]! }, 'own-clerk-pw');
    await engine.console.users.put({ username: 'other-clerk', role: 'clerk', department: other }, 'other-clerk-pw');
    const evidence = (cookie: string, id = alert.id) => fetch(`${engine.httpUrl}/api/alerts/${id}/evidence.jpg`, { headers: { cookie } });
    const own = await evidence(await login('own-clerk', 'own-clerk-pw'));
    expect([own.status, own.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    expect((await evidence(await login('other-clerk', 'other-clerk-pw'))).status).toBe(404);
    // An alert that is no case of its department is as good as missing to a clerk.
    const lone = cameraAlert(engine.city, 'cam-0001', 'kerb', 22);
    engine.console.feed.alert(lone, await sceneJpeg());
    expect((await evidence(await login('own-clerk', 'own-clerk-pw'), lone.id)).status).toBe(404);
    expect((await evidence(await login('admin', 'engine-admin-pw'), lone.id)).status).toBe(200);
  });

  it('the supervision centre files, verifies and sends back but does not dispatch; the command centre dispatches but neither files nor verifies', async () => {
    await engine.console.users.put({ username: 'sup', role: 'supervisor' }, 'supervisor-pass');
    await engine.console.users.put({ username: 'cmd', role: 'command' }, 'command-pass');
    const logIn = async (username: string, password: string) => {
      const res = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
      expect(res.status, username).toBe(200);
      const { csrf } = (await res.json()) as { csrf: string };
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      return (id: string, action: string, reason?: string) => fetch(`${engine.httpUrl}/api/cases/${id}/actions/${action}`, {
        method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify(reason ? { reason } : {}),
      });
    };
    const sup = await logIn('sup', 'supervisor-pass');
    const cmd = await logIn('cmd', 'command-pass');
    const [lat, lon] = cellCentre(engine.city, [...engine.city.areas.values()].find((a) => a.level === 'cell')!.id);
    const report = citizenEvent({ id: `o311-roles-${Date.now()}`, channel: 'citizen', reporter: 'resident-1', category: 'sanitation', at: new Date(), lat, lon, path: [], evidence: [] });
    await engine.router.publish(report);
    const id = await until('the citizen\'s case', () => engine.router.casesOfEvent(report.id)[0], 5000);
    expect(engine.router.get(id)!.state).toBe('reported');

    // 立案 is the supervision centre's; 派遣 the command centre's. Each is refused the other's, and the case stays.
    expect((await cmd(id, 'file')).status).toBe(403);
    expect((await sup(id, 'dispatch')).status).toBe(403);
    expect(engine.router.get(id)!.state).toBe('reported');
    expect((await sup(id, 'file')).status).toBe(200);
    expect(engine.router.get(id)!.state).toBe('filed');
    expect((await sup(id, 'dispatch')).status).toBe(403);
    expect((await cmd(id, 'dispatch')).status).toBe(200);
    expect(engine.router.get(id)!.state).toBe('dispatched');

    // The department signs and resolves; verifying (核查结案) and sending back (返工) are the supervision centre's.
    const dept = engine.router.get(id)!.department;
    await engine.router.act(id, { action: 'sign', actor: `dept:${dept}`, department: dept });
    await engine.router.act(id, { action: 'resolve', actor: `dept:${dept}`, department: dept, result: 'swept' });
    expect((await cmd(id, 'close')).status).toBe(403);
    expect((await cmd(id, 'rework', 'still dirty')).status).toBe(403);
    expect(engine.router.get(id)).toMatchObject({ state: 'resolved' });
    expect((await sup(id, 'rework', 'still dirty')).status).toBe(200);
    expect(engine.router.get(id)).toMatchObject({ state: 'signed', reworks: 1 });
    await engine.router.act(id, { action: 'resolve', actor: `dept:${dept}`, department: dept, result: 'swept again' });
    expect((await sup(id, 'close')).status).toBe(200);
    expect(engine.router.get(id)!.state).toBe('closed');
  });
});
