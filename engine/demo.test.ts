import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { EVENT_SCHEMA } from '../domain/index.ts';
import { until, writeTestCity } from '../test/harness.ts';
import { Engine } from './index.ts';
import { demoSimulators } from '../sim/index.ts';

describe('the demo city\'s simulators inside the engine', () => {
  let engine: Engine;

  beforeAll(async () => {
    const t = await writeTestCity({ simulators: { dispatch: true, dispatch_sign_delay_s: [0.1, 0.3], dispatch_resolve_delay_s: [0.2, 0.5], dispatch_miss_rate: 0, dispatch_return_rate: 0 } });
    engine = new Engine({ addOns: [demoSimulators], city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: 'demo-admin-pw' } });
    await engine.start();
  });
  afterAll(async () => engine?.stop());

  it('the simulated departments sign and resolve a case the router dispatched', async () => {
    const ring = engine.city.areas.get('G0101')!.ring;
    const lat = (ring[0]![1] + ring[2]![1]) / 2, lon = (ring[0]![0] + ring[2]![0]) / 2;
    const hit = engine.city.grid.locate(lat, lon)!;
    const now = new Date().toISOString();
    await engine.router.publish({
      schema: EVENT_SCHEMA, id: 'demo-ev-1', type: 'illegal_parking', category: 'illegal_parking',
      source: { kind: 'camera', id: 'cam-0001', zone: 'kerb' }, first_seen: now, confirmed_at: now,
      place: { lat, lon, path: [...hit.path] }, evidence: [],
    });
    const states = new Set<string>();
    let caseId: string | undefined;
    await until(() => `the case resolved; its states: ${[...states].join(', ')}`, () => {
      caseId ??= engine.router.casesOfEvent('demo-ev-1')[0];
      const c = caseId ? engine.router.get(caseId) : null;
      for (const t of c?.history ?? []) states.add(t.to);
      return states.has('resolved');
    }, 20_000);
    expect([...states]).toEqual(expect.arrayContaining(['reported', 'dispatched', 'signed', 'resolved']));

    // Every step went to ClickHouse for the statistics, with the deadline it had to meet.
    await engine.telemetryWriter.flush();
    const rows = await engine.telemetry.query<{ to_state: string; department: string; has_deadline: number }>(
      `SELECT to_state, department, deadline IS NOT NULL AS has_deadline FROM case_transitions WHERE case_id = '${caseId}' ORDER BY ts`);
    // A camera's case is filed by itself (auto_file): its `filed` row comes with the dispatch.
    const loop = ['reported', 'filed', 'dispatched', 'signed', 'resolved'];
    rows.sort((a, b) => loop.indexOf(a.to_state) - loop.indexOf(b.to_state));
    expect(rows.map((r) => r.to_state)).toEqual(loop);
    expect(rows.find((r) => r.to_state === 'signed')).toMatchObject({ has_deadline: 1 });
    expect(rows.find((r) => r.to_state === 'dispatched')?.department).toBe(engine.router.get(caseId!)!.department);

    // The console's statistics view reads the same figures from the telemetry rollups.
    const login = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'demo-admin-pw' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const stats = (await (await fetch(`${engine.httpUrl}/api/stats?days=7`, { headers: { cookie } })).json()) as { casesPerDay: { day: string; opened: number }[]; categoryShares: { category: string; count: number }[]; departments: { department: string; cases: number; closed: number }[] };
    expect(stats.categoryShares).toEqual([{ category: 'illegal_parking', count: 1 }]);
    expect(stats.departments).toEqual([expect.objectContaining({ department: engine.router.get(caseId!)!.department, cases: 1, closed: 1 })]);
    expect(stats.casesPerDay.reduce((n, d) => n + d.opened, 0)).toBe(1);
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: engine.city.config.city.timezone }).format(Date.now());
    expect(stats.casesPerDay.at(-1)).toMatchObject({ day: today, opened: 1 });
    expect(new Set(stats.casesPerDay.map((d) => d.day)).size).toBe(stats.casesPerDay.length); // whole days, each once
  });
});
