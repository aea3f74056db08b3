import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/harness.ts';
import { writeFileAtomic, writeFileAtomicSync } from './index.ts';

describe('atomic file writes', () => {
  it('twenty saves of one file at once all succeed; the file holds one of them whole, and no temporary file is left', async () => {
    const dir = tempDir('gw-atomic-');
    const file = join(dir, 'state.json');
    const bodies = Array.from({ length: 20 }, (_, i) => JSON.stringify({ save: i, pad: 'x'.repeat(50_000 + i) }));
    await Promise.all(bodies.map((b) => writeFileAtomic(file, b)));
    expect(bodies).toContain(readFileSync(file, 'utf8'));
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('keeps the mode it is given whatever the umask, from the first byte', async () => {
    const dir = tempDir('gw-atomic-');
    const old = process.umask(0o077);
    try {
      await writeFileAtomic(join(dir, 'a'), 'x', { mode: 0o640 });
      writeFileAtomicSync(join(dir, 'b'), 'y', { mode: 0o640 });
    } finally {
      process.umask(old);
    }
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o640);
    expect(statSync(join(dir, 'b')).mode & 0o777).toBe(0o640);
  });

  it('a failed write leaves the old file as it was and no temporary file behind', async () => {
    const dir = tempDir('gw-atomic-');
    const file = join(dir, 'users.json');
    writeFileSync(file, 'old');
    // A folder where the file should be: the rename fails after the data was written and flushed.
    mkdirSync(join(dir, 'zones'));
    await expect(writeFileAtomic(join(dir, 'zones'), 'new')).rejects.toThrow(/EISDIR/);
    expect(() => writeFileAtomicSync(join(dir, 'zones'), 'new')).toThrow(/EISDIR/);
    await expect(writeFileAtomic(join(dir, 'missing', 'f'), 'new')).rejects.toThrow(/ENOENT/);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['users.json', 'zones']);
  });
});
