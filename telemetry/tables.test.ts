import { describe, it, expect } from 'vitest';
import { TABLES, TABLE_NAMES, compileEncoder, encodeRow } from './tables.ts';

describe('row encoding', () => {
  it('writes times as exact DateTime64(3) text and strings as JSON', () => {
    const line = encodeRow(TABLES.verdicts, { ts: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 7)), event_id: 'e"1', category: '占道经营', verdict: 'dismissed' });
    expect(line).toBe(`["1767323045.007","e\\"1","","","","占道经营","","","dismissed","","",""]\n`);
  });

  it('the compiled encoders agree with the reference on good and bad values of every column', () => {
    const values: unknown[] = [undefined, null, 0, 1, -1, 1.5, 256, 70_000, 2 ** 33, NaN, Infinity, 'x', 'a"b\\c', 'é中\n', '\ud800', true, false, new Date(1795000000123), {}, [], ['a', 'b"\n'], [1], 1795000000000];
    let compared = 0;
    for (const table of TABLE_NAMES) {
      const cols = TABLES[table];
      const encode = compileEncoder(cols);
      const base: Record<string, unknown> = {};
      for (const c of cols) base[c.name] = c.kind === 'ts' ? 1795000000001 : c.kind === 'string' ? (c.values?.[0] ?? 's') : c.kind === 'strings' ? ['s'] : c.kind === 'bool' ? true : 1;
      expect(typeof encode(base), table).toBe('string');
      for (const c of cols) {
        for (const v of values) {
          const row = { ...base, [c.name]: v };
          expect(String(encode(row)), `${table}.${c.name} = ${String(v)}`).toBe(String(encodeRow(cols, row)));
          compared++;
        }
      }
      expect(String(encode('not a row'))).toBe('column *: expected an object, got "not a row"');
    }
    expect(compared).toBeGreaterThan(1100);
  });
});
