import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BENCH_DIR, gitCommit, machineInfo, saveResult } from '../../benchmarks/results-store.ts';

function available(): string[] {
  return readdirSync(BENCH_DIR).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, '')).sort();
}

/** Runs one benchmark file in its own process and records the JSON object it prints last. */
async function runOne(name: string, args: readonly string[]): Promise<boolean> {
  const file = join(BENCH_DIR, `${name}.bench.ts`);
  if (!existsSync(file)) {
    process.stderr.write(`no benchmark "${name}"; available: ${available().join(', ') || 'none'}\n`);
    return false;
  }
  process.stderr.write(`== bench ${name} ${args.join(' ')}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let last = '';
  let buf = '';
  child.stdout.on('data', (b: Buffer) => {
    process.stdout.write(b);
    buf += b.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) last = l.trim();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (buf.trim()) last = buf.trim();
  if (code !== 0) {
    process.stderr.write(`bench ${name} exited with code ${code}\n`);
    return false;
  }
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    process.stderr.write(`bench ${name}: its last line is not a JSON object: ${last.slice(0, 200)}\n`);
    return false;
  }
  const saved = saveResult({ bench: name, args, finished_at: new Date().toISOString(), commit: gitCommit(), machine: machineInfo(), result });
  process.stderr.write(`bench ${name}: saved ${saved}\n`);
  return true;
}

/** `gridwatch bench [NAME] [args…]`: `npm run bench` runs all, `npm run bench -- NAME …` one. */
export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run benchmarks (all, or NAME with its own arguments); results go to benchmarks/results/')
    .argument('[name]', 'benchmark name, e.g. camera-ingest')
    .argument('[args...]', 'arguments for that benchmark, e.g. --cameras 1000 --duration-s 120')
    .allowUnknownOption(true)
    .helpOption(false)
    .action(async (name: string | undefined, args: string[]) => {
      const names = name ? [name] : available();
      let ok = true;
      for (const n of names) ok = (await runOne(n, name ? args : [])) && ok;
      process.exitCode = ok ? 0 : 1;
    });
}
