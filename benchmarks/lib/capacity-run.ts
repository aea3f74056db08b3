/**
 * One engine run of the node-capacity benchmark: starts the engine host (capacity-engine.ts) on
 * a city file, waits for its cameras to stream, then each second reads the engine's counters
 * and its process tree, and watches the camera events on NATS for capture → event times.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { StopTimes } from '../../engine/index.ts';
import type { EngineFigures, HostMessage, HostRequest } from './capacity-engine.ts';
import { ProcessTree, PROC_KINDS, type ProcKind, type TreeReading } from './proc-tree.ts';

export interface SecondRow {
  t: number;
  due: number;
  decoded: number;
  inferred: number;
  /** Model runs (whole frame and region crops). */
  inferences: number;
  gated: number;
  gated_before_decode: number;
  /** Samples dropped in the second, by `stage/reason` (ingest/superseded, ingest/decode, detectors/queue_full). */
  dropped: Record<string, number>;
  /** At the second's end: keyframes waiting for or in a decoder, and samples waiting for a detector worker. */
  decode_queue: number;
  pool_queue: number;
  events: number;
  capture_to_event_p50_ms: number | null;
  capture_to_event_p99_ms: number | null;
  cores: Record<ProcKind, number>;
  rss_mb: Record<ProcKind, number>;
}

export interface RunResult {
  rows: SecondRow[];
  first: EngineFigures;
  last: EngineFigures;
  tree: TreeReading;
  wallS: number;
  captureToEventMs: number[];
  /** Per camera: the longest time without an inference in the window, s (window edges count). */
  maxGapS: Record<string, number>;
  engineStartMs: number;
  /** The engine's stop at the end of the run (null: it did not stop within 60 s and was killed). */
  stop: StopTimes | null;
  warmupS: number;
}

export const quantile = (xs: readonly number[], p: number): number | null => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : null);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r1 = (v: number) => Math.round(v * 10) / 10;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

/** Sample drops only: the telemetry writer's dropped rows are not samples. */
export function sampleDrops(f: EngineFigures): Record<string, number> {
  return Object.fromEntries(Object.entries(f.dropped).filter(([k]) => k.startsWith('ingest/') || k.startsWith('detectors/')));
}

class Host {
  readonly child: ChildProcess;
  #next = 1;
  readonly #waiting = new Map<number, (f: EngineFigures) => void>();
  #onReady: ((m: Extract<HostMessage, { type: 'ready' }>) => void) | undefined;
  #onStopped: ((times: StopTimes) => void) | undefined;
  readonly #failure = new Set<(err: Error) => void>();

  constructor(cityFile: string, cpuProfDir?: string) {
    // Its stdout goes to stderr: the bench's stdout carries only the JSON line the runner stores.
    const prof = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
    this.child = fork(join(import.meta.dirname, 'capacity-engine.ts'), [cityFile], { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 2, 'inherit', 'ipc'] });
    this.child.on('message', (m: HostMessage) => {
      if (m.type === 'ready') this.#onReady?.(m);
      else if (m.type === 'figures') { this.#waiting.get(m.id)?.(m.figures); this.#waiting.delete(m.id); }
      else if (m.type === 'stopped') this.#onStopped?.(m.times);
      else for (const f of [...this.#failure]) f(new Error(`engine: ${m.message}`));
    });
    this.child.on('exit', (code) => { for (const f of [...this.#failure]) f(new Error(`engine process exited with code ${code}`)); });
  }

  #guard<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (e: Error): void => { clearTimeout(t); this.#failure.delete(fail); reject(e); };
      const t = setTimeout(() => fail(new Error(`engine: no ${what} within ${ms} ms`)), ms);
      this.#failure.add(fail);
      p.then((v) => { clearTimeout(t); this.#failure.delete(fail); resolve(v); });
    });
  }
  ready(ms: number) { return this.#guard(new Promise<Extract<HostMessage, { type: 'ready' }>>((r) => { this.#onReady = r; }), ms, 'start'); }
  figures(ms = 30_000): Promise<EngineFigures> {
    const id = this.#next++;
    const p = new Promise<EngineFigures>((r) => this.#waiting.set(id, r));
    this.child.send({ type: 'figures', id } satisfies HostRequest);
    return this.#guard(p, ms, 'figures');
  }
  /**
   * Asks the engine to stop; one that does not within `ms` is killed with its children
   * (nats-server, decoders), each by pid. Returns the engine's stop times, null when it did not stop.
   */
  async stop(ms = 60_000): Promise<StopTimes | null> {
    const pid = this.child.pid;
    if (this.child.exitCode !== null || this.child.signalCode !== null || !pid) return null;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    const stopped = new Promise<StopTimes>((r) => { this.#onStopped = r; });
    let times: StopTimes | null = null;
    try {
      this.child.send({ type: 'stop' } satisfies HostRequest);
      times = await this.#guard(stopped, ms, 'stop');
    } catch { /* gone or wedged */ }
    await Promise.race([exited, sleep(10_000)]);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return times;
    for (const p of new ProcessTree(pid).pids().reverse()) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    return times;
  }
}

/** Camera events seen on NATS: capture of the confirming frame → the event on the bus. */
async function watchEvents(natsUrl: string, into: { at: number; ms: number }[]): Promise<NatsConnection> {
  const nc = await connect({ servers: natsUrl.split(',') });
  const seen = new Set<string>();
  const sub = nc.subscribe('gw.events.>');
  void (async () => {
    for await (const m of sub) {
      const e = m.json<{ id: string; source: { kind: string }; confirmed_at: string }>();
      if (e.source.kind !== 'camera' || seen.has(e.id)) continue;
      seen.add(e.id);
      const at = Date.now();
      into.push({ at, ms: at - Date.parse(e.confirmed_at) });
    }
  })();
  return nc;
}

export interface RunOptions {
  cityFile: string;
  label: string;
  /** Profiles the engine host (main thread and workers) into this folder (`node --cpu-prof`). */
  cpuProfDir?: string;
  /** Every camera of the city: one never sampled still has a gap. */
  cameraIds: readonly string[];
  durationS: number;
  warmupMaxS: number;
  /** Stop a run that has been going this much longer than planned (a wedged engine). */
  graceS?: number;
}

export async function runEngine(o: RunOptions): Promise<RunResult> {
  const host = new Host(o.cityFile, o.cpuProfDir);
  let nc: NatsConnection | undefined;
  try {
    const ready = await host.ready(180_000);
    const tree = new ProcessTree(ready.pid);
    const events: { at: number; ms: number }[] = [];
    nc = await watchEvents(ready.natsUrl, events);
    // Warm-up: until 99% of the city's cameras stream, at most warmupMaxS (the engine takes its
    // cameras by lease after it starts: at first it has none, and none streaming is not 99% of them).
    const w0 = Date.now();
    let f = await host.figures();
    const want = Math.ceil(o.cameraIds.length * 0.99);
    for (let i = 0; i < o.warmupMaxS * 2 && f.streaming < want; i++) { await sleep(500); f = await host.figures(); }
    const warmupS = (Date.now() - w0) / 1000;
    process.stderr.write(`[${o.label}] engine up in ${ready.startMs} ms; ${f.streaming}/${f.cameras} cameras streaming after ${warmupS.toFixed(1)} s; measuring ${o.durationS} s (${f.precision}, gate_threshold ${f.gateThreshold}, gate_before_decode ${f.gateBeforeDecode})\n`);
    process.stderr.write(`[${o.label}]    t   due  dec  inf  gate gpre drop ev  p99ms  decq  poolq  cores(eng dec nats oth)  rss MB\n`);
    tree.start();
    const first = f;
    let prev = f, prevTree = tree.read();
    const t0 = Date.now();
    events.length = 0;
    const rows: SecondRow[] = [];
    const lastInferAt = new Map<string, number>(o.cameraIds.map((id) => [id, t0]));
    const maxGapMs = new Map<string, number>();
    const deadline = t0 + (o.durationS + (o.graceS ?? 60)) * 1000;
    for (let s = 1; s <= o.durationS && Date.now() < deadline; s++) {
      await sleep(Math.max(0, t0 + s * 1000 - Date.now()));
      const now = await host.figures();
      const tr = tree.read();
      const dt = (now.atMs - prev.atMs) / 1000 || 1;
      const evs = events.filter((e) => e.at > t0 + (s - 1) * 1000 && e.at <= t0 + s * 1000).map((e) => e.ms);
      const drops = sampleDrops(now), dropsBefore = sampleDrops(prev);
      for (const [id, n] of Object.entries(now.inferredByCamera)) {
        if (n === (prev.inferredByCamera[id] ?? 0)) continue;
        const last = lastInferAt.get(id) ?? t0;
        maxGapMs.set(id, Math.max(maxGapMs.get(id) ?? 0, now.atMs - last));
        lastInferAt.set(id, now.atMs);
      }
      const row: SecondRow = {
        t: s, due: now.due - prev.due, decoded: now.decoded - prev.decoded, inferred: now.pool.inferred - prev.pool.inferred, inferences: now.pool.inferences - prev.pool.inferences,
        gated: now.pool.gated - prev.pool.gated + now.gatedBeforeDecode - prev.gatedBeforeDecode, gated_before_decode: now.gatedBeforeDecode - prev.gatedBeforeDecode,
        dropped: Object.fromEntries(Object.entries(drops).map(([k, v]) => [k, v - (dropsBefore[k] ?? 0)]).filter(([, v]) => v !== 0)),
        decode_queue: now.decodeQueued + now.decodesInFlight, pool_queue: now.pool.queued,
        events: evs.length, capture_to_event_p50_ms: quantile(evs, 0.5), capture_to_event_p99_ms: quantile(evs, 0.99),
        cores: Object.fromEntries(PROC_KINDS.map((k) => [k, r3((tr.cpuS[k] - prevTree.cpuS[k]) / dt)])) as Record<ProcKind, number>,
        rss_mb: Object.fromEntries(PROC_KINDS.map((k) => [k, Math.round(tr.rssMb[k])])) as Record<ProcKind, number>,
      };
      rows.push(row);
      const dropN = Object.values(row.dropped).reduce((a, b) => a + b, 0);
      const c = row.cores, rss = PROC_KINDS.reduce((a, k) => a + row.rss_mb[k], 0);
      process.stderr.write(`[${o.label}] ${String(s).padStart(4)} ${String(row.due).padStart(5)} ${String(row.decoded).padStart(4)} ${String(row.inferred).padStart(4)} ${String(row.gated).padStart(5)} ${String(row.gated_before_decode).padStart(4)} ${String(dropN).padStart(4)} ${String(row.events).padStart(2)} ${String(row.capture_to_event_p99_ms ?? '-').padStart(6)}  ${String(row.decode_queue).padStart(4)}  ${String(row.pool_queue).padStart(5)}  ${(c.engine + c.decoders + c.nats + c.other).toFixed(2)} (${c.engine.toFixed(2)} ${c.decoders.toFixed(2)} ${c.nats.toFixed(2)} ${c.other.toFixed(2)})  ${rss}\n`);
      prev = now; prevTree = tr;
    }
    const wallS = (prev.atMs - first.atMs) / 1000;
    // The open gap at the end counts too: a camera not inferred since is as late as one inferred late.
    const maxGapS: Record<string, number> = {};
    for (const id of o.cameraIds) {
      maxGapS[id] = r1(Math.max(maxGapMs.get(id) ?? 0, prev.atMs - (lastInferAt.get(id) ?? t0)) / 1000);
    }
    await nc?.close().catch(() => undefined);
    nc = undefined;
    const stop = await host.stop();
    return { rows, first, last: prev, tree: prevTree, wallS, captureToEventMs: events.filter((e) => e.at <= prev.atMs).map((e) => e.ms), maxGapS, engineStartMs: ready.startMs, warmupS: r1(warmupS), stop };
  } finally {
    await nc?.close().catch(() => undefined);
    await host.stop();
  }
}
