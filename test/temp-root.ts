import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest's global set-up: one temporary folder for the whole run, as TMPDIR, so that everything
 * the tests write there (nats stores, city data, converted models, chromium profiles) goes with
 * the run. A run leaves 1–2 GB: without this, 29 GB had gathered in /tmp of the development
 * machine in a day of runs.
 * Folders of runs that were killed (their process is gone) are removed at the next run.
 */
const PREFIX = 'gw-tests-';

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
};

export default function setup(): () => void {
  const base = tmpdir();
  for (const name of readdirSync(base)) {
    if (!name.startsWith(PREFIX)) continue;
    let pid = NaN;
    try { pid = Number(readFileSync(join(base, name, 'pid'), 'utf8')); } catch { /* no pid file: not ours to judge */ }
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) rmSync(join(base, name), { recursive: true, force: true });
  }
  const root = mkdtempSync(join(base, PREFIX));
  writeFileSync(join(root, 'pid'), String(process.pid));
  process.env['TMPDIR'] = root;
  return () => rmSync(root, { recursive: true, force: true });
}
