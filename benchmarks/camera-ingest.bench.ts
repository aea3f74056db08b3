/**
 * Camera ingest at scale: N farm cameras through the in-process RTSP client, sampled every
 * period, beside M of the same cameras in per-camera ffmpeg mode, in one run.
 *
 *   npx tsx benchmarks/camera-ingest.bench.ts --cameras 1000 --duration-s 120 [--ffmpeg-cameras 20]
 *
 * The farm runs in its own process (`gridwatch sim cameras`); its CPU is not counted as ingest.
 * ingest_cpu_cores = this process + its keyframe decoders; ffmpeg mode = its ffmpeg processes.
 * decode_floor: standalone ffmpeg decoding the clip's keyframes with the decoders' options, run
 * after the window on the same machine; ingest_cpu_vs_floor reads the ingest figure against it.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort, silentLogger } from '../core/index.ts';
import { CameraIngest } from '../ingest/index.ts';
import { farmCameraPath } from '../sim/index.ts';
import type { CameraT, IngestT } from '../config/index.ts';
import { measureDecodeFloor } from './lib/decode-floor.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const cameras = arg('cameras', 100);
const durationS = arg('duration-s', 60);
const ffmpegCameras = arg('ffmpeg-cameras', Math.min(cameras, 10));
const periodS = arg('period-s', 10);
const warmupMaxS = arg('warmup-max-s', 40);
const TICK = 100; // USER_HZ on Linux
/** A sample delivered within this long of its due time is on time (the sampler's default). */
const ON_TIME_MS = 2000;

function procTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch { return -1; }
}

function rssMb(pid: number): number {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024; } catch { return 0; }
}

function pssMb(pid: number): number {
  try { return Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024; } catch { return 0; }
}

/** CPU seconds used by a changing set of child processes since `reset()`. */
class ChildCpu {
  #base = new Map<number, number>();
  #last = new Map<number, number>();
  readonly #pids: () => number[];

  constructor(pids: () => number[]) {
    this.#pids = pids;
  }
  reset(): void {
    this.#base.clear(); this.#last.clear();
    for (const p of this.#pids()) { const t = procTicks(p); if (t >= 0) { this.#base.set(p, t); this.#last.set(p, t); } }
  }
  poll(): void {
    for (const p of this.#pids()) {
      const t = procTicks(p);
      if (t < 0) continue;
      if (!this.#base.has(p)) this.#base.set(p, 0); // started inside the window: count all of it
      this.#last.set(p, t);
    }
  }
  seconds(): number {
    let ticks = 0;
    for (const [p, t] of this.#last) ticks += t - (this.#base.get(p) ?? 0);
    return ticks / TICK;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const port = await freePort();
  const dataDir = join(root, 'data');
  // Set-up: the farm (clip encoded once into data/sim), then both ingest modes.
  const farm = spawn(process.execPath, [join(root, 'bin/gridwatch.mjs'), 'sim', 'cameras', '--count', String(cameras), '--port', String(port), '--data-dir', dataDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Interrupted (Ctrl-C, a timeout): the farm goes too, or it streams on with nobody watching.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { if (farm.pid) process.kill(farm.pid, 'SIGTERM'); process.exit(130); });
  try {
    await waitForPort(port, '127.0.0.1', 120_000);
    const config: IngestT = { sample_period_s: periodS, max_connects_in_flight: 64, stall_timeout_s: 10, backoff_initial_ms: 1000, backoff_max_ms: 30_000, frame_width: 416, frame_height: 234, max_frame_width: 1920, max_frame_height: 1080, decode_budget_per_s: 200, decoders_per_codec: arg('decoders', 2), connect_timeout_ms: 5000, gate_before_decode: false };
    const cam = (i: number, type: 'rtsp' | 'ffmpeg'): CameraT => ({ id: `${type}-${farmCameraPath(i)}`, type, url: `rtsp://127.0.0.1:${port}/${farmCameraPath(i)}`, lat: 0, lon: 0, heading_deg: 0, enabled: true, zones: [], detect: { regions: 'whole', max_crops: 0, min_object_px: 12, crop_vehicle_min_score: 0.5, second_opinion: true } });
    const lateness: number[] = [];
    // Where a sample's time goes: waiting for the first keyframe after it is due, then decoding.
    const waits: number[] = [];
    const decodes: number[] = [];
    const late = { keyframe: 0, decode: 0 };
    // Every sample's due time and delivery, from the start: on time is counted over the slots
    // whose deadline falls in the window, the same slots the sampler counts as expected.
    const deliveries: { dueMs: number; atMs: number }[] = [];
    const frameSize = { width: 416, height: 234 };
    const inproc = new CameraIngest({ config, frameSize, log: silentLogger(), onSample: (s) => {
      const now = Date.now();
      deliveries.push({ dueMs: s.dueMs, atMs: now });
      lateness.push(now - s.dueMs);
      waits.push(s.pickedMs - s.dueMs);
      decodes.push(now - s.pickedMs);
      if (now - s.dueMs > ON_TIME_MS) late[s.pickedMs - s.dueMs > 2000 ? 'keyframe' : 'decode']++;
    } });
    const perProc = new CameraIngest({ config, frameSize, log: silentLogger(), onSample: () => undefined });
    await inproc.start();
    await perProc.start();
    await inproc.setCameras(Array.from({ length: cameras }, (_, i) => cam(i, 'rtsp')));
    await perProc.setCameras(Array.from({ length: ffmpegCameras }, (_, i) => cam(i, 'ffmpeg')));

    const streaming = (ing: CameraIngest) => ing.status().cameras.filter((c) => c.state === 'streaming').length;
    const t0 = Date.now();
    while (Date.now() - t0 < warmupMaxS * 1000 && (streaming(inproc) < cameras || streaming(perProc) < ffmpegCameras)) await sleep(500);
    const warmupS = (Date.now() - t0) / 1000;
    await sleep(2000);

    // Measurement window.
    const decCpu = new ChildCpu(() => inproc.pids().decoders);
    const ffCpu = new ChildCpu(() => perProc.pids().ffmpegCameras);
    decCpu.reset(); ffCpu.reset();
    const farmTicks0 = farm.pid ? procTicks(farm.pid) : 0;
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const w0Ms = Date.now();
    const s0 = inproc.sampler.stats(w0Ms);
    lateness.length = 0; waits.length = 0; decodes.length = 0; late.keyframe = 0; late.decode = 0;
    let peakRss = 0;
    let peakDecRss = 0;
    const end = Date.now() + durationS * 1000;
    while (Date.now() < end) {
      await sleep(1000);
      decCpu.poll(); ffCpu.poll();
      peakRss = Math.max(peakRss, process.memoryUsage.rss() / 2 ** 20);
      peakDecRss = Math.max(peakDecRss, inproc.pids().decoders.reduce((n, p) => n + rssMb(p), 0));
    }
    const wallS = (performance.now() - w0) / 1000;
    const farmCores = farm.pid ? (procTicks(farm.pid) - farmTicks0) / TICK / wallS : 0;
    const farmRss = farm.pid ? rssMb(farm.pid) : 0;
    const cpu = process.cpuUsage(cpu0);
    const w1Ms = Date.now();
    const s1 = inproc.sampler.stats(w1Ms);
    const mainCores = (cpu.user + cpu.system) / 1e6 / wallS;
    const decCores = decCpu.seconds() / wallS;
    const ffCores = ffCpu.seconds() / wallS;
    const ffPids = perProc.pids().ffmpegCameras;
    const ffPssMb = ffPids.reduce((n, p) => n + pssMb(p), 0) / Math.max(1, ffPids.length);
    const connected = streaming(inproc);
    const expected = s1.expected - s0.expected;
    const inWindow = deliveries.filter((d) => d.dueMs + ON_TIME_MS > w0Ms && d.dueMs + ON_TIME_MS <= w1Ms);
    const onTime = inWindow.filter((d) => d.atMs <= d.dueMs + ON_TIME_MS).length;
    const ingestCores = mainCores + decCores;
    for (const xs of [lateness, waits, decodes]) xs.sort((a, b) => a - b);
    const pctOf = (xs: number[], q: number) => (xs.length ? Math.round(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!) : null);
    const pct = (q: number) => pctOf(lateness, q);
    const counters = inproc.status().cameras.reduce((a, c) => ({ gaps: a.gaps + c.counters.gaps, dropped: a.dropped + c.counters.droppedAccessUnits, reconnects: a.reconnects + c.counters.reconnects }), { gaps: 0, dropped: 0, reconnects: 0 });
    let commit = 'unknown';
    try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root }).toString().trim(); } catch { /* not a checkout */ }
    const onTimePct = expected > 0 ? Math.round(Math.min(1, onTime / expected) * 1000) / 10 : null;
    const ratio = ffCores > 0 ? Math.round((cameras / ingestCores) / (ffmpegCameras / ffCores) * 10) / 10 : null;
    const result = {
      bench: 'camera-ingest',
      cameras,
      duration_s: Math.round(wallS),
      sample_period_s: periodS,
      connected_pct: Math.round((connected / cameras) * 1000) / 10,
      samples_expected: expected,
      samples_on_time: onTime,
      samples_on_time_pct: onTimePct,
      sample_lateness_ms_p50: pct(0.5),
      sample_lateness_ms_p99: pct(0.99),
      samples_delivered: s1.delivered - s0.delivered,
      sample_keyframe_wait_ms_p50: pctOf(waits, 0.5),
      sample_keyframe_wait_ms_p99: pctOf(waits, 0.99),
      sample_decode_ms_p50: pctOf(decodes, 0.5),
      sample_decode_ms_p99: pctOf(decodes, 0.99),
      samples_late_by_keyframe: late.keyframe,
      samples_late_by_decode: late.decode,
      ingest_cpu_cores: Math.round(ingestCores * 1000) / 1000,
      ingest_main_cpu_cores: Math.round(mainCores * 1000) / 1000,
      decoder_cpu_cores: Math.round(decCores * 1000) / 1000,
      rss_mb: Math.round(peakRss + peakDecRss),
      cameras_per_core: Math.round(cameras / ingestCores),
      ffmpeg_mode_cameras: ffmpegCameras,
      ffmpeg_mode_cpu_cores: Math.round(ffCores * 1000) / 1000,
      ffmpeg_mode_pss_mb_per_camera: Math.round(ffPssMb * 10) / 10,
      ffmpeg_mode_cameras_per_core: ffCores > 0 ? Math.round(ffmpegCameras / ffCores) : null,
      ratio_vs_ffmpeg_mode: ratio,
      // The targets at 1,000 cameras for 120 s on a 2-core machine, each met or not.
      targets: {
        connected_pct_at_least_99: connected / cameras >= 0.99,
        on_time_pct_at_least_98: onTimePct !== null && onTimePct >= 98,
        ingest_under_1_core: ingestCores < 1,
        rss_under_3_gb: peakRss + peakDecRss < 3072,
        ratio_at_least_5: ratio !== null && ratio >= 5,
      },
      gaps: counters.gaps, dropped_access_units: counters.dropped, reconnects: counters.reconnects,
      sampler_dropped: s1.dropped,
      decoders: inproc.status().decoders.map((d) => ({ decoded: d.decoded, flushes: d.flushes, restarts: d.restarts })),
      farm_cpu_cores: Math.round(farmCores * 1000) / 1000,
      farm_rss_mb: Math.round(farmRss),
      load_avg_1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
      warmup_s: Math.round(warmupS),
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version, shared: 'yes: other builds ran on this machine; compare ratios, not absolutes' },
      commit,
      at: new Date().toISOString(),
    };
    await perProc.stop();
    await inproc.stop();
    // The decode floor, measured now that ingest has stopped: the CPU that decoding these samples
    // costs ffmpeg on its own, on this machine, with the decoders' options.
    const floor = await measureDecodeFloor(dataDir, frameSize);
    const floorCores = (result.samples_delivered / wallS) * floor.cpu_ms_per_keyframe / 1000;
    Object.assign(result, {
      decode_floor: {
        ...floor,
        cores_at_this_sample_rate: Math.round(floorCores * 1000) / 1000,
        decoder_cpu_vs_floor: Math.round((decCores / floorCores) * 100) / 100,
        ingest_cpu_vs_floor: Math.round((ingestCores / floorCores) * 100) / 100,
      },
    });
    mkdirSync(join(root, 'benchmarks/results'), { recursive: true });
    writeFileSync(join(root, 'benchmarks/results/camera-ingest.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    if (farm.pid) process.kill(farm.pid, 'SIGTERM');
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
