import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { eventSubject } from '../bus/index.ts';
import { eventIssues, eventJsonSchema, cameraEvent, geolocateCameraPoint, solveHomography, applyHomography } from '../domain/index.ts';
import { applyAction, newCase, CASE_STATES, type CaseAction, type CaseRecord, type CaseState } from '../domain/index.ts';
import { RoutingTable } from './rules.ts';
import { routerTestCity, testEvent, cellCentre } from '../test/router.ts';

const city = routerTestCity();

describe('the case state machine', () => {
  const base = newCase('C1', ['C1'], testEvent(city, { id: 'e1' }), 'traffic_police', ['parking-daytime'], 'parking', new Date());
  const inState = (state: CaseState): CaseRecord => ({ ...base, state });
  // Where each action may start; everything else must be refused with a reason.
  const allowed: Record<string, CaseState[]> = {
    file: ['reported'],
    dispatch: ['reported', 'filed', 'returned', 'reopened'],
    sign: ['dispatched', 'transferred'],
    progress: ['signed'],
    resolve: ['signed'],
    return: ['dispatched', 'signed', 'transferred'],
    close: ['resolved'],
    rework: ['resolved'],
    reopen: ['resolved', 'closed', 'invalid'],
    invalidate: ['reported', 'filed', 'dispatched', 'signed', 'returned', 'reopened', 'transferred'],
    transfer: ['dispatched', 'signed', 'returned', 'reopened'],
  };
  for (const [action, from] of Object.entries(allowed)) {
    for (const state of CASE_STATES) {
      const ok = from.includes(state);
      it(`${ok ? 'allows' : 'refuses'} ${action} when ${state}`, () => {
        const out = applyAction(inState(state), { action: action as CaseAction, actor: 't', at: new Date(), reason: 'because', department: 'urban_mgmt' });
        expect(out.ok).toBe(ok);
        if (!out.ok) expect(out.reason).toMatch(new RegExp(`cannot ${action} a case that is ${state}`));
        else expect(out.transition).toMatchObject({ seq: base.seq + 1, from: state, action });
      });
    }
  }

  it('needs a reason to return, reopen or invalidate, and a rating of 1 to 5', () => {
    expect(applyAction(inState('dispatched'), { action: 'return', actor: 't', at: new Date() })).toMatchObject({ ok: false, reason: 'return needs a reason' });
    expect(applyAction(inState('signed'), { action: 'resolve', actor: 't', at: new Date(), rating: 9 })).toMatchObject({ ok: false });
  });
});

describe('routing rules', () => {
  const table = new RoutingTable(city);
  const path = ['D01', 'S01', 'S01C1', 'G0101'];

  it('matches by category and local time in the city timezone, and says why', () => {
    const day = table.route('illegal_parking', path, new Date('2026-01-01T04:00:00Z')); // 12:00 in Shanghai
    expect(day).toMatchObject({ departments: ['traffic_police'], isDefault: false, localTime: '12:00' });
    expect(day.matches[0]!.why).toContain('local time 12:00 is in 07:00-21:00');
    const night = table.route('illegal_parking', path, new Date('2026-01-01T15:30:00Z')); // 23:30
    expect(night.departments).toEqual(['urban_mgmt']);
  });

  it('continues for joint handling and matches areas at any level', () => {
    expect(table.route('road_vending', path, new Date()).departments).toEqual(['urban_mgmt', 'market_reg']);
    const elsewhere = table.route('road_vending', ['D01', 'S03', 'S03C1', 'G0601'], new Date());
    expect(elsewhere.departments).toEqual(['urban_mgmt']);
  });

  it('falls back to the default department', () => {
    expect(table.route('other', path, new Date())).toMatchObject({ departments: ['command'], isDefault: true });
  });
});

describe('events', () => {
  it('checks the schema and builds the subject from the grid path', () => {
    const e = testEvent(city, { at: cellCentre(city, 'G0101') });
    expect(eventIssues(e)).toEqual([]);
    expect(eventSubject(e)).toBe('gw.events.illegal_parking.D01.S01.G0101');
    expect(eventIssues({ ...e, type: 'nonsense' }).length).toBeGreaterThan(0);
    expect(eventSubject({ ...e, place: { ...e.place, path: [] } })).toBe('gw.events.illegal_parking._._._');
  });

  it('publishes the JSON Schema in docs/ as generated from the code', () => {
    const doc = JSON.parse(readFileSync(new URL('../docs/event.schema.json', import.meta.url), 'utf8'));
    expect(doc).toEqual(eventJsonSchema()); // regenerate with: npx tsx scripts/event-schema.ts
  });

  it('geolocates an image point through the homography, or the zone ground point', () => {
    const src = [[0, 0], [640, 0], [640, 360], [0, 360]] as const;
    const dst = [[43.87, 125.30], [43.87, 125.31], [43.86, 125.312], [43.86, 125.298]] as const;
    const h = solveHomography(src, dst);
    for (let i = 0; i < 4; i++) {
      const [lat, lon] = applyHomography(h, src[i]![0], src[i]![1]);
      expect(lat).toBeCloseTo(dst[i]![0], 9);
      expect(lon).toBeCloseTo(dst[i]![1], 9);
    }
    const cam = city.config.cameras[0]!;
    const g = geolocateCameraPoint(city, cam.id, 'kerb', [320, 100])!;
    expect(g.method).toBe('ground_point');
    expect([g.lat, g.lon]).toEqual(cam.zones[0]!.ground_point);
    expect(g.path[g.path.length - 1]).toMatch(/^G\d{4}$/);
    const withH = routerTestCity((raw) => {
      const c0 = raw.cameras[0];
      const [a, b] = cellCentre(city, 'G0505');
      c0.homography = { image: [[0, 0], [640, 0], [640, 360], [0, 360]], ground: [[a + 1e-4, b - 1e-4], [a + 1e-4, b + 1e-4], [a - 1e-4, b + 1e-4], [a - 1e-4, b - 1e-4]] };
    });
    const gh = geolocateCameraPoint(withH, cam.id, 'kerb', [320, 180])!;
    expect(gh.method).toBe('homography');
    expect(gh.path).toEqual(['D01', 'S01', 'S01C3', 'G0505']);
    const ev = cameraEvent(withH, { id: 'cam-0001:kerb:1', type: 'illegal_parking', cameraId: cam.id, zoneId: 'kerb', class: 'car', box: [300, 100, 40, 80], dwell_s: 90, score: 0.7, firstSeen: new Date(0), confirmedAt: new Date(90_000), evidence: ['http://x/1.jpg'], model: { name: 'nanodet-g-416', version: '1' } })!;
    expect(eventIssues(ev)).toEqual([]);
    expect(ev.place).toMatchObject({ method: 'homography', path: ['D01', 'S01', 'S01C3', 'G0505'] });
  });
});

describe('gridwatch route', () => {
  it('prints the matched rules and why', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['bin/gridwatch.mjs', 'route', '--category', 'road_vending', '--lat', '43.8748', '--lon', '125.3015', '--at', '2026-01-01T04:00:00Z'], { encoding: 'utf8', timeout: 30_000 });
    expect(out).toContain('place: cell G0101 (D01 / S01 / S01C1 / G0101); local time 12:00 (Asia/Shanghai)');
    expect(out).toContain('rule vending-market → market_reg: category road_vending is in [road_vending]; area S01 is on the path');
    expect(out).toContain('dispatch to: urban_mgmt, market_reg (joint handling)');
  });
});
