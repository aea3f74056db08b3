/**
 * Fuzz-style checks of the files an operator edits: the city YAML, its areas GeoJSON and zones
 * files. A fixed-seed generator mutates the demo city (lines deleted, doubled, swapped, shifted,
 * values replaced by odd scalars, bytes inserted, the file cut short, alias bombs) and writes
 * random zone lists. Every input must load or be refused with a config error that names the file
 * and where (a path or a line); nothing else may be thrown, and memory stays bounded.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GridwatchError, seededRandom } from '../core/index.ts';
import { tempDir } from '../test/harness.ts';
import { ConfigInvalidError, loadCity, loadZones } from './index.ts';

const DEMO = join(import.meta.dirname, 'demo-city.yaml');
const AREAS = join(import.meta.dirname, 'demo-city.areas.geojson');

const ODD = ['', '-1', '0', '1e309', '-1e309', 'null', '~', '[]', '{}', '"x"', 'true', '0x10', '.nan', '.inf', '!!binary AAAA', '"\\u0000"', '*nowhere', '&a', '{a: [1, {b: }', '"', "'", '- - -', '? x', '%YAML 9.9', 'x'.repeat(20_000), '[' .repeat(500), '123456789012345678901234567890', '"__proto__"', '{__proto__: {polluted: 1}}', '2026-13-45T99:99:99Z'];

/** One to three random edits of a text, as a person (or a broken tool) might make. */
function mutate(text: string, rnd: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  let lines = text.split('\n');
  const edits = 1 + Math.floor(rnd() * 3);
  for (let e = 0; e < edits; e++) {
    const i = Math.floor(rnd() * lines.length);
    switch (Math.floor(rnd() * 8)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, lines[i] ?? ''); break;
      case 2: lines[i] = (lines[i] ?? '').replace(/:(\s+).*$/, (_m, sp: string) => `:${sp}${pick(ODD)}`); break;
      case 3: lines[i] = rnd() < 0.5 ? `  ${lines[i]}` : (lines[i] ?? '').replace(/^ {1,2}/, ''); break;
      case 4: { const j = Math.floor(rnd() * lines.length); [lines[i], lines[j]] = [lines[j]!, lines[i]!]; break; }
      case 5: { const joined = lines.join('\n'); lines = joined.slice(0, Math.floor(rnd() * joined.length)).split('\n'); break; }
      case 6: { const l = lines[i] ?? ''; const at = Math.floor(rnd() * (l.length + 1)); lines[i] = l.slice(0, at) + String.fromCharCode(...Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => Math.floor(rnd() * 0xffff))) + l.slice(at); break; }
      default: lines[i] = `${pick(['cameras', 'services', 'zones', 'polygon', 'dwell_s', 'departments', 'x'])}: ${pick(ODD)}`;
    }
  }
  return lines.join('\n');
}

/** Checks that a refusal is a config error naming the file and, for each issue, where. */
function expectClearRefusal(err: unknown, file: string, what: string): void {
  if (!(err instanceof GridwatchError) || !['CONFIG_INVALID', 'CONFIG_READ'].includes(err.code)) {
    throw new Error(`${what}: not a config error: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
  }
  expect(err.message, what).toContain(file);
  if (err instanceof ConfigInvalidError) {
    expect(err.issues.length, what).toBeGreaterThan(0);
    for (const issue of err.issues) {
      expect(issue.message.length, what).toBeGreaterThan(0);
      // Every issue says where, except the one that says the whole file is not a mapping.
      if (!issue.path) expect(issue.message, what).toMatch(/mapping|zones/);
    }
  }
}

describe('config files under malformed input', () => {
  it('loads or refuses 300 mutated city files with a config error that says where, and nothing else', () => {
    const dir = tempDir('gw-fuzz-city-');
    copyFileSync(AREAS, join(dir, 'demo-city.areas.geojson'));
    const original = readFileSync(DEMO, 'utf8');
    const rnd = seededRandom(18);
    const rss0 = process.memoryUsage().rss;
    let loaded = 0, refused = 0;
    for (let n = 0; n < 300; n++) {
      const file = join(dir, 'city.yaml');
      writeFileSync(file, mutate(original, rnd));
      try {
        loadCity(file);
        loaded++;
      } catch (err) {
        expectClearRefusal(err, file, `input ${n}`);
        refused++;
      }
    }
    // An alias bomb: a few lines that would expand to a billion items.
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `${'bcdefghij'[i]}: &${'bcdefghij'[i]} [${Array(10).fill(`*${'abcdefghi'[i]}`).join(', ')}]`)].join('\n');
    writeFileSync(join(dir, 'bomb.yaml'), bomb);
    let bombErr: unknown = null;
    try { loadCity(join(dir, 'bomb.yaml')); } catch (err) { bombErr = err; }
    expectClearRefusal(bombErr, join(dir, 'bomb.yaml'), 'alias bomb');
    const grewMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`city files: 300 mutated + 1 alias bomb tried; ${loaded} loaded, ${refused + 1} refused; RSS +${grewMb.toFixed(0)} MB`);
    expect(refused).toBeGreaterThan(150);
    expect(grewMb).toBeLessThan(400);
  }, 300_000);

  it('refuses 100 mutated areas GeoJSON files with the areas path', () => {
    const dir = tempDir('gw-fuzz-areas-');
    copyFileSync(DEMO, join(dir, 'city.yaml'));
    const original = readFileSync(AREAS, 'utf8');
    const rnd = seededRandom(311);
    let refused = 0;
    for (let n = 0; n < 100; n++) {
      // GeoJSON is often one line: cut and splice characters rather than lines.
      let text = original;
      const at = Math.floor(rnd() * text.length);
      const r = rnd();
      text = r < 0.3 ? text.slice(0, at) : r < 0.6 ? text.slice(0, at) + ['"', '{', ']', ',', 'null', '1e999', '-', '"x":'][Math.floor(rnd() * 8)] + text.slice(at + 1) : text.slice(0, at) + text.slice(at + 1 + Math.floor(rnd() * 50));
      writeFileSync(join(dir, 'demo-city.areas.geojson'), text);
      try {
        loadCity(join(dir, 'city.yaml'));
      } catch (err) {
        expectClearRefusal(err, join(dir, 'city.yaml'), `areas input ${n}`);
        refused++;
      }
    }
    console.log(`areas files: 100 mutated tried; ${refused} refused`);
    expect(refused).toBeGreaterThan(50);
  }, 300_000);

  it('loads or refuses 1,000 random zones files (YAML and JSON) with the zone path', () => {
    const dir = tempDir('gw-fuzz-zones-');
    const rnd = seededRandom(7);
    const value = (depth: number): unknown => {
      const r = rnd();
      if (depth > 3 || r < 0.25) return [0, -1, 1e309, 'no_parking', 'road_occupation', '', null, true, 'x'.repeat(5000), 60][Math.floor(rnd() * 10)];
      if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 6) }, () => value(depth + 1));
      if (r < 0.75) return [[0, 0], [100, 0], [100, 100], [0, 0]];
      const o: Record<string, unknown> = {};
      for (const k of ['id', 'type', 'polygon', 'dwell_s', 'classes', 'min_score', 'ground_point', 'zones', 'image_size', 'homography', '__proto__', 'extra']) if (rnd() < 0.5) o[k] = value(depth + 1);
      return o;
    };
    let loaded = 0, refused = 0;
    for (let n = 0; n < 1000; n++) {
      const file = join(dir, n % 2 ? 'zones.json' : 'zones.yaml');
      const doc = rnd() < 0.7 ? { zones: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => value(0)) } : value(0);
      let text = JSON.stringify(doc) ?? '';
      if (rnd() < 0.2) text = text.slice(0, Math.floor(rnd() * text.length));
      writeFileSync(file, text);
      try {
        loadZones(file);
        loaded++;
      } catch (err) {
        expectClearRefusal(err, file, `zones input ${n}`);
        refused++;
      }
    }
    console.log(`zones files: 1000 random tried; ${loaded} loaded, ${refused} refused`);
    expect(refused).toBeGreaterThan(500);
  }, 300_000);
});
