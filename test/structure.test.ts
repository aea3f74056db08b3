import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './harness.ts';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const depcruise = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const rules = createRequire(import.meta.url)(join(root, '.dependency-cruiser.cjs')) as { forbidden: { name: string }[] };
/** The folders that hold TypeScript: the modules and their support (tests, benchmarks, scripts). */
const FOLDERS = readdirSync(root).filter((d) => /^[a-z]+$/.test(d) && !['node_modules', 'data', 'docs', 'bin'].includes(d) && statSync(join(root, d)).isDirectory());

interface Violation { readonly from: string; readonly to: string; readonly rule: { readonly name: string } }
async function violations(cwd: string, folders: readonly string[]): Promise<Violation[]> {
  const { stdout } = await run(process.execPath, [depcruise, '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'json', ...folders], { cwd, maxBuffer: 64 << 20 })
    .catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.includes('node_modules') && !f.startsWith('web/dist'))
    .map((f) => join(root, dir, f));
}

describe('the module structure', () => {
  it('has no cycle, no upward import, no reach into another module, and no test support or simulator in production', async () => {
    const found = await violations(root, FOLDERS);
    expect(found.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  }, 120_000);

  it('catches each kind of violation (the rules are not vacuous)', async () => {
    const dir = tempDir('structure-');
    cpSync(join(root, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    const files: Record<string, string> = {
      'core/index.ts': "export { a } from './a.ts';\n",
      'core/a.ts': "import { c } from '../config/index.ts';\nexport const a = c;\n",
      'config/index.ts': "import { a } from '../core/index.ts';\nimport { hidden } from '../domain/hidden.ts';\nexport const c = 1 + hidden; void a;\n",
      'domain/index.ts': "export const d = 1;\n",
      'domain/hidden.ts': "import { until } from '../test/harness.ts';\nexport const hidden = 2; void until;\n",
      'test/harness.ts': "export const until = 3;\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, dirname(path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const names = new Set((await violations(dir, ['core', 'config', 'domain', 'test'])).map((v) => v.rule.name));
    expect([...names].sort()).toEqual(['layer-config', 'layer-core', 'no-cycle', 'no-support-in-production', 'through-index']);
    expect(rules.forbidden.map((r) => r.name)).toEqual(expect.arrayContaining([...names]));
  }, 120_000);

  it('tracks no symbolic link (a worktree\'s node_modules link, merged, replaced the real folder)', async () => {
    const { stdout } = await promisify(execFile)('git', ['ls-files', '-s'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    expect(stdout.split('\n').filter((l) => l.startsWith('120000 '))).toEqual([]);
  });

  it('keeps every production source file at 400 lines or fewer', () => {
    const long = FOLDERS.filter((d) => d !== 'test').flatMap(sourceFiles)
      .map((f) => ({ f: f.slice(root.length + 1), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((x) => x.lines > 400);
    expect(long).toEqual([]);
  });

  it('installs from the lock file with `npm ci` (every platform\'s optional package is listed)', async () => {
    const dir = tempDir('npm-ci-');
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) cpSync(join(root, f), join(dir, f));
    const { stdout } = await run('npm', ['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, maxBuffer: 16 << 20 });
    expect(stdout).toMatch(/added \d+ packages/);
  }, 120_000);
});
