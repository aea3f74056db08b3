import type { Detection } from '../types.ts';
import { iou } from './box.ts';
import { r1, violationStep, type Violation, type ViolationState } from './violation.ts';
import { ruleViolationId, unionBox, watched, type RuleOptions, type ZoneRuleFactory, type ZoneRuleState } from './zone-rule.ts';
import type { CompiledZone } from './zones.ts';

type Box = [number, number, number, number];

/** The crowd a zone holds now. Plain data (persisted). */
interface Crowd {
  /** When `min_people` were first there together, and last. */
  sinceMs: number;
  lastMs: number;
  samples: number;
  /** Samples with at least `min_people`. */
  full: number;
  /** The most people counted at once, and where they stood then. */
  count: number;
  box: Box;
  score: number;
  violation: { id: string; confirmedMs: number; lastUpdateMs: number } | null;
  history?: [number, number, number, number, number][];
}

interface Snapshot { crowd: Crowd | null; coolUntilMs: number }

/**
 * `crowd_gathering` (人群聚集; under 04 突发事件, 群发性事件 in many local lists): at least
 * `min_people` people in the zone at once, for longer than `dwell_s`, in at least
 * `presence_ratio` of the samples (a count that dips for a sample or two, as detectors miss people
 * in a crowd, goes on). One violation per zone at a time, with the most people counted; it ends
 * when fewer than `min_people` have been there for `leave_s`, and none is raised again in the
 * zone for `cooldown_s`.
 */
class CrowdGathering implements ZoneRuleState {
  readonly zone: CompiledZone;
  readonly #cameraId: string;
  readonly #opts: RuleOptions;
  #crowd: Crowd | null = null;
  #coolUntilMs = -Infinity;

  constructor(cameraId: string, zone: CompiledZone, opts: RuleOptions) {
    this.zone = zone;
    this.#cameraId = cameraId;
    this.#opts = opts;
  }

  observe(t: number, dets: readonly Detection[]): Violation[] {
    const z = this.zone;
    const out: Violation[] = [];
    // One person found twice (overlapping boxes) counts once.
    const people = dets.filter((d) => watched(z, d)).filter((d, i, all) => !all.some((o, j) => j < i && iou(o.box, d.box) >= 0.7));
    const full = people.length >= z.minCount;
    let c = this.#crowd;
    if (c && !full && t - c.lastMs > z.leaveMs) {
      if (c.violation) {
        out.push(this.#violation(c, 'end'));
        this.#coolUntilMs = c.lastMs + z.cooldownMs;
      }
      c = this.#crowd = null;
    }
    if (!c && full) {
      c = this.#crowd = { sinceMs: t, lastMs: t, samples: 0, full: 0, count: 0, box: [0, 0, 0, 0], score: 0, violation: null, ...(this.#opts.keepHistory ? { history: [] } : {}) };
    }
    if (!c) return out;
    c.samples++;
    if (full) {
      c.full++;
      c.lastMs = t;
      const box = unionBox(people.map((p) => p.box));
      if (people.length >= c.count) (c.count = people.length), (c.box = box);
      c.score = Math.max(c.score, people.reduce((s, p) => s + p.score, 0) / people.length);
      c.history?.push([t, ...box]);
    }
    if (!c.violation) {
      if (full && t - c.sinceMs >= z.dwellMs && c.full >= z.presenceRatio * c.samples && t >= this.#coolUntilMs) {
        c.violation = { id: ruleViolationId(this.#cameraId, z, c.sinceMs, [(z.bbox[0] + z.bbox[2]) / 2, z.bbox[3]]), confirmedMs: t, lastUpdateMs: t };
        out.push(this.#violation(c, 'new'));
      }
    } else if (full && t - c.violation.lastUpdateMs >= this.#opts.updateEveryMs) {
      c.violation.lastUpdateMs = t;
      out.push(this.#violation(c, 'update'));
    }
    return out;
  }

  #violation(c: Crowd, state: ViolationState): Violation {
    return violationStep({
      id: c.violation!.id, cameraId: this.#cameraId, zoneId: this.zone.id, rule: this.zone.rule, class: 'person', box: c.box,
      firstSeenMs: c.sinceMs, confirmedMs: c.violation!.confirmedMs, lastSeenMs: c.lastMs, score: Math.round(c.score * 1000) / 1000,
      presenceRatio: Math.round((c.full / Math.max(1, c.samples)) * 1000) / 1000, count: c.count, model: this.#opts.model, history: c.history,
    }, state);
  }

  flush(): Violation[] {
    return this.#crowd?.violation ? [this.#violation(this.#crowd, 'end')] : [];
  }

  timing(t: number): boolean {
    const c = this.#crowd;
    return c !== null && (!c.violation || c.lastMs < t);
  }

  active(): { zoneId: string; id: string; dwellS: number }[] {
    const c = this.#crowd;
    return c?.violation ? [{ zoneId: this.zone.id, id: c.violation.id, dwellS: r1((c.lastMs - c.sinceMs) / 1000) }] : [];
  }

  snapshot(): Snapshot {
    const c = this.#crowd;
    return { crowd: c ? (({ history: _h, ...rest }) => structuredClone(rest))(c) : null, coolUntilMs: Number.isFinite(this.#coolUntilMs) ? this.#coolUntilMs : 0 };
  }

  restore(saved: unknown): void {
    const s = saved as Snapshot | undefined;
    if (!s || typeof s !== 'object') return;
    this.#crowd = s.crowd ? { ...s.crowd, ...(this.#opts.keepHistory ? { history: [] } : {}) } : null;
    this.#coolUntilMs = s.coolUntilMs;
  }
}

export const crowdGathering: ZoneRuleFactory = (cameraId, zone, opts) => new CrowdGathering(cameraId, zone, opts);
