import type { Rule } from './zones.ts';

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
  /** road_vending: share of samples with people at the stall. */
  presenceRatio: number | null;
  /** Filled in by the stage that writes evidence JPEGs. */
  evidence: { annotated: string; clean: string } | null;
  model: { name: string; version: string };
  /** Only with `keepHistory`: [captureTimeMs, left, top, width, height] for each sample it was seen in. */
  boxes?: [number, number, number, number, number][];
}
