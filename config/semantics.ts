import type { Static } from 'typebox';
import type { CityConfig } from './schema/city.ts';
import type { ConfigIssue } from './errors.ts';
import { AREA_LEVELS, type AreaLevel } from './schema/areas.ts';
import { findSelfIntersection, isClosed, vertexCount, pointInRing, type Ring } from './geometry.ts';
import { joinPath } from './schema-issues.ts';
import { ZONE_RULES, zoneTypeIssues } from './schema/zone-types.ts';

type Cfg = Static<typeof CityConfig>;

/** Category codes every city must have: the two that cameras find by themselves. */
export const REQUIRED_CATEGORIES = ['illegal_parking', 'road_vending'] as const;

function checkRing(issues: ConfigIssue[], path: string, ring: Ring, what: 'points' | 'positions'): void {
  if (vertexCount(ring) < 3) {
    issues.push({ path, message: `needs at least 3 ${what === 'points' ? 'points' : 'positions'}, got ${vertexCount(ring)}` });
    return;
  }
  if (!isClosed(ring)) {
    issues.push({ path, message: `is not closed: the last point ${JSON.stringify(ring[ring.length - 1])} must repeat the first ${JSON.stringify(ring[0])}` });
    return;
  }
  const cross = findSelfIntersection(ring);
  if (cross) issues.push({ path, message: `intersects itself: edge ${cross[0]} crosses edge ${cross[1]}` });
}

function checkUnique<T>(issues: ConfigIssue[], path: string, items: readonly T[], key: (t: T) => string | undefined, field: string): Set<string> {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    if (k === undefined) return;
    const first = seen.get(k);
    if (first !== undefined) issues.push({ path: joinPath(joinPath(path, i), field), message: `duplicate ${field} ${JSON.stringify(k)}, first used at ${path}[${first}]` });
    else seen.set(k, i);
  });
  return new Set(seen.keys());
}

function checkRefs(issues: ConfigIssue[], path: string, refs: readonly string[] | undefined, known: Set<string>, what: string): void {
  refs?.forEach((r, i) => {
    if (!known.has(r)) issues.push({ path: joinPath(path, i), message: `unknown ${what} ${JSON.stringify(r)}` });
  });
}

function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * What a schema cannot say: unique ids, references that resolve, the area hierarchy, and
 * polygons that are closed and simple. Runs on a config that already passed the schema.
 */
export function semanticIssues(cfg: Cfg): ConfigIssue[] {
  const issues: ConfigIssue[] = [];

  if (!isTimezone(cfg.city.timezone)) issues.push({ path: 'city.timezone', message: `unknown time zone ${JSON.stringify(cfg.city.timezone)}` });

  // Areas: ids, hierarchy, rings.
  const features = cfg.areas.features;
  const areaIds = checkUnique(issues, 'areas.features', features, (f) => f.properties.id, 'properties.id');
  const levelOf = new Map<string, AreaLevel>(features.map((f) => [f.properties.id, f.properties.level]));
  features.forEach((f, i) => {
    const p = `areas.features[${i}]`;
    const { level, parent } = f.properties;
    if (level === 'district') {
      if (parent !== undefined) issues.push({ path: `${p}.properties.parent`, message: 'a district has no parent' });
    } else if (parent === undefined) {
      issues.push({ path: `${p}.properties.parent`, message: `is required for a ${level}` });
    } else if (!levelOf.has(parent)) {
      issues.push({ path: `${p}.properties.parent`, message: `unknown area ${JSON.stringify(parent)}` });
    } else if (AREA_LEVELS.indexOf(levelOf.get(parent)!) >= AREA_LEVELS.indexOf(level)) {
      issues.push({ path: `${p}.properties.parent`, message: `a ${level} cannot sit inside a ${levelOf.get(parent)} (${parent})` });
    }
    f.geometry.coordinates.forEach((ring, r) => {
      const rp = `${p}.geometry.coordinates[${r}]`;
      const bad = ring.findIndex((pos) => Math.abs(pos[0]!) > 180 || Math.abs(pos[1]!) > 90);
      if (bad >= 0) issues.push({ path: `${rp}[${bad}]`, message: `is not a [lon, lat] position: ${JSON.stringify(ring[bad])}` });
      else checkRing(issues, rp, ring as unknown as Ring, 'positions');
    });
  });
  if (!features.some((f) => f.properties.level === 'district')) issues.push({ path: 'areas.features', message: 'needs at least one district' });
  const cellIds = new Set(features.filter((f) => f.properties.level === 'cell').map((f) => f.properties.id));
  if (cellIds.size === 0) issues.push({ path: 'areas.features', message: 'needs at least one grid cell (level: cell)' });

  // Categories and departments.
  const categoryCodes = checkUnique(issues, 'categories', cfg.categories, (c) => c.code, 'code');
  for (const code of REQUIRED_CATEGORIES) {
    if (!categoryCodes.has(code)) issues.push({ path: 'categories', message: `needs the category ${JSON.stringify(code)}` });
  }
  // The codes other systems know a category by must each name one category.
  checkUnique(issues, 'categories', cfg.categories, (c) => c.standard_code, 'standard_code');
  checkUnique(issues, 'categories', cfg.categories, (c) => c.local_code, 'local_code');
  cfg.categories.forEach((c, i) => {
    if (c.parent !== undefined && !categoryCodes.has(c.parent)) issues.push({ path: `categories[${i}].parent`, message: `unknown category ${JSON.stringify(c.parent)}` });
  });
  const departmentIds = checkUnique(issues, 'departments', cfg.departments, (d) => d.id, 'id');
  if (!cfg.departments.some((d) => d.supervisory)) issues.push({ path: 'departments', message: 'needs a supervisory department (supervisory: true)' });

  // Routing and SLA.
  if (!departmentIds.has(cfg.routing.default_department)) issues.push({ path: 'routing.default_department', message: `unknown department ${JSON.stringify(cfg.routing.default_department)}` });
  checkUnique(issues, 'routing.rules', cfg.routing.rules, (r) => r.id, 'id');
  cfg.routing.rules.forEach((r, i) => {
    const p = `routing.rules[${i}]`;
    checkRefs(issues, `${p}.categories`, r.categories, categoryCodes, 'category');
    checkRefs(issues, `${p}.areas`, r.areas, areaIds, 'area');
    checkRefs(issues, `${p}.departments`, r.departments, departmentIds, 'department');
  });
  checkUnique(issues, 'sla', cfg.sla, (s) => s.id, 'id');
  cfg.sla.forEach((s, i) => {
    checkRefs(issues, `sla[${i}].categories`, s.categories, categoryCodes, 'category');
    checkRefs(issues, `sla[${i}].departments`, s.departments, departmentIds, 'department');
    if (s.resolve_within_s < s.sign_within_s) issues.push({ path: `sla[${i}].resolve_within_s`, message: `(${s.resolve_within_s}) must not be shorter than sign_within_s (${s.sign_within_s})` });
  });
  const open311 = cfg.services.open311;
  checkUnique(issues, 'services.open311.clients', open311.clients, (c) => c.id, 'id');
  const keys = new Map<string, number>();
  open311.clients.forEach((c, i) => {
    // The key itself never goes into a message.
    const first = keys.get(c.api_key);
    if (first !== undefined) issues.push({ path: `services.open311.clients[${i}].api_key`, message: `the same key as services.open311.clients[${first}]: give each client its own` });
    else keys.set(c.api_key, i);
    if (c.department !== undefined && !departmentIds.has(c.department)) issues.push({ path: `services.open311.clients[${i}].department`, message: `unknown department ${JSON.stringify(c.department)}` });
  });
  if (!cfg.sla.some((s) => !s.categories && !s.departments)) issues.push({ path: 'sla', message: 'needs a catch-all policy (one with neither categories nor departments)' });

  // Cameras and their zones.
  checkUnique(issues, 'cameras', cfg.cameras, (c) => c.id, 'id');
  const cellRings = features.filter((f) => f.properties.level === 'cell').map((f) => f.geometry.coordinates[0] as unknown as Ring);
  cfg.cameras.forEach((cam, i) => {
    const p = `cameras[${i}]`;
    if (cam.cell !== undefined && !cellIds.has(cam.cell)) issues.push({ path: `${p}.cell`, message: `unknown grid cell ${JSON.stringify(cam.cell)}` });
    if (cam.cell === undefined && cellRings.length > 0 && !cellRings.some((r) => pointInRing(cam.lon, cam.lat, r))) {
      issues.push({ path: p, message: `lat/lon ${cam.lat}, ${cam.lon} is in no grid cell; set cell` });
    }
    checkUnique(issues, `${p}.zones`, cam.zones, (z) => z.id, 'id');
    if (cam.homography) {
      const [a, b, c] = cam.homography.image;
      if (a && b && c && (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) === 0) {
        issues.push({ path: `${p}.homography.image`, message: 'the first three points lie on one line; pick four corners of a ground quadrilateral' });
      }
    }
    cam.zones.forEach((z, j) => {
      const zp = `${p}.zones[${j}]`;
      checkRing(issues, `${zp}.polygon`, z.polygon as unknown as Ring, 'points');
      if (cam.image_size) {
        const [w, h] = cam.image_size;
        const out = z.polygon.findIndex(([x, y]) => x > w || y > h);
        if (out >= 0) issues.push({ path: `${zp}.polygon[${out}]`, message: `${JSON.stringify(z.polygon[out])} lies outside the ${w}x${h} image` });
      }
      if (!z.ground_point && !cam.homography) issues.push({ path: `${zp}.ground_point`, message: 'is required when the camera has no homography' });
      issues.push(...zoneTypeIssues(z, zp));
      if (!categoryCodes.has(ZONE_RULES[z.type])) issues.push({ path: `${zp}.type`, message: `a ${z.type} zone raises ${ZONE_RULES[z.type]} events: add the category ${JSON.stringify(ZONE_RULES[z.type])}` });
      if (z.type === 'shopfront_spillover' && z.shop_line) {
        if (cam.image_size && z.shop_line.some(([x, y]) => x > cam.image_size![0] || y > cam.image_size![1])) issues.push({ path: `${zp}.shop_line`, message: `lies partly outside the ${cam.image_size[0]}x${cam.image_size[1]} image` });
      }
    });
  });

  // Terminals.
  checkUnique(issues, 'terminals', cfg.terminals, (t) => t.id, 'id');
  checkUnique(issues, 'terminals', cfg.terminals, (t) => t.username ?? t.id, 'username');
  checkUnique(issues, 'terminals', cfg.terminals, (t) => (t.owntracks ? `${t.owntracks.user}/${t.owntracks.device}` : undefined), 'owntracks');
  cfg.terminals.forEach((t, i) => {
    if (!cellIds.has(t.cell)) issues.push({ path: `terminals[${i}].cell`, message: `unknown grid cell ${JSON.stringify(t.cell)}` });
  });

  if (cfg.services.nats.url === undefined && cfg.services.mqtt.url === undefined && cfg.services.http.port !== 0 && cfg.services.http.port === cfg.services.mqtt.port) {
    issues.push({ path: 'services.mqtt.port', message: `clashes with services.http.port (${cfg.services.http.port})` });
  }
  return issues;
}
