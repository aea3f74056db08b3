import { readFileSync } from 'node:fs';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { parseDocument } from 'yaml';
import { Homography, Zone, type ZoneT } from './schema/cameras.ts';
import { applyZoneTypeDefaults, zoneTypeIssues } from './schema/zone-types.ts';
import { ConfigInvalidError, ConfigReadError, yamlToJs } from './errors.ts';
import { schemaIssues } from './schema-issues.ts';
import { isClosed } from './geometry.ts';

const ZoneList = Type.Array(Zone);

export interface ZonesFile {
  zones: ZoneT[];
  imageSize?: [number, number];
  homography?: { image: [number, number][]; ground: [number, number][] };
}

/**
 * Reads a zones file (YAML or JSON): a list of zones, or a mapping with `zones:` and optional
 * `image_size: [w, h]` and `homography`, in the camera format of the city config (so a camera
 * block of the city config is a zones file too; its other keys are not read here).
 */
export function loadZones(file: string): ZonesFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigReadError(file, `zones file not found or unreadable (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigInvalidError(file, doc.errors.map((e) => ({ path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0] ?? e.code })));
  }
  const raw = yamlToJs(doc, text, file);
  const obj = Array.isArray(raw) ? { zones: raw } : (raw as Record<string, unknown> | null);
  if (!obj || typeof obj !== 'object' || !Array.isArray(obj['zones'])) {
    throw new ConfigInvalidError(file, [{ path: '', message: 'expected a list of zones or a mapping with `zones:`' }]);
  }
  const given = structuredClone(obj['zones']);
  applyZoneTypeDefaults(given);
  const zones = Value.Default(ZoneList, given) as unknown[];
  const issues = schemaIssues(ZoneList, zones).map((i) => ({ ...i, path: `zones${i.path.startsWith('[') ? '' : '.'}${i.path}` }));
  (zones as ZoneT[]).forEach((z, i) => {
    if (z && typeof z === 'object' && Array.isArray(z.polygon) && (z.polygon.length < 4 || !isClosed(z.polygon as [number, number][]))) {
      issues.push({ path: `zones[${i}].polygon`, message: 'must be a closed ring of at least 3 points (the last point repeats the first)' });
    }
    if (z && typeof z === 'object') issues.push(...zoneTypeIssues(z, `zones[${i}]`));
  });
  const size = obj['image_size'];
  if (size !== undefined && !(Array.isArray(size) && size.length === 2 && size.every((v) => Number.isInteger(v) && v > 0))) {
    issues.push({ path: 'image_size', message: 'must be [width, height] in pixels' });
  }
  const homography = obj['homography'];
  if (homography !== undefined) issues.push(...schemaIssues(Homography, homography).map((i) => ({ ...i, path: `homography${i.path.startsWith('[') ? '' : '.'}${i.path}` })));
  if (issues.length) throw new ConfigInvalidError(file, issues);
  return { zones: zones as ZoneT[], imageSize: size as [number, number] | undefined, homography: homography as ZonesFile['homography'] };
}
