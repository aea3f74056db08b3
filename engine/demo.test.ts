import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { EVENT_SCHEMA } from '../bus/index.ts';
import { writeTestCity } from '../test/harness.ts';
import { Engine } from './index.ts';

describe('the demo city\'s simulators inside the engine', () => {
  let engine: Engine;

  beforeAll(async () => {
    const t = await writeTestCity({ demo: { dispatch: true, dispatch_sign_delay_s: [0.1, 0.3], dispatch_resolve_delay_s: [0.2, 0.5], dispatch_miss_rate: 0 } });
    engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: {} });
    await engine.start();
  });
  afterAll(async () => engine?.stop());

  it('the simulated departments sign and resolve a case the router dispatched', async () => {
    const cam = engine.city.config.cameras[0]!;
    const hit = engine.city.grid.locate(cam.lat, cam.lon)!;
    const now = new Date().toISOString();
    await engine.router.publish({
      schema: EVENT_SCHEMA, id: 'demo-ev-1', type: 'illegal_parking', category: 'illegal_parking',
      source: { kind: 'camera', id: cam.id, zone: 'kerb' }, first_seen: now, confirmed_at: now,
      place: { lat: cam.lat, lon: cam.lon, path: [...hit.path] }, evidence: [],
    });
    const states = new Set<string>();
    const deadline = Date.now() + 20_000;
    let caseId: string | undefined;
    while (Date.now() < deadline && !states.has('resolved')) {
      caseId ??= engine.router.casesOfEvent('demo-ev-1')[0];
      const c = caseId ? engine.router.get(caseId) : null;
      for (const t of c?.history ?? []) states.add(t.to);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...states]).toEqual(expect.arrayContaining(['reported', 'dispatched', 'signed', 'resolved']));
  });
});
