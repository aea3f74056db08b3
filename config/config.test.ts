import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { validateCity, loadCity, ConfigInvalidError, formatIssue } from './index.ts';
import { generateCity } from '../sim/index.ts';

type Raw = Record<string, any>;
const base = (): Raw => generateCity({ cameras: 3, terminals: 3 });

/** The formatted issues of a config that must fail. */
function issuesOf(raw: Raw): string[] {
  try {
    validateCity(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigInvalidError);
    return (err as ConfigInvalidError).issues.map(formatIssue);
  }
  throw new Error('config was accepted');
}

describe('city config', () => {
  it('accepts the generated demo city and indexes it', () => {
    const city = validateCity(base());
    expect(city.grid.size).toBe(120);
    expect(city.cameras.size).toBe(3);
    expect(city.supervisoryDepartment.id).toBe('supervision');
    expect(city.config.services.http.port).toBe(8080);
    expect(city.config.ingest.sample_period_s).toBe(10); // defaults come from the schema
    expect(city.config.beacons).toMatchObject({ inactive_s: 300, max_payload_bytes: 4096, stuck_gps_s: 600, future_tolerance_s: 300 });
    expect(Object.isFrozen(city.config.cameras[0])).toBe(true);
    const cam = city.config.cameras[0]!;
    expect(city.grid.locate(cam.lat, cam.lon)?.cell.id).toBe(cam.cell);
    expect(city.grid.locate(cam.lat, cam.lon)?.path).toEqual(['D01', 'S01', 'S01C1', cam.cell]);
    expect(city.grid.locate(10, 10)).toBeNull();
  });

  const cases: [string, (c: Raw) => void, string][] = [
    ['unknown key at the top', (c) => { c.camras = []; }, 'camras: unknown key'],
    ['unknown key in a zone', (c) => { c.cameras[1].zones[0].dwell = 5; }, 'cameras[1].zones[0].dwell: unknown key'],
    ['missing required field', (c) => { delete c.cameras[0].url; }, 'cameras[0].url: is required'],
    ['wrong type', (c) => { c.cameras[0].lat = 'north'; }, 'cameras[0].lat: must be a number; got string'],
    ['out of range', (c) => { c.cameras[2].lat = 123; }, 'cameras[2].lat: must be <= 90; got 123'],
    ['bad enum', (c) => { c.cameras[0].zones[0].type = 'parking'; }, 'cameras[0].zones[0].type: must be one of "no_parking", "road_occupation", "non_motor_parking", "shopfront_spillover", "mobile_vendor", "crowd_gathering"; got "parking"'],
    ['a standard code used twice', (c) => { c.categories.find((k: Raw) => k.code === 'road_vending').standard_code = '0505'; }, 'categories[4].standard_code: duplicate standard_code "0505", first used at categories[2]'],
    ['a local code used twice', (c) => { c.categories[5].local_code = '602'; }, 'categories[5].local_code: duplicate local_code "602", first used at categories[0]'],
    ['a standard code that is not digits', (c) => { c.categories[0].standard_code = '05-01'; }, 'categories[0].standard_code: "05-01" does not match'],
    ['a key of another zone type', (c) => { c.cameras[0].zones[0].min_people = 5; }, 'cameras[0].zones[0].min_people: applies only to crowd_gathering zones'],
    ['stall classes on a parking zone', (c) => { c.cameras[0].zones[0].stall_classes = ['chair']; }, 'cameras[0].zones[0].stall_classes: applies only to road_occupation, mobile_vendor zones'],
    ['a spill-over zone without its shop line', (c) => { delete c.cameras[2].zones[2].shop_line; }, 'cameras[2].zones[2].shop_line: is required for a shopfront_spillover zone'],
    ['a zone type whose category is missing', (c) => { c.categories = c.categories.filter((k: Raw) => k.code !== 'crowd_gathering'); }, 'cameras[0].zones[2].type: a crowd_gathering zone raises crowd_gathering events: add the category "crowd_gathering"'],
    ['bad url scheme', (c) => { c.cameras[0].url = 'http://x/y'; }, 'cameras[0].url: "http://x/y" does not match ^rtsps?://'],
    ['polygon too small', (c) => { c.cameras[0].zones[1].polygon = [[0, 0], [10, 10], [0, 0]]; }, 'cameras[0].zones[1].polygon: needs at least 3 points, got 2'],
    ['polygon not closed', (c) => { c.cameras[1].zones[0].polygon = [[0, 0], [100, 0], [100, 100], [0, 100]]; }, 'cameras[1].zones[0].polygon: is not closed: the last point [0,100] must repeat the first [0,0]'],
    ['polygon self-intersects', (c) => { c.cameras[0].zones[0].polygon = [[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]; }, 'cameras[0].zones[0].polygon: intersects itself: edge 0 crosses edge 2'],
    ['zone outside the image', (c) => { c.cameras[0].zones[0].polygon = [[0, 0], [700, 0], [700, 100], [0, 0]]; }, 'cameras[0].zones[0].polygon[1]: [700,0] lies outside the 640x360 image'],
    ['duplicate camera id', (c) => { c.cameras[2].id = c.cameras[0].id; }, 'cameras[2].id: duplicate id "cam-0001", first used at cameras[0]'],
    ['duplicate zone id', (c) => { c.cameras[0].zones[1].id = 'kerb'; }, 'cameras[0].zones[1].id: duplicate id "kerb", first used at cameras[0].zones[0]'],
    ['unknown cell on a camera', (c) => { c.cameras[0].cell = 'G9999'; }, 'cameras[0].cell: unknown grid cell "G9999"'],
    ['unknown cell on a terminal', (c) => { c.terminals[1].cell = 'nowhere'; }, 'terminals[1].cell: unknown grid cell "nowhere"'],
    ['unknown department in a rule', (c) => { c.routing.rules[0].departments = ['police']; }, 'routing.rules[0].departments[0]: unknown department "police"'],
    ['unknown category in a rule', (c) => { c.routing.rules[1].categories = ['parking']; }, 'routing.rules[1].categories[0]: unknown category "parking"'],
    ['unknown area in a rule', (c) => { c.routing.rules[3].areas = ['S09']; }, 'routing.rules[3].areas[0]: unknown area "S09"'],
    ['unknown default department', (c) => { c.routing.default_department = 'mayor'; }, 'routing.default_department: unknown department "mayor"'],
    ['no supervisory department', (c) => { c.departments = c.departments.filter((d: Raw) => !d.supervisory); }, 'departments: needs a supervisory department (supervisory: true)'],
    ['missing required category', (c) => { c.categories = c.categories.filter((d: Raw) => d.code !== 'road_vending'); c.routing.rules = c.routing.rules.filter((r: Raw) => !r.categories?.includes('road_vending')); }, 'categories: needs the category "road_vending"'],
    ['area with unknown parent', (c) => { c.areas.features[5].properties.parent = 'S77'; }, 'areas.features[5].properties.parent: unknown area "S77"'],
    ['area under a lower level', (c) => { c.areas.features[1].properties.parent = c.areas.features[5].properties.id; }, 'areas.features[1].properties.parent: a street cannot sit inside a cell (G0201)'],
    ['area ring not closed', (c) => { c.areas.features[3].geometry.coordinates[0].pop(); }, 'areas.features[3].geometry.coordinates[0]: is not closed'],
    ['zone without a ground point', (c) => { delete c.cameras[0].zones[0].ground_point; }, 'cameras[0].zones[0].ground_point: is required when the camera has no homography'],
    ['bad time window', (c) => { c.routing.rules[0].hours = ['7-21']; }, 'routing.rules[0].hours[0]: "7-21" does not match'],
    ['resolve shorter than sign', (c) => { c.sla[0].resolve_within_s = 10; }, 'sla[0].resolve_within_s: (10) must not be shorter than sign_within_s (300)'],
    ['unknown time zone', (c) => { c.city.timezone = 'Mars/Olympus'; }, 'city.timezone: unknown time zone "Mars/Olympus"'],
    ['short terminal password', (c) => { c.terminals[0].password = 'x'; }, 'terminals[0].password: must be at least 8 characters'],
  ];

  for (const [name, breakIt, expected] of cases) {
    it(`rejects ${name}`, () => {
      const raw = base();
      breakIt(raw);
      const issues = issuesOf(raw);
      expect(issues.some((i) => i.startsWith(expected)), `expected "${expected}" in:\n${issues.join('\n')}`).toBe(true);
    });
  }

  it('gives each zone type its own defaults, and keeps what the zone sets', () => {
    const raw = base();
    raw.cameras[2].zones.push({ id: 'vend', type: 'mobile_vendor', polygon: [[0, 170], [640, 170], [640, 360], [0, 360], [0, 170]], ground_point: raw.cameras[2].zones[0].ground_point });
    const city = validateCity(raw);
    const [crowd, bikes, shops] = [0, 1, 2].map((i) => city.config.cameras[i]!.zones[2]!);
    expect(crowd).toMatchObject({ type: 'crowd_gathering', min_people: 8, dwell_s: 60, leave_s: 60 });
    expect(bikes).toMatchObject({ type: 'non_motor_parking', min_count: 1, cluster_gap: 2, dwell_s: 300, leave_s: 120 });
    expect(shops).toMatchObject({ type: 'shopfront_spillover', shop_side: 'left', min_count: 1, dwell_s: 300 });
    expect(city.config.cameras[2]!.zones[3]).toMatchObject({ type: 'mobile_vendor', dwell_s: 60, min_move: 1, max_step: 2, max_gap_s: 30 });
    expect(city.config.cameras[0]!.zones[0]).toMatchObject({ type: 'no_parking', dwell_s: 60, leave_s: 60 });
    expect(city.config.cameras[0]!.zones[0]).not.toHaveProperty('min_count');
    expect(city.categoryByCode.get('0506')?.code).toBe('non_motor_parking');
    expect(city.categoryByCode.get('606')?.code).toBe('non_motor_parking');
    expect(city.categoryByCode.get('non_motor_parking')?.standard_code).toBe('0506');
  });

  it('reports every error at once, not just the first', () => {
    const raw = base();
    raw.cameras[0].cell = 'G9999';
    raw.terminals[0].cell = 'G8888';
    raw.routing.rules[0].departments = ['nobody'];
    raw.cameras[1].zones[0].polygon = [[0, 0], [100, 0], [100, 100], [0, 100]];
    expect(issuesOf(raw)).toHaveLength(4);
  });

  it('loads areas from a GeoJSON file beside the YAML and reports YAML syntax errors with a line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
    const raw = base();
    writeFileSync(join(dir, 'areas.geojson'), JSON.stringify(raw.areas));
    writeFileSync(join(dir, 'city.yaml'), stringify({ ...raw, areas: { path: 'areas.geojson' } }));
    expect(loadCity(join(dir, 'city.yaml')).grid.size).toBe(120);

    writeFileSync(join(dir, 'broken.yaml'), 'version: 1\ncity: [unclosed\n');
    expect(() => loadCity(join(dir, 'broken.yaml'))).toThrow(/line \d/);
    writeFileSync(join(dir, 'missing-areas.yaml'), stringify({ ...raw, areas: { path: 'nope.geojson' } }));
    expect(() => loadCity(join(dir, 'missing-areas.yaml'))).toThrow(/areas\.path: cannot read/);
    expect(() => loadCity(join(dir, 'absent.yaml'))).toThrow(/city config not found/);
  });
});
