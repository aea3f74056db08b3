import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { freePort, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { until, writeTestCity } from '../test/harness.ts';
import { Engine } from './index.ts';
import { demoSimulators } from '../sim/index.ts';

/**
 * The whole camera path on real parts: the simulated camera farm streams vtest.avi (a real
 * plaza with a parked van) over RTSP, the engine ingests and decodes keyframes, NanoDet finds
 * the van, the no-parking zone's dwell runs out, and the violation becomes an event, a case
 * and a console alert.
 */
describe('camera → detector → event → case, end to end', () => {
  let engine: Engine;

  beforeAll(async () => {
    const t = await writeTestCity({ cameras: 1, terminals: 1, simulators: { camera_farm: true }, cameraFarmPort: await freePort() });
    const raw = t.raw;
    raw.ingest = { sample_period_s: 1 };
    raw.cameras[0].zones[0].dwell_s = 3;
    // The camera's street-order zone watches the plaza for a crowd: four people for five seconds.
    Object.assign(raw.cameras[0].zones[2], { type: 'crowd_gathering', min_people: 4, dwell_s: 5 });
    const { writeFileSync } = await import('node:fs');
    const { stringify } = await import('yaml');
    writeFileSync(t.file, stringify(raw));
    engine = new Engine({ addOns: [demoSimulators], city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: 'pipeline-admin-pw' } });
    await engine.start();
  }, 180_000);
  afterAll(async () => engine?.stop());

  it('raises illegal parking for the parked van and routes it as a case', async () => {
    let caseId: string | undefined;
    let eventId: string | undefined;
    await until(() => (eventId ? 'no case for the alert' : 'no alert within 90 s'), () => {
      for (const [id, a] of engine.console.hub.alerts) if (a.alert.zoneId === 'kerb') eventId ??= id;
      if (eventId) caseId = engine.router.casesOfEvent(eventId)[0];
      return caseId !== undefined;
    }, 90_000);
    expect(eventId, 'no alert within 90 s').toBeDefined();
    expect(caseId, 'no case for the alert').toBeDefined();
    const c = engine.router.get(caseId!)!;
    expect(c).toMatchObject({ category: 'illegal_parking', standard_code: '0505', local_code: '605' });
    expect(c.reports[0]!.source).toMatchObject({ kind: 'camera', id: 'cam-0001', zone: 'kerb' });
    expect(['car', 'truck', 'bus']).toContain(c.reports[0]!.object!.class);
    expect(c.place.path[c.place.path.length - 1]).toBe(engine.city.cameras.get('cam-0001')!.cell);
    // The operator's evidence photo: the annotated JPEG, drawn when first asked for, at the decoded size.
    const login = await fetch(`${engine.httpUrl}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'pipeline-admin-pw' }) });
    const photo = await fetch(`${engine.httpUrl}/api/alerts/${eventId}/evidence.jpg`, { headers: { cookie: login.headers.get('set-cookie')!.split(';')[0]! } });
    expect(photo.status).toBe(200);
    const { default: sharp } = await import('sharp');
    const meta = await sharp(Buffer.from(await photo.arrayBuffer())).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 640, height: 360 }); // the farm's stream, decoded whole
    expect(meta.exif?.toString('latin1')).toContain('gridwatch camera cam-0001');
    // One van, one alert: ten more samples (the detector finds it as car and as truck now and
    // then) raise no second one.
    await new Promise((r) => setTimeout(r, 10_000));
    const alerts = [...engine.console.hub.alerts.values()].filter((a) => a.alert.cameraId === 'cam-0001' && a.alert.zoneId === 'kerb');
    // Each alert with its box and dwell, so that a second one shows what it was.
    expect(alerts.map((a) => `${a.alert.className} [${a.alert.box?.join(', ')}] ${a.alert.dwellS} s`)).toHaveLength(1);
  }, 120_000);

  it('raises crowd_gathering for the people crossing the plaza, with their count, filed under its local code', async () => {
    const crowd = await until('no crowd case within 60 s', () => engine.router.list({ category: 'crowd_gathering' })[0], 60_000);
    expect(crowd).toMatchObject({ category: 'crowd_gathering', local_code: '401' });
    expect(crowd.standard_code).toBeUndefined();
    expect(crowd.reports[0]!.source).toMatchObject({ kind: 'camera', id: 'cam-0001', zone: 'plaza' });
    expect(crowd.reports[0]!.object).toMatchObject({ class: 'person' });
    expect(crowd.reports[0]!.object!.count).toBeGreaterThanOrEqual(4);
  }, 90_000);
});
