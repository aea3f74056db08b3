import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CASE_STATES, CONSOLE_ACTIONS, ROLES } from './types.ts';
import { CAMERA_STATES, DISMISS_REASONS, LABELS } from './web/src/i18n.ts';
import { ZONE_TYPES } from '../config/index.ts';

/**
 * Every label the web app shows has a Chinese and an English text: each `t('key')` in the views,
 * and each value of each `t(\`prefix.${x}\`)` (case states, actions, camera states, zone types,
 * roles, dismiss reasons). A key missing in either language fails here, not in front of an operator.
 */
const SRC = join(import.meta.dirname, 'web', 'src');
const FAMILIES: Record<string, readonly string[]> = {
  state: CASE_STATES, action: CONSOLE_ACTIONS, cam: CAMERA_STATES, zone: ZONE_TYPES, role: ROLES, reason: DISMISS_REASONS,
};
const CJK = /[\u3400-\u9fff]/;

function sources(dir: string): { file: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [{ file: e.name, text: readFileSync(join(dir, e.name), 'utf8') }] : []));
}

describe('console translations', () => {
  const files = sources(SRC);

  it('every key a view asks for has a label in Chinese and in English', () => {
    const missing: string[] = [];
    const need = (key: string, where: string) => {
      const l = LABELS[key];
      if (!l || !l[0]?.trim() || !l[1]?.trim()) missing.push(`${key} (${where})`);
    };
    let literal = 0, families = 0;
    for (const { file, text } of files) {
      for (const m of text.matchAll(/\bt\('([^']+)'\)/g)) (need(m[1]!, file), literal++);
      for (const m of text.matchAll(/\bt\(`([A-Za-z]+)\.\$\{/g)) {
        const values = FAMILIES[m[1]!];
        if (!values) { missing.push(`${m[1]}.* (${file}: no list of its values; add it to FAMILIES)`); continue; }
        for (const v of values) need(`${m[1]}.${v}`, file);
        families++;
      }
      // Keys held in variables: the link state, and the routes' keys (read from the route table).
      const held: Record<string, readonly string[]> = { 'store.link': ['live', 'offline', 'reconnecting'], 'r.key': [...text.matchAll(/\bkey: '([^']+)'/g)].map((k) => k[1]!) };
      for (const m of text.matchAll(/(?<!function )\bt\((?!'|`[A-Za-z]+\.\$\{)([^)]{0,40})\)/g)) {
        const values = held[m[1]!];
        if (!values?.length) missing.push(`t(${m[1]}) in ${file}: use a literal key or a prefix the test knows`);
        else for (const v of values) need(v, file);
      }
    }
    expect(literal).toBeGreaterThan(100);
    expect(families).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });

  it('Chinese labels are Chinese and English ones are not (the language switch names the other language)', () => {
    const wrong = Object.entries(LABELS).filter(([k, [zh, en]]) => k !== 'lang' && (!CJK.test(zh) || CJK.test(en))).map(([k]) => k);
    expect(wrong).toEqual([]);
  });
});
