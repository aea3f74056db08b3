import { createHash } from 'node:crypto';
import type { Detection } from '../types.ts';
import { homographyGround, PerspectiveFit, type GroundModel } from './ground.ts';
import { bottomCentre, iou } from './box.ts';
import { greedyMatch } from './match.ts';
import { atPlaceSince, mergeVehicles, VehicleTracker, type VehicleSighting, type VehicleTrack } from './vehicle-tracker.ts';
import { r1, violationStep, type Violation, type ViolationState } from './violation.ts';
import { inZone, type CompiledZone } from './zones.ts';

type Box = [number, number, number, number];

/** A vehicle stopped at one place in a zone. Plain data: it is persisted as JSON. */
export interface Stop {
  zoneId: string;
  /** The track that held it last (0 after a restart: track ids do not survive one). */
  trackId: number;
  /** Where it stands: a running mean of the boxes seen at the spot. */
  box: Box;
  /** The last box seen at the spot. */
  lastBox: Box;
  /** When it stopped: when it reached its spot, or when its speed fell below the zone's limit. */
  sinceMs: number;
  /** When the speed filter became sure the vehicle was under the zone's limit (absent in snapshots before it was kept). */
  sureMs?: number;
  firstAtSpotMs: number;
  lastAtSpotMs: number;
  samples: number;
  seen: number;
  /** Summed score per class: a van seen as car and truck is one vehicle, reported as its likelier class. */
  votes: Record<string, number>;
  score: number;
  violation: { id: string; confirmedMs: number; lastUpdateMs: number } | null;
  /** Samples since `sinceMs` (counted up to PRESENCE_SAMPLES), and those in which it was seen. */
  samplesBefore: number;
  seenBefore: number;
  history?: [number, number, number, number, number][];
}

interface Cooldown {
  zoneId: string;
  box: Box;
  untilMs: number;
}

/** What `StoppedVehicles.snapshot()` returns: enough to keep each violation's id across a restart. */
export interface StoppedSnapshot {
  stops: Stop[];
  cooldowns: Cooldown[];
  lastMs: number;
  intervalMs: number;
  perspective?: number[];
}

export interface StoppedOptions {
  model: { name: string; version: string };
  updateEveryMs: number;
  keepHistory: boolean;
}

/** A box at the spot overlaps the stopped vehicle's own box at least this much. */
const AT_SPOT_IOU = 0.3;
/** Within this share of the frame's width or height of an edge, a box may be cut by it. */
const EDGE_SHARE = 0.02;
/** The speed filter is sure of a stop about this long after the vehicle stood still. */
const FILTER_LAG_MS = 1000;
/**
 * A vehicle seen driving, then slow, is at its spot once within this distance (m) of where it
 * stands, and its stop is dated from then. Braking from the zones' usual 8 km/h at 2 m/s² takes
 * 1.2 m; a crawl (a queue at walking pace) never stays this close to one point for a dwell.
 */
const AT_SPOT_M = 1.5;
/**
 * However early the stop is dated, the filter must have been sure of a low speed this long before
 * a violation: what keeps a vehicle braking for a moment in a queue from being one.
 */
const SURE_FOR_MS = 1000;
/** Samples this far apart are sparse (see `minPresence`). */
const SPARSE_MS = 500;
const SPARSE_PRESENCE = 0.7;
const DENSE_PRESENCE = 0.5;
const PRESENCE_SAMPLES = 10;
/** How far (in box sizes) a stopped vehicle may pull up and still be the same case. */
const RELOCATE = 2;
/** Stops this alike are one vehicle (two tracks of one object): the older one stays. */
const SAME_STOP_IOU = 0.5;


/**
 * Illegal parking on one camera. Vehicles are tracked whatever their class, each one's ground
 * speed is filtered on the road plane (the camera's homography, or a perspective plane fitted
 * from the vehicles' own sizes), and a vehicle whose speed stays under the zone's
 * `max_speed_kmh` becomes a stop. From then on the stop belongs to the place, not the track: any
 * vehicle box at the spot that is not seen driving keeps it, so detector misses, class flips,
 * tracker id switches and passing traffic do not start a second violation. A stop is a
 * violation once it has lasted `dwell_s` from the moment the vehicle stopped, and ends when the
 * spot has been empty for `leave_s`.
 */
export class StoppedVehicles {
  #zones: CompiledZone[] = [];
  /** Every class any of the zones watches: the tracker follows only those. */
  #classes: ReadonlySet<string> = new Set();
  #stops: Stop[] = [];
  #cooldowns: Cooldown[] = [];
  #lastMs = -Infinity;
  /** The camera's usual time between samples (a running mean), and how many gaps it has seen. */
  #intervalMs = 1000;
  #samples = 0;
  #tracker: VehicleTracker;
  readonly #ground: GroundModel;
  readonly #cameraId: string;
  readonly #imageSize: readonly [number, number] | undefined;
  readonly #opts: StoppedOptions;

  constructor(cameraId: string, camera: { imageSize?: readonly [number, number]; homography?: { image: [number, number][]; ground: [number, number][] } }, opts: StoppedOptions) {
    this.#cameraId = cameraId;
    this.#imageSize = camera.imageSize;
    this.#opts = opts;
    this.#ground = camera.homography ? homographyGround(camera.homography) : new PerspectiveFit(camera.imageSize ?? [1920, 1080]);
    this.#tracker = this.#newTracker();
  }

  #newTracker(): VehicleTracker {
    const limits = [...new Set(this.#zones.map((z) => z.maxSpeedMs))];
    const slowKeepMs = Math.max(0, ...this.#zones.map((z) => z.leaveMs));
    return new VehicleTracker(this.#ground, { limits, slowKeepMs });
  }

  setZones(zones: CompiledZone[]): void {
    this.#zones = zones;
    this.#classes = new Set(zones.flatMap((z) => [...z.classes]));
    const ids = new Set(zones.map((z) => z.id));
    this.#stops = this.#stops.filter((s) => ids.has(s.zoneId));
    this.#cooldowns = this.#cooldowns.filter((c) => ids.has(c.zoneId));
    this.#tracker = this.#newTracker();
  }

  /**
   * Teaches the perspective plane vehicle boxes seen before (a replay shows it the whole file
   * first, as a camera running for a while would have seen); nothing to learn with a homography.
   */
  calibrate(boxes: Iterable<readonly number[]>): void {
    for (const b of boxes) this.#ground.learn(b);
  }

  observe(t: number, dets: readonly Detection[]): Violation[] {
    if (t < this.#lastMs) return []; // out of order: time only moves forward
    const gap = t - this.#lastMs;
    if (gap > 0 && gap < 120_000) this.#intervalMs = this.#samples++ === 0 ? gap : this.#intervalMs + 0.2 * (gap - this.#intervalMs);
    this.#lastMs = t;
    const vehicles = dets.filter((d) => this.#classes.has(d.label));
    const sightings = this.#tracker.update(t, mergeVehicles(vehicles), this.#intervalMs);
    const out: Violation[] = [];
    for (const z of this.#zones) this.#observeZone(z, t, sightings, out);
    this.#cooldowns = this.#cooldowns.filter((c) => c.untilMs > t);
    return out;
  }

  #observeZone(z: CompiledZone, t: number, all: readonly VehicleSighting[], out: Violation[]): void {
    const inside = all.filter((s) => {
      if (s.score < z.minScore || Math.min(s.box[2], s.box[3]) < z.minBoxPx) return false;
      if (!Object.keys(s.votes).some((c) => z.classes.has(c))) return false;
      const [x, y] = bottomCentre(s.box);
      return inZone(z, x, y);
    });
    // Seen driving: it neither holds a stop nor starts one.
    const driving = (s: VehicleSighting): boolean => s.track.speed >= z.maxSpeedMs;
    const stops = this.#stops.filter((s) => s.zoneId === z.id);

    const pairs: { stop: Stop; s: VehicleSighting; o: number }[] = [];
    for (const stop of stops) {
      for (const s of inside) {
        if (driving(s)) continue;
        const o = iou(stop.box, s.box);
        if (o >= AT_SPOT_IOU) pairs.push({ stop, s, o });
      }
    }
    const held = new Set<Stop>();
    const used = greedyMatch(pairs, (a, b) => b.o - a.o, (p) => p.stop, (p) => p.s, (p) => {
      held.add(p.stop);
      this.#hold(p.stop, p.s, t);
    });
    for (const s of inside) {
      if (used.has(s) || driving(s)) continue;
      const slow = s.track.slowSince.get(z.maxSpeedMs);
      if (slow === undefined || this.#cutByFrame(s.box)) continue;
      if (stops.some((st) => iou(st.box, s.box) >= AT_SPOT_IOU)) continue; // part of a stop already
      // A vehicle that pulled up a few metres and stopped again is the same case, not a new one.
      const moved = stops.find((st) => st.violation && st.lastAtSpotMs < t && !held.has(st) && nearby(st.box, s.box));
      if (moved) {
        moved.box = [...s.box];
        held.add(moved);
        this.#hold(moved, s, t);
        continue;
      }
      // Stopped since the filter was sure of a low speed, less the filter's lag; a vehicle seen
      // driving first, since it reached its spot on the ground, if that was earlier (the filter
      // knows it only later). Never before it came to this place: a crawl moves on.
      const arrived = atPlaceSince(s.track, AT_SPOT_IOU);
      const atSpot = slow > s.track.firstMs ? this.#atSpotSince(s.track) : Infinity;
      const since = Math.max(Math.min(slow - FILTER_LAG_MS, atSpot), Number.isFinite(arrived) ? arrived : Math.min(slow, s.track.recent[0]!.t));
      const stop: Stop = {
        zoneId: z.id, trackId: s.track.id, box: [...s.box], lastBox: [...s.box], sinceMs: since, sureMs: slow, firstAtSpotMs: t, lastAtSpotMs: t,
        samples: 0, seen: 1, votes: { ...s.votes }, score: s.score, violation: null,
        // Presence counts from the filter's dating: at sparse samples, misses before it was sure
        // (a vehicle still pulling in behind traffic) are not the stop's.
        ...presenceSince(s.track.recent, Math.max(since, slow - FILTER_LAG_MS), t, this.#intervalMs),
        history: this.#opts.keepHistory ? [[t, ...s.box]] : undefined,
      };
      this.#stops.push(stop);
      stops.push(stop);
      held.add(stop);
    }

    const leaveMs = Math.max(z.leaveMs, 3 * this.#intervalMs);
    // A stop must be seen in most of its first PRESENCE_SAMPLES samples; far more so when samples
    // are half a second or more apart, as there the cars of a stream take each other's place and
    // only a vehicle seen at nearly every sample is standing. (Later misses, an occlusion, are
    // `seen_ratio`'s business.)
    const minPresence = this.#intervalMs >= SPARSE_MS ? SPARSE_PRESENCE : DENSE_PRESENCE;
    for (const stop of stops) {
      if (t - stop.lastAtSpotMs > leaveMs) {
        this.#drop(stop);
        if (stop.violation) {
          out.push(this.#violation(z, stop, 'end'));
          this.#cooldowns.push({ zoneId: z.id, box: stop.box, untilMs: stop.lastAtSpotMs + z.cooldownMs });
        }
        continue;
      }
      stop.samples++;
      if (stop.samplesBefore < PRESENCE_SAMPLES) stop.samplesBefore++;
      const twin = stops.find((o) => o !== stop && this.#stops.includes(o) && iou(o.box, stop.box) >= SAME_STOP_IOU && (o.violation ? 1 : 0) >= (stop.violation ? 1 : 0) && o.sinceMs <= stop.sinceMs);
      if (twin && !stop.violation) { this.#drop(stop); continue; }
      if (!stop.violation) {
        const presence = stop.seenBefore / Math.max(1, stop.samplesBefore);
        const held = stop.seen / Math.max(1, stop.samples);
        const sure = t - (stop.sureMs ?? stop.sinceMs) >= SURE_FOR_MS;
        if (stop.lastAtSpotMs === t && t - stop.sinceMs >= z.dwellMs && sure && held >= z.seenRatio && presence >= minPresence && !this.#cooling(z, stop, t)) {
          stop.violation = { id: violationId(this.#cameraId, z, stop), confirmedMs: t, lastUpdateMs: t };
          out.push(this.#violation(z, stop, 'new'));
        }
      } else if (stop.lastAtSpotMs === t && t - stop.violation.lastUpdateMs >= this.#opts.updateEveryMs) {
        stop.violation.lastUpdateMs = t;
        out.push(this.#violation(z, stop, 'update'));
      }
    }
  }

  /** Since when the track's ground point has stayed within AT_SPOT_M of where it is now. */
  #atSpotSince(tr: VehicleTrack): number {
    const here = this.#ground.project(tr.box);
    if (!here) return Infinity;
    let since = Infinity;
    for (let i = tr.recent.length - 1; i >= 0; i--) {
      const g = this.#ground.project(tr.recent[i]!.box);
      if (!g || Math.hypot(g.x - here.x, g.y - here.y) > AT_SPOT_M) break;
      since = tr.recent[i]!.t;
    }
    return since;
  }

  /** A box cut by the frame's edge does not show where the vehicle touches the road. */
  #cutByFrame(b: Box): boolean {
    const size = this.#imageSize;
    if (!size) return false;
    const ex = Math.max(2, EDGE_SHARE * size[0]), ey = Math.max(2, EDGE_SHARE * size[1]);
    return b[0] <= ex || b[1] + b[3] >= size[1] - ey || b[0] + b[2] >= size[0] - ex;
  }

  #hold(stop: Stop, s: VehicleSighting, t: number): void {
    if (!stop.violation && s.track.id !== stop.trackId) {
      // Another vehicle at the spot before the stop counts: the next car of a queue moving up
      // into the place. The dwell counts from when it came there. (The same car under a new track
      // has been at the place all along, and keeps the time.)
      const arrived = atPlaceSince(s.track, AT_SPOT_IOU);
      if (Number.isFinite(arrived)) {
        stop.sinceMs = Math.max(stop.sinceMs, arrived);
        stop.sureMs = Math.max(stop.sureMs ?? stop.sinceMs, arrived);
      }
    }
    stop.trackId = s.track.id;
    stop.seen++;
    if (stop.samplesBefore < PRESENCE_SAMPLES) stop.seenBefore++;
    stop.lastAtSpotMs = t;
    stop.lastBox = [...s.box];
    const w = 1 / Math.min(stop.seen, 20);
    for (let k = 0; k < 4; k++) stop.box[k] = stop.box[k]! + w * (s.box[k]! - stop.box[k]!);
    for (const [c, v] of Object.entries(s.votes)) stop.votes[c] = (stop.votes[c] ?? 0) + v;
    stop.score = Math.max(stop.score, s.score);
    stop.history?.push([t, ...s.box]);
  }

  #drop(stop: Stop): void {
    const i = this.#stops.indexOf(stop);
    if (i >= 0) this.#stops.splice(i, 1);
  }

  #cooling(z: CompiledZone, stop: Stop, t: number): boolean {
    return this.#cooldowns.some((c) => c.zoneId === z.id && c.untilMs > t && iou(c.box, stop.box) >= AT_SPOT_IOU);
  }

  #violation(z: CompiledZone, s: Stop, state: ViolationState): Violation {
    return violationStep({
      id: s.violation!.id, cameraId: this.#cameraId, zoneId: z.id, rule: z.rule, class: likeliest(s.votes), box: s.lastBox,
      firstSeenMs: s.sinceMs, confirmedMs: s.violation!.confirmedMs, lastSeenMs: s.lastAtSpotMs, score: s.score,
      presenceRatio: null, model: this.#opts.model, history: s.history,
    }, state);
  }

  /** Ends every open violation as of the last sample (end of a replay). Stops stay. */
  flush(): Violation[] {
    const out: Violation[] = [];
    for (const s of this.#stops) {
      const z = this.#zones.find((zz) => zz.id === s.zoneId);
      if (z && s.violation) out.push(this.#violation(z, s, 'end'));
    }
    return out;
  }

  /** A stop not yet a violation, or one whose spot was empty at the last sample (see `ZoneRuleState.timing`). */
  timing(): boolean {
    return this.#stops.some((s) => !s.violation || s.lastAtSpotMs < this.#lastMs);
  }

  active(): { zoneId: string; id: string; dwellS: number }[] {
    return this.#stops.filter((s) => s.violation).map((s) => ({ zoneId: s.zoneId, id: s.violation!.id, dwellS: r1((s.lastAtSpotMs - s.sinceMs) / 1000) }));
  }

  snapshot(): StoppedSnapshot {
    return {
      stops: this.#stops.map(({ history: _h, ...s }) => structuredClone(s)),
      cooldowns: structuredClone(this.#cooldowns),
      lastMs: Number.isFinite(this.#lastMs) ? this.#lastMs : 0,
      intervalMs: this.#intervalMs,
      ...(this.#ground instanceof PerspectiveFit ? { perspective: this.#ground.state() } : {}),
    };
  }

  /**
   * Takes saved stops back. Tracks are not saved: after a restart the vehicle at a stop's spot
   * holds it again by place, so its violation keeps its id.
   */
  restore(saved: StoppedSnapshot): void {
    const ids = new Set(this.#zones.map((z) => z.id));
    this.#stops = saved.stops.filter((s) => ids.has(s.zoneId)).map((s) => ({ ...s, trackId: 0, history: this.#opts.keepHistory ? [] : undefined }));
    this.#cooldowns = saved.cooldowns.filter((c) => ids.has(c.zoneId));
    this.#lastMs = saved.lastMs;
    if (Number.isFinite(saved.intervalMs) && saved.intervalMs > 0) this.#intervalMs = saved.intervalMs;
    if (saved.perspective && this.#ground instanceof PerspectiveFit) this.#ground.restore(saved.perspective);
  }
}

/** Samples from `since` up to now (at most PRESENCE_SAMPLES, the latest), and in how many the track was seen. */
function presenceSince(recent: readonly { t: number }[], since: number, t: number, intervalMs: number): { samplesBefore: number; seenBefore: number } {
  const samplesBefore = Math.min(PRESENCE_SAMPLES - 1, Math.max(0, Math.round((t - since) / intervalMs)));
  const from = t - samplesBefore * intervalMs - intervalMs / 2;
  const seenBefore = Math.min(samplesBefore, recent.filter((r) => r.t >= Math.max(since, from) && r.t < t).length);
  return { samplesBefore, seenBefore };
}

/** Within two box sizes of each other and of a like size: one vehicle that moved up a little. */
function nearby(a: Box, b: Box): boolean {
  const [ax, ay] = bottomCentre(a), [bx, by] = bottomCentre(b);
  const rw = b[2] / a[2], rh = b[3] / a[3];
  return Math.hypot(ax - bx, ay - by) <= RELOCATE * Math.sqrt(a[2] * a[3]) && rw > 0.6 && rw < 1.67 && rh > 0.6 && rh < 1.67;
}

function likeliest(votes: Record<string, number>): string {
  let best = '';
  let v = -1;
  for (const [c, s] of Object.entries(votes)) if (s > v) { best = c; v = s; }
  return best;
}

function violationId(cameraId: string, z: CompiledZone, s: Stop): string {
  const [x, y] = bottomCentre(s.box);
  const h = createHash('sha1').update(`${cameraId}|${z.id}|${z.rule}|${s.sinceMs}|${Math.round(x)}|${Math.round(y)}`).digest('hex');
  return `vio-${h.slice(0, 16)}`;
}
