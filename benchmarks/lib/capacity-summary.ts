/**
 * The node-capacity benchmark's figures for one run, from the engine's counters at the start
 * and end of the window, and the targets judged on them.
 */
import { PROC_KINDS, type ProcKind } from './proc-tree.ts';
import { quantile, sampleDrops, type RunResult } from './capacity-run.ts';

/** Issue 20's targets for one node: all of gridwatch's processes together. */
export const TARGETS = { cores: 1.9, droppedPct: 1, captureToEventP99Ms: 5000, rssMb: 3 * 1024 } as const;

const r2 = (v: number) => Math.round(v * 100) / 100;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

export interface RunSummary {
  precision: string;
  gate_threshold: number;
  gate_before_decode: boolean;
  sample_period_s: number;
  reverify_s: number;
  engine_start_ms: number;
  warmup_s: number;
  /** The engine's stop after the run, s, and its slowest components (null: killed after 60 s). */
  stop_s: number | null;
  stop_slowest: { component: string; ms: number }[];
  window_s: number;
  cameras_streaming: number;
  samples_due: number;
  samples_decoded: number;
  samples_inferred: number;
  inferences: number;
  inferences_per_sample: number | null;
  samples_gated: number;
  samples_gated_before_decode: number;
  gated_pct: number | null;
  samples_dropped: number;
  dropped_by_reason: Record<string, number>;
  dropped_pct: number | null;
  on_time_pct: number | null;
  /** Samples inferred per camera per minute, by scene. */
  inferred_per_camera_min: { busy: number | null; static: number | null };
  violations: number;
  capture_to_event_p50_ms: number | null;
  capture_to_event_p99_ms: number | null;
  cores: Record<ProcKind, number> & { total: number };
  rss_mb_peak: Record<ProcKind, number> & { total: number };
  /** Processes counted as `other` at the end of the window, by name. */
  other_processes: string[];
  /** The longest time any camera went without an inference (window edges count), s. */
  max_inference_gap_s: number;
  /** reverify_s + sample_period_s + 1 s of reading: a gated camera is re-checked at its first sample reverify_s after the last. */
  inference_gap_limit_s: number;
  cameras_over_gap_limit: number;
  cameras_over_gap_limit_by_scene: { busy: number; static: number };
  targets: { cores: boolean; dropped: boolean; capture_to_event_p99: boolean; rss: boolean; reverify: boolean; all: boolean; unmeasured: string[] };
}

export function summarise(r: RunResult, staticIds: ReadonlySet<string>, cameraIds: readonly string[]): RunSummary {
  const a = r.first, b = r.last;
  const due = b.due - a.due, delivered = b.delivered - a.delivered;
  const inferred = b.pool.inferred - a.pool.inferred, inferences = b.pool.inferences - a.pool.inferences;
  const gatedBefore = b.gatedBeforeDecode - a.gatedBeforeDecode;
  const gated = b.pool.gated - a.pool.gated + gatedBefore;
  const offered = b.pool.received - a.pool.received + gatedBefore;
  const d0 = sampleDrops(a), d1 = sampleDrops(b);
  const droppedBy: Record<string, number> = {};
  for (const [k, v] of Object.entries(d1)) if (v - (d0[k] ?? 0) > 0) droppedBy[k] = v - (d0[k] ?? 0);
  const dropped = Object.values(droppedBy).reduce((x, y) => x + y, 0);
  const perScene = (scene: 'busy' | 'static'): number | null => {
    const ids = cameraIds.filter((id) => staticIds.has(id) === (scene === 'static'));
    if (!ids.length || r.wallS <= 0) return null;
    const n = ids.reduce((x, id) => x + (b.inferredByCamera[id] ?? 0) - (a.inferredByCamera[id] ?? 0), 0);
    return r2((n / ids.length) * (60 / r.wallS));
  };
  const cores = Object.fromEntries(PROC_KINDS.map((k) => [k, r3(r.tree.cpuS[k] / r.wallS)])) as Record<ProcKind, number>;
  const coresTotal = r3(PROC_KINDS.reduce((x, k) => x + r.tree.cpuS[k] / r.wallS, 0));
  const peak = Object.fromEntries(PROC_KINDS.map((k) => [k, Math.max(0, ...r.rows.map((row) => row.rss_mb[k]))])) as Record<ProcKind, number>;
  const peakTotal = Math.max(0, ...r.rows.map((row) => PROC_KINDS.reduce((x, k) => x + row.rss_mb[k], 0)));
  const p50 = quantile(r.captureToEventMs, 0.5), p99 = quantile(r.captureToEventMs, 0.99);
  const gaps = cameraIds.map((id) => r.maxGapS[id] ?? r.wallS);
  const limit = b.reverifyS + b.samplePeriodS + 1;
  const over = gaps.filter((g) => g > limit).length;
  const overStatic = cameraIds.filter((id, i) => staticIds.has(id) && gaps[i]! > limit).length;
  const unmeasured: string[] = [];
  if (p99 === null) unmeasured.push('capture_to_event_p99: no violation in the window (run longer than the zones\' dwell)');
  if (r.wallS < limit) unmeasured.push(`reverify: the window (${Math.round(r.wallS)} s) is shorter than reverify_s + sample_period_s (${limit - 1} s)`);
  const droppedPct = due > 0 ? r3((dropped / due) * 100) : null;
  const t = {
    cores: coresTotal <= TARGETS.cores,
    dropped: droppedPct !== null && droppedPct <= TARGETS.droppedPct,
    capture_to_event_p99: p99 !== null && p99 <= TARGETS.captureToEventP99Ms,
    rss: peakTotal <= TARGETS.rssMb,
    reverify: r.wallS >= limit && over === 0,
  };
  return {
    precision: b.precision, gate_threshold: b.gateThreshold, gate_before_decode: b.gateBeforeDecode, sample_period_s: b.samplePeriodS, reverify_s: b.reverifyS, engine_start_ms: r.engineStartMs, warmup_s: r.warmupS, stop_s: r.stop ? Math.round(r.stop.ms / 100) / 10 : null, stop_slowest: r.stop ? [...r.stop.steps].sort((a, b) => b.ms - a.ms).slice(0, 3) : [], window_s: Math.round(r.wallS * 10) / 10,
    cameras_streaming: b.streaming,
    samples_due: due, samples_decoded: b.decoded - a.decoded, samples_inferred: inferred, inferences,
    inferences_per_sample: inferred > 0 ? r3(inferences / inferred) : null,
    samples_gated: gated, samples_gated_before_decode: gatedBefore, gated_pct: offered > 0 ? r2((gated / offered) * 100) : null,
    samples_dropped: dropped, dropped_by_reason: droppedBy, dropped_pct: droppedPct,
    on_time_pct: delivered > 0 ? r2(((b.onTime - a.onTime) / delivered) * 100) : null,
    inferred_per_camera_min: { busy: perScene('busy'), static: perScene('static') },
    violations: r.captureToEventMs.length, capture_to_event_p50_ms: p50, capture_to_event_p99_ms: p99,
    cores: { ...cores, total: coresTotal }, rss_mb_peak: { ...peak, total: peakTotal }, other_processes: r.tree.otherNames,
    max_inference_gap_s: Math.max(0, ...gaps), inference_gap_limit_s: limit, cameras_over_gap_limit: over,
    cameras_over_gap_limit_by_scene: { busy: over - overStatic, static: overStatic },
    targets: { ...t, all: Object.values(t).every(Boolean), unmeasured },
  };
}
