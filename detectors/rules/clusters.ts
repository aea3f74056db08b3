import type { Detection } from '../types.ts';
import { bottomCentre, iou } from './box.ts';
import { HeldObjects, type Held, type HeldSnapshot } from './held-objects.ts';
import { r1, violationStep, type Violation, type ViolationState } from './violation.ts';
import { mostCommon, ruleViolationId, unionBox, type RuleOptions, type ZoneRuleState } from './zone-rule.ts';
import type { CompiledZone } from './zones.ts';

type Box = [number, number, number, number];

/** A cluster of held objects that is a violation. Plain data (persisted). */
interface OpenCluster {
  id: string;
  /** Ids of the held objects it had at its last sighting. */
  members: number[];
  firstSeenMs: number;
  confirmedMs: number;
  lastSeenMs: number;
  lastUpdateMs: number;
  box: Box;
  cls: string;
  count: number;
  score: number;
  history?: [number, number, number, number, number][];
}

interface Snapshot { held: HeldSnapshot; open: OpenCluster[]; cooldowns: { box: Box; untilMs: number }[] }

/** A new cluster overlapping an ended one this much within `cooldown_s` is the same place. */
const COOLDOWN_IOU = 0.3;

/** Single-link clusters: objects within `gap` box sizes of one another. */
function clustersOf(objects: readonly Held[], gap: number): Held[][] {
  const parent = objects.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (let i = 0; i < objects.length; i++) {
    for (let j = i + 1; j < objects.length; j++) {
      const a = objects[i]!, b = objects[j]!;
      const reach = gap * Math.max(Math.sqrt(a.size[0] * a.size[1]), Math.sqrt(b.size[0] * b.size[1]));
      if (Math.hypot(a.anchor[0] - b.anchor[0], a.anchor[1] - b.anchor[1]) <= reach) parent[find(i)] = find(j);
    }
  }
  const groups = new Map<number, Held[]>();
  objects.forEach((o, i) => { const r = find(i); groups.set(r, [...(groups.get(r) ?? []), o]); });
  return [...groups.values()];
}

/**
 * Objects left in a zone, counted as clusters: every object that has stayed `dwell_s` joins the
 * others within `cluster_gap` box sizes, and a cluster of at least `min_count` is one violation
 * with its count (a row of ten bicycles is one case of ten). A cluster keeps its violation while
 * any of its objects stays; it ends when none has been seen for `leave_s`.
 * `accept` says which detections the rule watches (class, zone, side of a shop line).
 */
export class HeldClusters implements ZoneRuleState {
  readonly zone: CompiledZone;
  readonly #cameraId: string;
  readonly #opts: RuleOptions;
  readonly #accept: (d: Detection) => boolean;
  readonly #held: HeldObjects;
  #open: OpenCluster[] = [];
  #cooldowns: { box: Box; untilMs: number }[] = [];

  constructor(cameraId: string, zone: CompiledZone, opts: RuleOptions, accept: (d: Detection) => boolean) {
    this.zone = zone;
    this.#cameraId = cameraId;
    this.#opts = opts;
    this.#accept = accept;
    this.#held = new HeldObjects(zone);
  }

  observe(t: number, dets: readonly Detection[]): Violation[] {
    const z = this.zone;
    const out: Violation[] = [];
    this.#held.update(t, dets.filter(this.#accept));
    const present = this.#held.dwelt().filter((h) => h.lastSeenMs === t || t - h.lastSeenMs <= z.maxGapMs);
    const matched = new Set<OpenCluster>();
    for (const members of clustersOf(present, z.clusterGap)) {
      if (members.length < z.minCount) continue;
      const ids = members.map((m) => m.id);
      const box = unionBox(members.map((m) => m.box));
      const open = this.#open.find((o) => !matched.has(o) && o.members.some((id) => ids.includes(id)));
      if (open) {
        matched.add(open);
        Object.assign(open, { members: ids, box, count: members.length, cls: mostCommon(members.map((m) => m.cls)), score: Math.max(open.score, ...members.map((m) => m.score)) });
        if (members.some((m) => m.lastSeenMs === t)) open.lastSeenMs = t;
        open.history?.push([t, ...box]);
        if (open.lastSeenMs === t && t - open.lastUpdateMs >= this.#opts.updateEveryMs) {
          open.lastUpdateMs = t;
          out.push(this.#violation(open, 'update'));
        }
        continue;
      }
      if (this.#cooldowns.some((c) => c.untilMs > t && iou(c.box, box) >= COOLDOWN_IOU)) continue;
      const firstSeenMs = Math.min(...members.map((m) => m.firstSeenMs));
      const fresh: OpenCluster = {
        id: ruleViolationId(this.#cameraId, z, firstSeenMs, bottomCentre(box)), members: ids, firstSeenMs, confirmedMs: t, lastSeenMs: t, lastUpdateMs: t,
        box, cls: mostCommon(members.map((m) => m.cls)), count: members.length, score: Math.max(...members.map((m) => m.score)),
        ...(this.#opts.keepHistory ? { history: [[t, ...box] as [number, number, number, number, number]] } : {}),
      };
      this.#open.push(fresh);
      matched.add(fresh);
      out.push(this.#violation(fresh, 'new'));
    }
    for (const o of [...this.#open]) {
      if (matched.has(o) || t - o.lastSeenMs <= z.leaveMs) continue;
      this.#open.splice(this.#open.indexOf(o), 1);
      out.push(this.#violation(o, 'end'));
      this.#cooldowns.push({ box: o.box, untilMs: o.lastSeenMs + z.cooldownMs });
    }
    this.#cooldowns = this.#cooldowns.filter((c) => c.untilMs > t);
    return out;
  }

  #violation(o: OpenCluster, state: ViolationState): Violation {
    return violationStep({
      id: o.id, cameraId: this.#cameraId, zoneId: this.zone.id, rule: this.zone.rule, class: o.cls, box: o.box,
      firstSeenMs: o.firstSeenMs, confirmedMs: o.confirmedMs, lastSeenMs: o.lastSeenMs, score: o.score, presenceRatio: null,
      count: o.count, model: this.#opts.model, history: o.history,
    }, state);
  }

  flush(): Violation[] {
    return this.#open.map((o) => this.#violation(o, 'end'));
  }

  timing(t: number): boolean {
    const inOpen = new Set(this.#open.flatMap((o) => o.members));
    return this.#open.some((o) => o.lastSeenMs < t) || this.#held.size > inOpen.size;
  }

  active(): { zoneId: string; id: string; dwellS: number }[] {
    return this.#open.map((o) => ({ zoneId: this.zone.id, id: o.id, dwellS: r1((o.lastSeenMs - o.firstSeenMs) / 1000) }));
  }

  snapshot(): Snapshot {
    return { held: this.#held.snapshot(), open: this.#open.map(({ history: _h, ...o }) => structuredClone(o)), cooldowns: structuredClone(this.#cooldowns) };
  }

  restore(saved: unknown): void {
    const s = saved as Snapshot | undefined;
    if (!s || !Array.isArray(s.open)) return;
    this.#held.restore(s.held);
    this.#open = s.open.map((o) => ({ ...o, ...(this.#opts.keepHistory ? { history: [] } : {}) }));
    this.#cooldowns = s.cooldowns ?? [];
  }
}
