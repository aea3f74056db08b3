/** Starting and killing the telemetry child process of `test/fixtures/telemetry-node.ts`. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface TelemetryNode {
  readonly child: ChildProcess;
  /** every line it printed so far */
  readonly lines: string[];
  /** sends a command line (`down`, `up`, `slow <ms>`) and waits for its `ok` */
  send(cmd: string): Promise<void>;
  kill(): Promise<void>;
}

export function startTelemetryNode(args: string[]): TelemetryNode {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/telemetry-node.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const lines: string[] = [];
  const waiting: { line: string; resolve: () => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiting.splice(0)) (l === w.line ? w.resolve() : waiting.push(w));
  });
  return {
    child,
    lines,
    send: (cmd) => new Promise((resolve) => {
      waiting.push({ line: `ok ${cmd}`, resolve });
      child.send(cmd);
    }),
    kill: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/** Runs the fixture's `count` mode on a data folder: replays the spool and returns what is stored. */
export async function storedRows(dataDir: string): Promise<{ flushed: boolean; camera_status: number; positions: string[] }> {
  const node = startTelemetryNode(['count', dataDir]);
  const code = await new Promise<number | null>((r) => node.child.once('exit', r));
  const last = node.lines.filter((l) => l.startsWith('{')).at(-1);
  if (code !== 0 || !last) throw new Error(`telemetry-node count exited with ${code}: ${node.lines.join(' | ')}`);
  return JSON.parse(last) as { flushed: boolean; camera_status: number; positions: string[] };
}
