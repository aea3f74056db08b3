import { createHash } from 'node:crypto';
import type { Detection } from '../types.ts';
import { bottomCentre } from './box.ts';
import type { Violation } from './violation.ts';
import { inZone, type CompiledZone } from './zones.ts';

type Box = [number, number, number, number];

/** What every zone rule is given: the model that stamps its violations and how often to update. */
export interface RuleOptions {
  readonly model: { name: string; version: string };
  readonly updateEveryMs: number;
  readonly keepHistory: boolean;
}

/**
 * One zone's rule on one camera (the street-order rules: non-motor parking, shop-front
 * spill-over, mobile vendors, crowds). The dwell stage feeds it every sample of its camera.
 * State is plain data, saved with the dwell state and restored after a restart.
 */
export interface ZoneRuleState {
  readonly zone: CompiledZone;
  observe(t: number, dets: readonly Detection[]): Violation[];
  /** Ends every open violation as of the last sample (end of a replay). */
  flush(): Violation[];
  active(): { zoneId: string; id: string; dwellS: number }[];
  /**
   * Whether a timer runs as of the sample at `t`: something dwells towards a violation, or an
   * open one was not seen then (its leave time runs). Gating before decoding never skips then.
   */
  timing(t: number): boolean;
  snapshot(): unknown;
  restore(saved: unknown): void;
}

export type ZoneRuleFactory = (cameraId: string, zone: CompiledZone, opts: RuleOptions) => ZoneRuleState;

/** A detection the zone counts: good enough, big enough, of a watched class, standing in the zone. */
export function watched(z: CompiledZone, d: Detection, classes: ReadonlySet<string> = z.classes): boolean {
  if (d.score < z.minScore || Math.min(d.box[2], d.box[3]) < z.minBoxPx || !classes.has(d.label)) return false;
  const [x, y] = bottomCentre(d.box);
  return inZone(z, x, y);
}

/** The smallest box holding them all. */
export function unionBox(boxes: readonly (readonly number[])[]): Box {
  let l = Infinity, t = Infinity, r = -Infinity, b = -Infinity;
  for (const x of boxes) {
    l = Math.min(l, x[0]!); t = Math.min(t, x[1]!);
    r = Math.max(r, x[0]! + x[2]!); b = Math.max(b, x[1]! + x[3]!);
  }
  return [l, t, r - l, b - t];
}

/** The class most of them are, ties to the first. */
export function mostCommon(labels: readonly string[]): string {
  const n = new Map<string, number>();
  for (const l of labels) n.set(l, (n.get(l) ?? 0) + 1);
  let best = labels[0] ?? '';
  for (const [l, c] of n) if (c > (n.get(best) ?? 0)) best = l;
  return best;
}

/** Stable over the violation's life and across restarts: camera, zone, rule, start and place. */
export function ruleViolationId(cameraId: string, z: CompiledZone, firstSeenMs: number, at: readonly number[]): string {
  const h = createHash('sha1').update(`${cameraId}|${z.id}|${z.rule}|${firstSeenMs}|${Math.round(at[0]!)}|${Math.round(at[1]!)}`).digest('hex');
  return `vio-${h.slice(0, 16)}`;
}
