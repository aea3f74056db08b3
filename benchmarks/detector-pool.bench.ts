/**
 * Detector pool throughput against one bare onnxruntime session with 1 thread, side by side
 * on the same decoded frames of the demo footage (vtest.avi).
 *
 *   npx tsx benchmarks/detector-pool.bench.ts [--workers 2] [--duration-s 20] [--frames 40] [--gate-fps 1] [--precision fp32|int8|both] [--frame-size 640x360]
 *
 * Last stdout line: JSON with workers, pool_fps, single_fps, efficiency = pool_fps / (workers x single_fps),
 * p50_ms, p99_ms (pool inference time per sample) and gating_saved_pct (share of demo samples
 * change gating spared). Also written to benchmarks/results/detector-pool.json with machine info.
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Detector, DetectorPool, detectorOptions, ensureDefaultModel, readVideo, thumbDiff, thumbnail, type DetectorOptions, type RgbFrame } from '../detectors/index.ts';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    'duration-s': { type: 'string', default: '20' },
    frames: { type: 'string', default: '40' },
    'gate-fps': { type: 'string', default: '1' },
    'gate-threshold': { type: 'string', default: '0.01' },
    video: { type: 'string', default: '/usr/share/doc/opencv-doc/examples/data/vtest.avi' },
    'data-dir': { type: 'string', default: process.env['GRIDWATCH_DATA_DIR'] ?? './data' },
    // fp32, int8, or both: both runs the pool with each, interleaved (fp32, int8, fp32, int8), and reports the ratio.
    precision: { type: 'string', default: 'fp32' },
    // WxH: the frames scaled as the engine decodes them (640x360 runs on the wide 416x256 input); the clip's own 768x576 by default.
    'frame-size': { type: 'string' },
  },
});
const workers = Number(args.workers);
const durationMs = Number(args['duration-s']) * 1000;
const dataDir = args['data-dir']!;
const log = (s: string): void => { process.stderr.write(`${s}\n`); };

ensureDefaultModel(dataDir);
if (!['fp32', 'int8', 'both'].includes(args.precision!)) throw new Error(`--precision ${args.precision}: use fp32, int8 or both`);
const precisions = (args.precision === 'both' ? ['fp32', 'int8'] : [args.precision]) as ('fp32' | 'int8')[];
const optionsFor = (precision: 'fp32' | 'int8'): DetectorOptions => detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5, precision }, dataDir, 1);
if (precisions.includes('int8') && !existsSync(optionsFor('int8').path)) throw new Error(`${optionsFor('int8').path} is missing: run \`gridwatch model quantize --data-dir ${dataDir}\``);
const options = optionsFor(precisions[0]!);

// Set-up: decode the frames once.
const frames: RgbFrame[] = [];
const size = args['frame-size'] === undefined ? undefined : /^(\d{2,4})x(\d{2,4})$/.exec(args['frame-size']);
if (size === null) throw new Error(`--frame-size ${args['frame-size']}: expected WxH, e.g. 640x360`);
for await (const f of readVideo(args.video!, 2, Number(args.frames), size ? { width: Number(size[1]), height: Number(size[2]) } : undefined)) frames.push(f);
log(`decoded ${frames.length} frames of ${frames[0]!.width}x${frames[0]!.height}`);

/** CPU cores this process (all its threads) used over a phase. */
function cpuMeter(): () => number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000 / (performance.now() - t0);
  };
}

/** Baseline: one session, 1 intra-op thread, in this thread; the same preprocess and decode as a worker. */
async function single(ms: number): Promise<{ fps: number; cores: number }> {
  const d = await Detector.load(options);
  for (let i = 0; i < 3; i++) await d.detect(frames[i % frames.length]!);
  let n = 0;
  const cpu = cpuMeter();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) await d.detect(frames[n++ % frames.length]!);
  const fps = (n * 1000) / (performance.now() - t0);
  const cores = cpu();
  await d.release();
  return { fps, cores };
}

/** The pool, kept saturated: 2 samples in flight per worker, from several cameras. */
async function pool(ms: number, detector: DetectorOptions = options): Promise<{ fps: number; p50: number; p99: number; dropped: number; cores: number }> {
  let done = 0;
  let next = 0;
  const cameras = workers * 2;
  let submit: () => void = () => {};
  const p = new DetectorPool({
    detector, workers, queuePerCamera: 4, gateThreshold: 0, reverifyS: 60, inferTimeoutMs: 30_000,
    maxRestarts: 0, restartWindowS: 600, warmupRuns: 3,
    onResult: () => { done++; submit(); },
  });
  await p.start();
  submit = () => {
    const f = frames[next % frames.length]!;
    p.submit({ cameraId: `cam-${next % cameras}`, captureTimeMs: next * 100, width: f.width, height: f.height, rgb: f.rgb.slice() });
    next++;
  };
  for (let i = 0; i < workers * 2; i++) submit();
  // Let it settle, then count.
  await new Promise((r) => setTimeout(r, 2000));
  const d0 = done;
  const cpu = cpuMeter();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const fps = ((done - d0) * 1000) / (performance.now() - t0);
  const cores = cpu();
  submit = () => {};
  await p.drain();
  const st = p.status();
  await p.stop();
  return { fps, p50: st.p50Ms, p99: st.p99Ms, dropped: st.dropped, cores };
}

/** Change gating over the demo footage at the given sampling rate, as the pool gates. */
async function gating(): Promise<{ samples: number; saved: number }> {
  const threshold = Number(args['gate-threshold']);
  let last: Float32Array | null = null;
  let lastT = -Infinity;
  let samples = 0;
  let saved = 0;
  const cur = new Float32Array(32 * 24);
  for await (const f of readVideo(args.video!, Number(args['gate-fps']))) {
    samples++;
    thumbnail(f.width, f.height, f.rgb, cur);
    if (last && f.timeMs - lastT < 60_000 && thumbDiff(cur, last) < threshold) { saved++; continue; }
    last = cur.slice();
    lastT = f.timeMs;
  }
  return { samples, saved };
}

/** How many cores `workers` busy threads actually get right now (1 s), to read the figures against. */
async function probeCores(): Promise<number> {
  const { Worker } = await import('node:worker_threads');
  const cpu = cpuMeter();
  const code = 'const e = Date.now() + 1000; let x = 0; while (Date.now() < e) x += Math.sqrt(x + 1);';
  await Promise.all(Array.from({ length: workers }, () => new Promise((r) => new Worker(code, { eval: true }).on('exit', r))));
  return cpu();
}

const load0 = loadavg()[0]!;
const probe0 = await probeCores();
log(`single session, 1 thread, ${durationMs / 2000} s ...`);
const s1 = await single(durationMs / 2);
log(`pool, ${workers} workers, ${durationMs / 1000} s ...`);
const pr = await pool(durationMs);
log(`single session again, ${durationMs / 2000} s ...`);
const s2 = await single(durationMs / 2);
const singleFps = (s1.fps + s2.fps) / 2;
const singleCores = (s1.cores + s2.cores) / 2;
// Side by side: each precision twice, interleaved, so a change in the machine's load hits both.
const side: Record<string, { fps: number[]; cores: number[] }> = {};
if (precisions.length > 1) {
  for (let round = 0; round < 2; round++) {
    for (const p of precisions) {
      log(`pool ${p}, round ${round + 1}, ${durationMs / 2000} s ...`);
      const r = await pool(durationMs / 2, optionsFor(p));
      (side[p] ??= { fps: [], cores: [] }).fps.push(r.fps);
      side[p]!.cores.push(r.cores);
    }
  }
}
const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
const sideBySide = precisions.length > 1 ? {
  fp32_pool_fps: side['fp32']!.fps.map((v) => round(v, 2)),
  int8_pool_fps: side['int8']!.fps.map((v) => round(v, 2)),
  fp32_fps_per_core: round(mean(side['fp32']!.fps) / mean(side['fp32']!.cores), 2),
  int8_fps_per_core: round(mean(side['int8']!.fps) / mean(side['int8']!.cores), 2),
  int8_over_fp32: round(mean(side['int8']!.fps) / mean(side['fp32']!.fps), 3),
  int8_over_fp32_per_cpu: round((mean(side['int8']!.fps) / mean(side['int8']!.cores)) / (mean(side['fp32']!.fps) / mean(side['fp32']!.cores)), 3),
} : undefined;
const g = await gating();
const probe1 = await probeCores();

const result = {
  bench: 'detector-pool',
  workers,
  pool_fps: round(pr.fps, 2),
  single_fps: round(singleFps, 2),
  single_fps_before_after: [round(s1.fps, 2), round(s2.fps, 2)],
  efficiency: round(pr.fps / (workers * singleFps), 3),
  // What the process got from a shared machine: CPU cores used (all threads) per phase, and the
  // efficiency per CPU-second, which other tenants' load does not skew.
  pool_cpu_cores: round(pr.cores, 2),
  single_cpu_cores: round(singleCores, 2),
  cpu_normalised_efficiency: round((pr.fps / pr.cores) / (singleFps / singleCores), 3),
  // Cores that `workers` plain busy threads got before and after: below `workers`, the machine was busy.
  probe_cores_before_after: [round(probe0, 2), round(probe1, 2)],
  p50_ms: pr.p50,
  p99_ms: pr.p99,
  gating_saved_pct: round((100 * g.saved) / Math.max(1, g.samples), 1),
  gating_samples: g.samples,
  gating_sample_fps: Number(args['gate-fps']),
  frames: frames.length,
  frame_size: `${frames[0]!.width}x${frames[0]!.height}`,
  model: options.name,
  precision: precisions.length > 1 ? 'both' : precisions[0],
  precision_side_by_side: sideBySide,
  duration_s: durationMs / 1000,
  machine: { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', memory_gib: round(totalmem() / 2 ** 30, 1), loadavg_start: round(load0, 2), loadavg_end: round(loadavg()[0]!, 2) },
  commit: (() => { try { return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim(); } catch { return 'unknown'; } })(),
  node: process.version,
  at: new Date().toISOString(),
};
mkdirSync('benchmarks/results', { recursive: true });
writeFileSync('benchmarks/results/detector-pool.json', `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(result)}\n`);

function round(v: number, d: number): number {
  const k = 10 ** d;
  return Math.round(v * k) / k;
}
