import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export const BENCH_DIR = import.meta.dirname;
export const RESULTS_DIR = join(BENCH_DIR, 'results');

export interface BenchRecord {
  readonly bench: string;
  readonly args: readonly string[];
  readonly finished_at: string;
  readonly commit: string;
  readonly machine: { cores: number; memory_gb: number; cpu_model: string; node: string };
  readonly result: Record<string, unknown>;
}

export function machineInfo(): BenchRecord['machine'] {
  return { cores: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), cpu_model: cpus()[0]?.model ?? 'unknown', node: process.version };
}

export function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

/** Keeps the latest result per benchmark and a history line for each run. */
export function saveResult(record: BenchRecord): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${record.bench}.json`);
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  appendFileSync(join(RESULTS_DIR, 'history.jsonl'), JSON.stringify(record) + '\n');
  writeSummary();
  return file;
}

const BEGIN = '<!-- results:begin -->';
const END = '<!-- results:end -->';

function cell(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Rewrites the table of latest results in benchmarks/README.md. */
export function writeSummary(): void {
  const readme = join(BENCH_DIR, 'README.md');
  const rows = readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const raw = JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as Partial<BenchRecord> & Record<string, unknown>;
      // A benchmark run directly (`npx tsx benchmarks/X.bench.ts`) saves its bare result object.
      if (raw.result && raw.machine) return raw as BenchRecord;
      const at = typeof raw.at === 'string' ? raw.at : typeof raw.finished_at === 'string' ? raw.finished_at : '';
      return { bench: f.replace(/\.json$/, ''), args: [], finished_at: at || 'unknown', commit: typeof raw.commit === 'string' ? raw.commit : '?', machine: { cores: 0, memory_gb: 0, cpu_model: 'not recorded', node: '' }, result: raw } as BenchRecord;
    })
    .map((r) => {
      const figures = Object.entries(r.result).filter(([, v]) => typeof v !== 'object').map(([k, v]) => `${k}=${cell(v)}`).join(', ');
      return `| ${r.bench} | ${r.args.join(' ') || '(defaults)'} | ${figures} | ${r.machine.cores ? `${r.machine.cores} × ${r.machine.cpu_model}` : r.machine.cpu_model} | ${r.commit} | ${r.finished_at.slice(0, 16).replace('T', ' ')} |`;
    });
  const table = [BEGIN, '| benchmark | args | figures | machine | commit | when (UTC) |', '| --- | --- | --- | --- | --- | --- |', ...rows, END].join('\n');
  const text = existsSync(readme) ? readFileSync(readme, 'utf8') : `# Benchmarks\n\n${BEGIN}\n${END}\n`;
  const i = text.indexOf(BEGIN), j = text.indexOf(END);
  writeFileSync(readme, i >= 0 && j > i ? text.slice(0, i) + table + text.slice(j + END.length) : `${text}\n${table}\n`);
}
