import type { Detection } from '../types.ts';
import { bottomCentre, iou } from './box.ts';
import { greedyMatch } from './match.ts';
import { r1, violationStep, type Violation, type ViolationState } from './violation.ts';
import { ruleViolationId, watched, type RuleOptions, type ZoneRuleFactory, type ZoneRuleState } from './zone-rule.ts';
import type { CompiledZone } from './zones.ts';

type Box = [number, number, number, number];

/** A stall followed as it moves. Plain data (persisted). */
interface Vendor {
  cls: string;
  start: [number, number];
  pos: [number, number];
  size: [number, number];
  box: Box;
  firstSeenMs: number;
  lastSeenMs: number;
  samples: number;
  /** Samples with people at the stall, and the most people seen there at once. */
  present: number;
  people: number;
  /** The farthest it has been from where it was first seen, in box sizes. */
  moved: number;
  score: number;
  violation: { id: string; confirmedMs: number; lastUpdateMs: number } | null;
  history?: [number, number, number, number, number][];
}

interface Snapshot { vendors: Vendor[]; cooldowns: { at: [number, number]; reach: number; untilMs: number }[] }

const scaleOf = (size: readonly number[]): number => Math.sqrt(size[0]! * size[1]!);

/**
 * `mobile_vendor` (CJ/T 214 0501 无照经营游商): a stall-like object (cart, tricycle, umbrella,
 * goods) with people at it, followed as it moves (up to `max_step` box sizes between samples).
 * It is a mobile vendor once it has been there `dwell_s` (a minute by default: shorter than a
 * fixed stall's five) with people at it in `presence_ratio` of the samples, and has moved at
 * least `min_move` box sizes from where it was first seen. That is what tells it from
 * `road_vending`: a fixed stall stays at one place (within `position_tolerance`) and long. The
 * violation ends when the stall has been gone `max_gap_s`.
 */
class MobileVendors implements ZoneRuleState {
  readonly zone: CompiledZone;
  readonly #cameraId: string;
  readonly #opts: RuleOptions;
  #vendors: Vendor[] = [];
  #cooldowns: Snapshot['cooldowns'] = [];

  constructor(cameraId: string, zone: CompiledZone, opts: RuleOptions) {
    this.zone = zone;
    this.#cameraId = cameraId;
    this.#opts = opts;
  }

  observe(t: number, dets: readonly Detection[]): Violation[] {
    const z = this.zone;
    const out: Violation[] = [];
    const stalls = dets.filter((d) => watched(z, d, z.stallClasses)).filter((d, i, all) => !all.some((o, j) => j < i && iou(o.box, d.box) >= 0.7));
    const people = dets.filter((d) => watched(z, d));
    const pairs: { v: Vendor; d: Detection; dist: number }[] = [];
    for (const v of this.#vendors) {
      for (const d of stalls) {
        const [x, y] = bottomCentre(d.box);
        const dist = Math.hypot(x - v.pos[0], y - v.pos[1]) / scaleOf(v.size);
        const rw = d.box[2] / v.size[0], rh = d.box[3] / v.size[1];
        if (dist <= z.maxStep && rw > 0.5 && rw < 2 && rh > 0.5 && rh < 2) pairs.push({ v, d, dist });
      }
    }
    const usedD = greedyMatch(pairs, (a, b) => a.dist - b.dist, (p) => p.v, (p) => p.d, (p) => {
      const v = p.v;
      v.pos = bottomCentre(p.d.box);
      v.box = [...p.d.box];
      v.lastSeenMs = t;
      v.moved = Math.max(v.moved, Math.hypot(v.pos[0] - v.start[0], v.pos[1] - v.start[1]) / scaleOf(v.size));
      if (p.d.score >= v.score) (v.score = p.d.score), (v.cls = p.d.label);
      v.history?.push([t, ...p.d.box]);
    });
    for (const d of stalls) {
      if (usedD.has(d)) continue;
      const at = bottomCentre(d.box);
      this.#vendors.push({
        cls: d.label, start: at, pos: at, size: [d.box[2], d.box[3]], box: [...d.box], firstSeenMs: t, lastSeenMs: t, samples: 0, present: 0, people: 0, moved: 0,
        score: d.score, violation: null, ...(this.#opts.keepHistory ? { history: [[t, ...d.box]] } : {}),
      });
    }
    for (const v of [...this.#vendors]) {
      if (t - v.lastSeenMs > z.maxGapMs) {
        this.#vendors.splice(this.#vendors.indexOf(v), 1);
        if (v.violation) {
          out.push(this.#violation(v, 'end'));
          this.#cooldowns.push({ at: v.pos, reach: 2 * scaleOf(v.size), untilMs: v.lastSeenMs + z.cooldownMs });
        }
        continue;
      }
      v.samples++;
      const reach = 2 * Math.max(v.size[0], v.size[1]);
      const near = people.filter((p) => { const [x, y] = bottomCentre(p.box); return Math.hypot(x - v.pos[0], y - v.pos[1]) <= reach + p.box[3]; }).length;
      if (near > 0) v.present++;
      v.people = Math.max(v.people, near);
      if (!v.violation) {
        const cooling = this.#cooldowns.some((c) => c.untilMs > t && Math.hypot(c.at[0] - v.pos[0], c.at[1] - v.pos[1]) <= c.reach);
        if (v.lastSeenMs === t && t - v.firstSeenMs >= z.dwellMs && v.present >= z.presenceRatio * v.samples && v.moved >= z.minMove && !cooling) {
          v.violation = { id: ruleViolationId(this.#cameraId, z, v.firstSeenMs, v.start), confirmedMs: t, lastUpdateMs: t };
          out.push(this.#violation(v, 'new'));
        }
      } else if (v.lastSeenMs === t && t - v.violation.lastUpdateMs >= this.#opts.updateEveryMs) {
        v.violation.lastUpdateMs = t;
        out.push(this.#violation(v, 'update'));
      }
    }
    this.#cooldowns = this.#cooldowns.filter((c) => c.untilMs > t);
    return out;
  }

  #violation(v: Vendor, state: ViolationState): Violation {
    return violationStep({
      id: v.violation!.id, cameraId: this.#cameraId, zoneId: this.zone.id, rule: this.zone.rule, class: v.cls, box: v.box,
      firstSeenMs: v.firstSeenMs, confirmedMs: v.violation!.confirmedMs, lastSeenMs: v.lastSeenMs, score: v.score,
      presenceRatio: Math.round((v.present / Math.max(1, v.samples)) * 1000) / 1000, count: v.people, model: this.#opts.model, history: v.history,
    }, state);
  }

  flush(): Violation[] {
    return this.#vendors.filter((v) => v.violation).map((v) => this.#violation(v, 'end'));
  }

  timing(t: number): boolean {
    return this.#vendors.some((v) => !v.violation || v.lastSeenMs < t);
  }

  active(): { zoneId: string; id: string; dwellS: number }[] {
    return this.#vendors.filter((v) => v.violation).map((v) => ({ zoneId: this.zone.id, id: v.violation!.id, dwellS: r1((v.lastSeenMs - v.firstSeenMs) / 1000) }));
  }

  snapshot(): Snapshot {
    return { vendors: this.#vendors.map(({ history: _h, ...v }) => structuredClone(v)), cooldowns: structuredClone(this.#cooldowns) };
  }

  restore(saved: unknown): void {
    const s = saved as Snapshot | undefined;
    if (!s || !Array.isArray(s.vendors)) return;
    this.#vendors = s.vendors.map((v) => ({ ...v, ...(this.#opts.keepHistory ? { history: [] } : {}) }));
    this.#cooldowns = s.cooldowns ?? [];
  }
}

export const mobileVendor: ZoneRuleFactory = (cameraId, zone, opts) => new MobileVendors(cameraId, zone, opts);
