import type { Detection } from '../types.ts';
import { bottomCentre, iou } from './box.ts';
import { greedyMatch } from './match.ts';
import type { CompiledZone } from './zones.ts';

type Box = [number, number, number, number];

/** An object held at one place: its position is locked when first seen. Plain data (persisted). */
export interface Held {
  id: number;
  cls: string;
  anchor: [number, number];
  size: [number, number];
  box: Box;
  firstSeenMs: number;
  lastSeenMs: number;
  samples: number;
  seen: number;
  score: number;
}

export interface HeldSnapshot { next: number; objects: Held[] }

/** Boxes overlapping this much are one object found as two classes (a bicycle and a motorcycle). */
const SAME_OBJECT_IOU = 0.7;
/** Samples before an object seen too rarely (traffic over one place) is dropped. */
const JUDGE_AFTER = 5;

/**
 * Objects that stay where they are, one zone's worth: a detection joins the object whose locked
 * bottom-centre lies within `position_tolerance × sqrt(w·h)` and whose size is alike, so detector
 * misses do not restart the timer. An object unseen for `max_gap_s` has left; one seen in too few
 * of its samples (things passing over one place) is dropped. Times are capture times.
 */
export class HeldObjects {
  #objects: Held[] = [];
  #next = 1;
  readonly #z: CompiledZone;

  constructor(zone: CompiledZone) {
    this.#z = zone;
  }

  /** This sample's detections, already filtered to what the rule watches, where it watches. */
  update(t: number, dets: readonly Detection[]): void {
    const z = this.#z;
    const objs = dets.filter((d, i) => !dets.some((o, j) => j !== i && iou(o.box, d.box) >= SAME_OBJECT_IOU && (o.score > d.score || (o.score === d.score && j < i))));
    const pairs: { h: Held; d: Detection; dist: number }[] = [];
    for (const h of this.#objects) {
      const scale = Math.sqrt(h.size[0] * h.size[1]);
      for (const d of objs) {
        const [x, y] = bottomCentre(d.box);
        const dist = Math.hypot(x - h.anchor[0], y - h.anchor[1]) / scale;
        const rw = d.box[2] / h.size[0], rh = d.box[3] / h.size[1];
        if (dist <= z.tolerance && rw > 0.6 && rw < 1.67 && rh > 0.6 && rh < 1.67) pairs.push({ h, d, dist });
      }
    }
    const usedD = greedyMatch(pairs, (a, b) => a.dist - b.dist, (p) => p.h, (p) => p.d, (p) => {
      p.h.lastSeenMs = t;
      p.h.box = [...p.d.box];
      p.h.seen++;
      if (p.d.score >= p.h.score) (p.h.score = p.d.score), (p.h.cls = p.d.label);
    });
    for (const h of this.#objects) h.samples++;
    for (const d of objs) {
      if (usedD.has(d)) continue;
      this.#objects.push({ id: this.#next++, cls: d.label, anchor: bottomCentre(d.box), size: [d.box[2], d.box[3]], box: [...d.box], firstSeenMs: t, lastSeenMs: t, samples: 1, seen: 1, score: d.score });
    }
    this.#objects = this.#objects.filter((h) => t - h.lastSeenMs <= z.maxGapMs && !(h.samples >= JUDGE_AFTER && h.seen < 0.5 * z.seenRatio * h.samples));
  }

  /** Objects held now, dwelt or not. */
  get size(): number {
    return this.#objects.length;
  }

  /** Objects there for `dwell_s` and seen in at least `seen_ratio` of their samples. */
  dwelt(): Held[] {
    const z = this.#z;
    return this.#objects.filter((h) => h.lastSeenMs - h.firstSeenMs >= z.dwellMs && h.seen >= z.seenRatio * h.samples);
  }

  snapshot(): HeldSnapshot {
    return { next: this.#next, objects: structuredClone(this.#objects) };
  }

  restore(s: HeldSnapshot | undefined): void {
    if (!s || !Array.isArray(s.objects)) return;
    this.#objects = structuredClone(s.objects);
    this.#next = s.next;
  }
}
