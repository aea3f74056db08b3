import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { Value } from 'typebox/value';
import { CityConfig } from './schema/city.ts';
import { applyZoneTypeDefaults } from './schema/zone-types.ts';
import { ConfigInvalidError, ConfigReadError, yamlToJs, type ConfigIssue } from './errors.ts';
import { schemaIssues } from './schema-issues.ts';
import { semanticIssues } from './semantics.ts';
import { buildCity, type City, type CityConfigT } from './city.ts';

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigReadError(file, code === 'ENOENT' ? `${what} not found` : `cannot read ${what} (${code ?? String(err)})`, err);
  }
}

/** Replaces `areas: { path: x.geojson }` by the file's FeatureCollection. */
function resolveAreas(raw: Record<string, unknown>, baseDir: string, issues: ConfigIssue[]): void {
  const areas = raw.areas as Record<string, unknown> | undefined;
  if (!areas || typeof areas !== 'object' || !('path' in areas)) return;
  const extra = Object.keys(areas).filter((k) => k !== 'path');
  for (const k of extra) issues.push({ path: `areas.${k}`, message: 'unknown key (areas given by path take no other keys)' });
  if (typeof areas.path !== 'string') {
    issues.push({ path: 'areas.path', message: 'must be a file name' });
    return;
  }
  const file = resolve(baseDir, areas.path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    issues.push({ path: 'areas.path', message: `cannot read ${file}` });
    return;
  }
  try {
    raw.areas = JSON.parse(text);
  } catch (err) {
    issues.push({ path: 'areas.path', message: `${file} is not valid GeoJSON: ${(err as Error).message}` });
  }
}

/**
 * Validates a parsed city config: the schema first, then the semantics. Throws one
 * ConfigInvalidError that lists every issue; returns the frozen City otherwise.
 */
export function validateCity(raw: unknown, file = '<inline>', baseDir = process.cwd()): City {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigInvalidError(file, [{ path: '', message: 'the city config must be a YAML mapping' }]);
  }
  const issues: ConfigIssue[] = [];
  const copy = structuredClone(raw) as Record<string, unknown>;
  resolveAreas(copy, baseDir, issues);
  if (issues.length) throw new ConfigInvalidError(file, issues);
  if (Array.isArray(copy.cameras)) for (const cam of copy.cameras) applyZoneTypeDefaults((cam as { zones?: unknown } | null)?.zones);
  const withDefaults = Value.Default(CityConfig, copy);
  issues.push(...schemaIssues(CityConfig, withDefaults));
  if (issues.length) throw new ConfigInvalidError(file, issues);
  const config = withDefaults as CityConfigT;
  issues.push(...semanticIssues(config));
  if (issues.length) throw new ConfigInvalidError(file, issues);
  return buildCity(file, config);
}

/** Reads, parses and validates a city config file. */
export function loadCity(file: string): City {
  const path = resolve(file);
  const text = readText(path, 'city config');
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigInvalidError(file, doc.errors.map((e) => ({ path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: e.message.split('\n')[0] ?? e.code })));
  }
  return validateCity(yamlToJs(doc, text, file), file, dirname(path));
}
