import type { Rule } from './zones.ts';
import { bottomCentre } from './box.ts';

/** Rounds to one decimal, for the seconds and pixels a violation reports. */
export const r1 = (v: number): number => Math.round(v * 10) / 10;

export type ViolationState = 'new' | 'update' | 'end';

/** One lifecycle step of a violation; the router turns it into an event. */
export interface Violation {
  /** Stable over the violation's life and across engine restarts. */
  id: string;
  state: ViolationState;
  cameraId: string;
  zoneId: string;
  rule: Rule;
  /** The vehicle's class (illegal_parking) or the stall object's class (road_vending). */
  class: string;
  /** [left, top, width, height] in image pixels, last seen. */
  box: [number, number, number, number];
  /** Bottom-centre of the box, the point placed in the zone. */
  point: [number, number];
  firstSeenMs: number;
  confirmedMs: number;
  lastSeenMs: number;
  /** Set on `end`: the last capture time it was seen. */
  endedMs: number | null;
  dwellS: number;
  score: number;
  /** road_vending, mobile_vendor: share of samples with people at the stall; crowd_gathering: with min_people. */
  presenceRatio: number | null;
  /** How many: bicycles in the cluster, objects spilled out, people in the crowd or at the stall; null for one object. */
  count: number | null;
  /** Filled in by the stage that writes evidence JPEGs. */
  evidence: { annotated: string; clean: string } | null;
  model: { name: string; version: string };
  /** Only with `keepHistory`: [captureTimeMs, left, top, width, height] for each sample it was seen in. */
  boxes?: [number, number, number, number, number][];
}

/** What a rule knows of one tracked violation; `violationStep` makes the step it reports. */
export interface ViolationFacts {
  readonly id: string;
  readonly cameraId: string;
  readonly zoneId: string;
  readonly rule: Rule;
  readonly class: string;
  readonly box: readonly [number, number, number, number];
  readonly firstSeenMs: number;
  readonly confirmedMs: number;
  readonly lastSeenMs: number;
  readonly score: number;
  readonly presenceRatio: number | null;
  readonly count?: number | null;
  readonly model: { name: string; version: string };
  readonly history?: readonly (readonly [number, number, number, number, number])[] | null | undefined;
}

/** One lifecycle step of a violation, the same shape from every rule. */
export function violationStep(f: ViolationFacts, state: ViolationState): Violation {
  return {
    id: f.id,
    state,
    cameraId: f.cameraId,
    zoneId: f.zoneId,
    rule: f.rule,
    class: f.class,
    box: [...f.box],
    point: bottomCentre(f.box).map(r1) as [number, number],
    firstSeenMs: f.firstSeenMs,
    confirmedMs: f.confirmedMs,
    lastSeenMs: f.lastSeenMs,
    endedMs: state === 'end' ? f.lastSeenMs : null,
    dwellS: r1((f.lastSeenMs - f.firstSeenMs) / 1000),
    score: f.score,
    presenceRatio: f.presenceRatio,
    count: f.count ?? null,
    evidence: null,
    model: f.model,
    ...(f.history ? { boxes: f.history.map((h) => [...h] as [number, number, number, number, number]) } : {}),
  };
}
