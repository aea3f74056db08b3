/**
 * Node capacity: the whole engine (ingest, decoders, gating, detector pool with region crops,
 * rules, events on NATS, telemetry) on N cameras of the demo city, served by the RTSP camera
 * farm with a share of static scenes (a still of the plaza with parked cars) and the rest busy
 * street footage. Per second of the run: samples due, decoded, inferred, gated, dropped (by
 * reason), capture → event p50/p99 of the violations, CPU cores and RSS of the engine, its ffmpeg
 * decoders and nats-server. The figures are the engine's own: the sampler's stats(), the
 * decoders' and detector pool's status(), the metrics registry; CPU and RSS from /proc.
 *
 * Side by side in the same run: the same cameras and window with the engine's detector
 * settings at their defaults (or --precision), then with fp32, the square input only and gating off
 * (detectors.gate_threshold 0, ingest.gate_before_decode false), the way the engine ran before
 * issue 20.
 *
 *   npx tsx benchmarks/node-capacity.bench.ts --cameras 1000 --duration-s 180 [--static-share 0.5]
 *     [--precision default|fp32|int8] [--gating default|off] [--region-model default|yolov5s] [--second-opinion on|off] [--dwell-s 30] [--warmup-max-s 90] [--no-baseline] [--cpu-prof DIR]
 *   npx tsx benchmarks/node-capacity.bench.ts --sweep 200,400,600 --static-share 0 --duration-s 180
 *     (the measured run alone at each count, smallest first, until one misses a target: the
 *     largest count that meets them all is the sizing figure)
 *
 * Each engine runs in a process of its own (benchmarks/lib/capacity-engine.ts), the farm in
 * another (`gridwatch sim cameras`), so neither the farm nor the observer is counted. The last
 * stdout line is one JSON object.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitForPort } from '../core/index.ts';
import { generateCity, assignScenes } from '../sim/index.ts';
import { tempDir } from '../test/harness.ts';
import { runEngine } from './lib/capacity-run.ts';
import { summarise, TARGETS, type RunSummary } from './lib/capacity-summary.ts';

const root = join(import.meta.dirname, '..');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: expected a number >= 0, got ${process.argv[i + 1]}`);
  return v;
}
function word<T extends string>(name: string, allowed: readonly T[], def: T): T {
  const i = process.argv.indexOf(`--${name}`);
  const v = (i >= 0 ? process.argv[i + 1] : def) as T;
  if (!allowed.includes(v)) throw new Error(`--${name}: expected one of ${allowed.join(', ')}, got ${v}`);
  return v;
}

const durationS = arg('duration-s', 60);
const staticShare = arg('static-share', 0.5);
const precision = word('precision', ['default', 'fp32', 'int8'] as const, 'default');
const gating = word('gating', ['default', 'off'] as const, 'default');
// --region-model yolov5s: the cameras (all region cameras, `detect.regions` auto) run on the built-in YOLOv5s (detectors.region_model).
const regionModel = word('region-model', ['default', 'yolov5s'] as const, 'default');
// --second-opinion off: region crops that show nothing get no second opinion from NanoDet-g (camera `detect.second_opinion`).
const secondOpinion = word('second-opinion', ['on', 'off'] as const, 'on');
const dwellS = arg('dwell-s', 30);
const warmupMaxS = arg('warmup-max-s', 90);
const baseline = !process.argv.includes('--no-baseline');
// --cpu-prof DIR: a CPU profile of each engine host (main thread and detector workers), for `--cpu-prof` viewers.
const cpuProfAt = process.argv.indexOf('--cpu-prof');
const cpuProfDir = cpuProfAt >= 0 ? process.argv[cpuProfAt + 1] : undefined;
if (cpuProfAt >= 0 && (!cpuProfDir || cpuProfDir.startsWith('--'))) throw new Error('--cpu-prof: expected a folder for the profiles');
// --sweep 200,300,400: the default run alone at each count, smallest first, until one misses a target.
const sweepAt = process.argv.indexOf('--sweep');
const sweep = sweepAt >= 0 ? (process.argv[sweepAt + 1] ?? '').split(',').map(Number).sort((a, b) => a - b) : [];
if (sweep.some((n) => !Number.isInteger(n) || n < 1) || (sweepAt >= 0 && !sweep.length) || sweep.length > 20) throw new Error('--sweep: expected up to 20 camera counts, e.g. 200,300,400');
const cameras = sweep.length ? sweep.at(-1)! : Math.round(arg('cameras', 20));
if (cameras < 1 || durationS < 1) throw new Error('--cameras and --duration-s must be at least 1');
if (staticShare > 1) throw new Error('--static-share: expected a share within 0..1');

// Set-up: the demo city on free ports; zones' dwell shortened so that violations come within the run.
const dir = tempDir('gw-capacity-');
const farmPort = await freePort();
const raw = generateCity({ cameras, terminals: 0, cameraFarmPort: farmPort }) as Record<string, any>;
const allIds: string[] = raw.cameras.map((c: { id: string }) => c.id);
const staticIds = new Set(assignScenes(allIds.map((path) => ({ path })), staticShare).filter((c) => c.scene === 'static').map((c) => c.path));
for (const c of raw.cameras) for (const z of c.zones) z.dwell_s = dwellS;
if (secondOpinion === 'off') for (const c of raw.cameras) c.detect = { ...c.detect, second_opinion: false };
/** Detector and ingest settings of one run; the engine's defaults for whatever is left out. */
type Settings = { detectors: Record<string, unknown>; ingest: Record<string, unknown> };
/** Both gates off: the pixel gate before inference, and the P-frame gate before decoding. */
const GATING_OFF: Settings = { detectors: { gate_threshold: 0 }, ingest: { gate_before_decode: false } };
/** A city file with the first `n` cameras and these settings, on its own ports and data folder. */
const cityFile = async (name: string, n: number, settings: Settings): Promise<string> => {
  // The models converted and quantised at set-up (data/models), linked, not converted again per run.
  mkdirSync(join(dir, name), { recursive: true });
  if (existsSync(join(root, 'data', 'models'))) symlinkSync(join(root, 'data', 'models'), join(dir, name, 'models'));
  const city = { ...raw, cameras: raw.cameras.slice(0, n), services: { data_dir: join(dir, name), http: { host: '127.0.0.1', port: await freePort() }, mqtt: { port: await freePort() } }, ...settings };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(city));
  return file;
};
// The measured run: the engine's defaults, but for what --precision and --gating set.
const defaults: Settings = {
  detectors: {
    ...(precision === 'default' ? {} : { model: { precision } }), ...(gating === 'off' ? GATING_OFF.detectors : {}),
    ...(regionModel === 'yolov5s' ? { region_model: { type: 'yolov5', ...(precision === 'default' ? {} : { precision }) } } : {}),
  },
  ingest: gating === 'off' ? GATING_OFF.ingest : {},
};
const farmCity = await cityFile('farm', cameras, { detectors: {}, ingest: {} });

// The farm serves the city's cameras, with their credentials, from its own process.
const farm = spawn(process.execPath, [join(root, 'bin/gridwatch.mjs'), 'sim', 'cameras', '--city', farmCity, '--port', String(farmPort), '--static-share', String(staticShare), '--data-dir', join(root, 'data')], { stdio: ['ignore', 'ignore', 'inherit'] });
const stopFarm = () => { if (farm.exitCode === null && farm.pid) process.kill(farm.pid, 'SIGTERM'); };
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { stopFarm(); process.exit(130); });

type Run = { label: string; summary: RunSummary; per_second: unknown[] };
async function measure(label: string, n: number, settings: Settings): Promise<Run> {
  const cameraIds = allIds.slice(0, n);
  const r = await runEngine({ cityFile: await cityFile(`${label}-${n}`, n, settings), label: `${label} ${n}`, cameraIds, durationS, warmupMaxS, cpuProfDir });
  return { label, summary: summarise(r, staticIds, cameraIds), per_second: r.rows };
}

const runs: Run[] = [];
const swept: Run[] = [];
try {
  await waitForPort(farmPort, '127.0.0.1', 120_000);
  process.stderr.write(`farm: ${cameras} cameras (${staticIds.size} static) on port ${farmPort}; city files in ${dir}\n`);
  if (sweep.length) {
    for (const n of sweep) {
      const run = await measure('default', n, defaults);
      swept.push(run);
      if (!run.summary.targets.all) break;
    }
  } else {
    runs.push(await measure('default', cameras, defaults));
    if (baseline) runs.push(await measure('baseline', cameras, { detectors: { model: { precision: 'fp32', wide_input: false }, ...GATING_OFF.detectors }, ingest: GATING_OFF.ingest }));
  }
} finally {
  stopFarm();
  rmSync(dir, { recursive: true, force: true });
}

const ratio = (x: number | null | undefined, y: number | null | undefined) => (x != null && y ? Math.round((x / y) * 1000) / 1000 : null);
const headline = (s: RunSummary, n: number) => ({
  sample_period_s: s.sample_period_s, reverify_s: s.reverify_s, precision: s.precision, region_model: regionModel, second_opinion: regionModel === 'yolov5s' ? secondOpinion : null, gate_threshold: s.gate_threshold, gate_before_decode: s.gate_before_decode,
  samples_due: s.samples_due, samples_decoded: s.samples_decoded, samples_inferred: s.samples_inferred, samples_gated: s.samples_gated, samples_gated_before_decode: s.samples_gated_before_decode,
  gated_pct: s.gated_pct, inferences_per_sample: s.inferences_per_sample, dropped_pct: s.dropped_pct, on_time_pct: s.on_time_pct,
  violations: s.violations, capture_to_event_p50_ms: s.capture_to_event_p50_ms, capture_to_event_p99_ms: s.capture_to_event_p99_ms,
  cores_total: s.cores.total, cores_engine: s.cores.engine, cores_decoders: s.cores.decoders, cores_nats: s.cores.nats, rss_mb_peak: s.rss_mb_peak.total, stop_s: s.stop_s, stop_slowest: s.stop_slowest,
  max_inference_gap_s: s.max_inference_gap_s, cameras_per_core: s.cores.total > 0 ? Math.round(n / s.cores.total) : null,
  meets_cores: s.targets.cores, meets_dropped: s.targets.dropped, meets_p99: s.targets.capture_to_event_p99, meets_rss: s.targets.rss, meets_reverify: s.targets.reverify, meets_targets: s.targets.all,
});
const common = { bench: 'node-capacity', static_share: staticShare, duration_s: durationS, dwell_s: dwellS };
let result: Record<string, unknown>;
if (sweep.length) {
  // The sweep stops at the first count that misses a target, so every run before it met them all.
  const passed = swept.filter((r) => r.summary.targets.all).length;
  const largest = passed ? sweep[passed - 1]! : null;
  result = {
    ...common, sweep: sweep.join(','), largest_meeting_targets: largest,
    ...(largest !== null ? headline(swept[passed - 1]!.summary, largest) : {}),
    targets: TARGETS,
    runs: Object.fromEntries(swept.map((r, i) => [`cameras_${sweep[i]}`, { ...r.summary, per_second: r.per_second }])),
  };
} else {
  const d = runs[0]!.summary, b = runs[1]?.summary;
  result = {
    ...common, cameras, static_cameras: allIds.filter((id) => staticIds.has(id)).length, ...headline(d, cameras),
    ...(b ? {
      baseline_precision: b.precision, baseline_gate_threshold: b.gate_threshold, baseline_gate_before_decode: b.gate_before_decode, baseline_samples_inferred: b.samples_inferred, baseline_dropped_pct: b.dropped_pct,
      baseline_capture_to_event_p99_ms: b.capture_to_event_p99_ms, baseline_cores_total: b.cores.total, baseline_rss_mb_peak: b.rss_mb_peak.total, baseline_meets_targets: b.targets.all,
      cores_vs_baseline: ratio(d.cores.total, b.cores.total), inferred_vs_baseline: ratio(d.samples_inferred, b.samples_inferred),
    } : {}),
    targets: TARGETS,
    runs: Object.fromEntries(runs.map((r) => [r.label, { ...r.summary, per_second: r.per_second }])),
  };
}
console.log(JSON.stringify(result));
process.exit(0);
