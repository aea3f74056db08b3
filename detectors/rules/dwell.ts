import { createHash } from 'node:crypto';
import type { Detection } from '../types.ts';
import { inZone, type CompiledZone, type Rule } from './zones.ts';
import { IouTracker } from './tracker.ts';
import { bottomCentre, iou } from './box.ts';
import { greedyMatch } from './match.ts';
import { r1, violationStep, type Violation, type ViolationState } from './violation.ts';
import { StoppedVehicles, type Stop, type StoppedSnapshot } from './stopped.ts';
import { StreetOrderRules } from './street-order.ts';

export type { Violation, ViolationState } from './violation.ts';

/** An object held at a locked position in a zone. Plain data: it is persisted as JSON. */
interface Spot {
  zoneId: string;
  /** Tracker id of the detection last matched. */
  trackId: number;
  cls: string;
  anchor: [number, number];
  size: [number, number];
  box: [number, number, number, number];
  firstSeenMs: number;
  lastSeenMs: number;
  samples: number;
  /** Samples in which the object itself was matched. */
  seen: number;
  /** Samples that count as present: seen (parking) or people at the stall (vending). */
  present: number;
  score: number;
  violation: { id: string; confirmedMs: number; lastUpdateMs: number } | null;
  /** Vending: this object is part of a stall whose violation another spot raised (no steps of its own). */
  joined?: boolean;
  history?: [number, number, number, number, number][];
}

interface Cooldown {
  zoneId: string;
  anchor: [number, number];
  size: number;
  untilMs: number;
}

interface CameraRules {
  /** road_vending zones; illegal_parking zones belong to `parking`. */
  zones: CompiledZone[];
  parking: StoppedVehicles;
  /** non_motor_parking, shopfront_spillover, mobile_vendor and crowd_gathering zones. */
  street: StreetOrderRules;
  geometryKey: string;
  tracker: IouTracker;
  spots: Spot[];
  cooldowns: Cooldown[];
  lastMs: number;
}

export interface DwellOptions {
  model: { name: string; version: string };
  /** Emit `update` at most this often per violation (capture time). */
  updateEveryS?: number;
  /** Keep every box of each spot (replay); off in the engine to bound memory. */
  keepHistory?: boolean;
}

/** The camera facts the parking rule needs: the image its zones are drawn on and its ground plane. */
export interface CameraGeometry {
  imageSize?: readonly [number, number];
  homography?: { image: [number, number][]; ground: [number, number][] };
}

interface SavedCamera { spots: Spot[]; cooldowns: Cooldown[]; lastMs: number; parking?: StoppedSnapshot; street?: Record<string, unknown> }

/**
 * What `snapshot()` returns and `restore()` takes: dwell state that survives a restart.
 * Version 2 keeps parking as stops (`parking`); version 1 kept every zone's objects as spots.
 */
export interface DwellSnapshot {
  version: 2;
  cameras: Record<string, SavedCamera>;
}


/**
 * Dwell per (camera, zone, locked position). A detection joins the spot whose locked
 * bottom-centre lies within `position_tolerance × sqrt(w·h)` and whose size is similar, so a
 * stopped car that the detector misses for a while, or that a tracker would give a new id,
 * keeps its timer. All times are capture times.
 */
/**
 * One object found as two classes (a van as both car and truck: NMS is per class) must hold one
 * spot, not two: of boxes that overlap this much, only the highest score is kept.
 */
const SAME_OBJECT_IOU = 0.7;

function dropOverlapping(objects: Detection[], idx: number[]): void {
  for (let i = 0; i < objects.length; i++) {
    for (let j = objects.length - 1; j > i; j--) {
      if (iou(objects[i]!.box, objects[j]!.box) < SAME_OBJECT_IOU) continue;
      const drop = objects[j]!.score > objects[i]!.score ? i : j;
      objects.splice(drop, 1);
      idx.splice(drop, 1);
      if (drop === i) { i--; break; }
    }
  }
}

export class DwellRules {
  readonly #cams = new Map<string, CameraRules>();
  readonly #opts: DwellOptions;
  readonly #updateEveryMs: number;
  readonly #pending = new Map<string, SavedCamera>();

  constructor(opts: DwellOptions) {
    this.#opts = opts;
    this.#updateEveryMs = (opts.updateEveryS ?? 60) * 1000;
  }

  /**
   * Sets (or replaces) a camera's zones and geometry; state of zones that no longer exist is
   * dropped. A changed homography or image size restarts the parking rule's tracks, not its stops.
   */
  setZones(cameraId: string, zones: CompiledZone[], geometry: CameraGeometry = {}): void {
    const vending = zones.filter((z) => z.rule === 'road_vending');
    const parkingZones = zones.filter((z) => z.rule === 'illegal_parking');
    const geometryKey = JSON.stringify(geometry);
    const c = this.#cams.get(cameraId);
    const ids = new Set(vending.map((z) => z.id));
    if (c) {
      c.zones = vending;
      c.street.setZones(zones);
      c.spots = c.spots.filter((s) => ids.has(s.zoneId));
      if (c.geometryKey !== geometryKey) {
        const kept = c.parking.snapshot();
        c.parking = this.#newParking(cameraId, geometry);
        c.parking.setZones(parkingZones);
        c.parking.restore({ ...kept, perspective: undefined });
        c.geometryKey = geometryKey;
      } else {
        c.parking.setZones(parkingZones);
      }
    } else {
      const parking = this.#newParking(cameraId, geometry);
      parking.setZones(parkingZones);
      const street = new StreetOrderRules(cameraId, { model: this.#opts.model, updateEveryMs: this.#updateEveryMs, keepHistory: !!this.#opts.keepHistory });
      street.setZones(zones);
      const fresh: CameraRules = { zones: vending, parking, street, geometryKey, tracker: new IouTracker(), spots: [], cooldowns: [], lastMs: -Infinity };
      this.#cams.set(cameraId, fresh);
      const saved = this.#pending.get(cameraId);
      if (saved) { this.#pending.delete(cameraId); this.#apply(fresh, saved); }
    }
  }

  #newParking(cameraId: string, geometry: CameraGeometry): StoppedVehicles {
    return new StoppedVehicles(cameraId, geometry, { model: this.#opts.model, updateEveryMs: this.#updateEveryMs, keepHistory: !!this.#opts.keepHistory });
  }

  /** Teaches a camera's parking rule the vehicles it has seen (see `StoppedVehicles.calibrate`). */
  calibrate(cameraId: string, boxes: Iterable<readonly number[]>): void {
    this.#cams.get(cameraId)?.parking.calibrate(boxes);
  }

  /** Feeds one sample's detections; returns the lifecycle steps it caused. */
  observe(cameraId: string, captureTimeMs: number, detections: readonly Detection[]): Violation[] {
    const cam = this.#cams.get(cameraId);
    if (!cam) return [];
    const t = captureTimeMs;
    if (t < cam.lastMs) return []; // out of order: dwell only moves forward
    const out: Violation[] = [...cam.parking.observe(t, detections), ...cam.street.observe(t, detections)];
    // Dense samples (video, replay): motion is known after a second, and a detection whose motion
    // is not known yet may only hold the spot its own track started.
    const dense = t - cam.lastMs <= 2000;
    cam.lastMs = t;
    const { ids, moved } = cam.tracker.update(t, detections);
    for (const z of cam.zones) this.#observeZone(cameraId, cam, z, t, detections, ids, moved, dense, out);
    cam.cooldowns = cam.cooldowns.filter((c) => c.untilMs > t);
    return out;
  }

  #observeZone(cameraId: string, cam: CameraRules, z: CompiledZone, t: number, dets: readonly Detection[], ids: Int32Array, moved: Float64Array, dense: boolean, out: Violation[]): void {
    const vending = z.rule === 'road_vending';
    const objects: Detection[] = [];
    const objectIdx: number[] = [];
    const people: Detection[] = [];
    for (let i = 0; i < dets.length; i++) {
      const d = dets[i]!;
      if (d.score < z.minScore || Math.min(d.box[2], d.box[3]) < z.minBoxPx) continue;
      const [x, y] = bottomCentre(d.box);
      if (!inZone(z, x, y)) continue;
      // An object the tracker saw moving over the last second neither holds nor starts a spot.
      const stillObject = !(moved[i]! > z.tolerance * Math.sqrt(d.box[2] * d.box[3]));
      if (vending ? z.stallClasses.has(d.label) : z.classes.has(d.label)) { if (stillObject) { objects.push(d); objectIdx.push(i); } }
      else if (vending && z.classes.has(d.label)) people.push(d);
    }
    dropOverlapping(objects, objectIdx);
    const spots = cam.spots.filter((s) => s.zoneId === z.id);

    // Greedy association by normalised distance to each spot's locked position.
    const pairs: { s: Spot; d: Detection; i: number; dist: number }[] = [];
    for (const s of spots) {
      const scale = Math.sqrt(s.size[0] * s.size[1]);
      for (let k = 0; k < objects.length; k++) {
        const d = objects[k]!;
        const i = objectIdx[k]!;
        if (dense && Number.isNaN(moved[i]!) && ids[i] !== s.trackId) continue;
        const [x, y] = bottomCentre(d.box);
        const dist = Math.hypot(x - s.anchor[0], y - s.anchor[1]) / scale;
        const rw = d.box[2] / s.size[0];
        const rh = d.box[3] / s.size[1];
        if (dist <= z.tolerance && rw > 0.6 && rw < 1.67 && rh > 0.6 && rh < 1.67) pairs.push({ s, d, i, dist });
      }
    }
    const usedD = greedyMatch(pairs, (a, b) => a.dist - b.dist, (p) => p.s, (p) => p.d, (p) => {
      const s = p.s;
      s.lastSeenMs = t;
      s.trackId = ids[p.i]!;
      s.box = [...p.d.box];
      if (p.d.score >= s.score) { s.score = p.d.score; s.cls = p.d.label; }
      s.history?.push([t, ...p.d.box]);
    });
    for (let k = 0; k < objects.length; k++) {
      const d = objects[k]!;
      if (usedD.has(d)) continue;
      if (dense && Number.isNaN(moved[objectIdx[k]!]!) && pairsNear(spots, d, z.tolerance)) continue; // wait until its motion is known
      const s: Spot = {
        zoneId: z.id, trackId: ids[objectIdx[k]!]!, cls: d.label, anchor: bottomCentre(d.box), size: [d.box[2], d.box[3]], box: [...d.box],
        firstSeenMs: t, lastSeenMs: t, samples: 0, seen: 0, present: 0, score: d.score, violation: null,
        history: this.#opts.keepHistory ? [[t, ...d.box]] : undefined,
      };
      cam.spots.push(s);
      spots.push(s);
    }

    for (const s of spots) {
      const left = s.lastSeenMs !== t && this.#leftSpot(s, z, ids, dets);
      if (left || t - s.lastSeenMs > z.maxGapMs) {
        // Gone: end the violation, remember the place for the cooldown.
        cam.spots.splice(cam.spots.indexOf(s), 1);
        // A stall's violation goes on while any of its objects stays: one of them takes it over.
        const heir = s.violation && !s.joined ? cam.spots.find((o) => o.zoneId === z.id && o.violation?.id === s.violation!.id) : undefined;
        if (heir) heir.joined = false;
        else if (s.violation && !s.joined) {
          out.push(this.#violation(cameraId, z, s, 'end'));
          cam.cooldowns.push({ zoneId: z.id, anchor: s.anchor, size: Math.sqrt(s.size[0] * s.size[1]), untilMs: s.lastSeenMs + z.cooldownMs });
        }
        continue;
      }
      s.samples++;
      if (s.lastSeenMs === t) s.seen++;
      else if (!s.violation && t - s.lastSeenMs > 10_000 && s.seen < 0.5 * z.seenRatio * s.samples) {
        // Seen now and then only (traffic crossing one place): it can no longer qualify.
        cam.spots.splice(cam.spots.indexOf(s), 1);
        continue;
      }
      if (vending) {
        const reach = 2 * Math.max(s.size[0], s.size[1]);
        if (people.some((p) => { const [x, y] = bottomCentre(p.box); return Math.hypot(x - s.anchor[0], y - s.anchor[1]) <= reach + p.box[3]; })) s.present++;
      } else if (s.lastSeenMs === t) {
        s.present++;
      }
      if (!s.violation) {
        const dwell = s.lastSeenMs - s.firstSeenMs;
        const presence = s.present / Math.max(1, s.samples);
        if (dwell >= z.dwellMs && presence >= (vending ? z.presenceRatio : z.seenRatio) && !this.#cooling(cam, z, s, t)) {
          // One stall, one violation: its umbrella, table and chairs are one vendor, not three.
          const stall = vending ? spots.find((o) => o !== s && o.violation && cam.spots.includes(o) && sameStall(o, s)) : undefined;
          if (stall) {
            s.violation = { ...stall.violation! };
            s.joined = true;
          } else {
            s.violation = { id: violationId(cameraId, z, s), confirmedMs: t, lastUpdateMs: t };
            out.push(this.#violation(cameraId, z, s, 'new'));
          }
        }
      } else if (!s.joined && s.lastSeenMs === t && t - s.violation.lastUpdateMs >= this.#updateEveryMs) {
        s.violation.lastUpdateMs = t;
        out.push(this.#violation(cameraId, z, s, 'update'));
      }
    }
  }

  /** The object that held the spot is tracked elsewhere now: it drove off (or never stopped). */
  #leftSpot(s: Spot, z: CompiledZone, ids: Int32Array, dets: readonly Detection[]): boolean {
    const i = ids.indexOf(s.trackId);
    if (i < 0) return false;
    const [x, y] = bottomCentre(dets[i]!.box);
    return Math.hypot(x - s.anchor[0], y - s.anchor[1]) > z.tolerance * Math.sqrt(s.size[0] * s.size[1]);
  }

  #cooling(cam: CameraRules, z: CompiledZone, s: Spot, t: number): boolean {
    return cam.cooldowns.some((c) => c.zoneId === z.id && c.untilMs > t && Math.hypot(c.anchor[0] - s.anchor[0], c.anchor[1] - s.anchor[1]) <= z.tolerance * c.size);
  }

  #violation(cameraId: string, z: CompiledZone, s: Spot, state: ViolationState): Violation {
    return violationStep({
      id: s.violation!.id, cameraId, zoneId: z.id, rule: z.rule, class: s.cls, box: s.box,
      firstSeenMs: s.firstSeenMs, confirmedMs: s.violation!.confirmedMs, lastSeenMs: s.lastSeenMs, score: s.score,
      presenceRatio: z.rule === 'road_vending' ? Math.round((s.present / Math.max(1, s.samples)) * 1000) / 1000 : null,
      model: this.#opts.model, history: s.history,
    }, state);
  }

  /**
   * Ends every open violation as of each camera's last sample (end of a replay). Spots stay.
   */
  flush(): Violation[] {
    const out: Violation[] = [];
    for (const [cameraId, cam] of this.#cams) {
      out.push(...cam.parking.flush(), ...cam.street.flush());
      for (const s of cam.spots) {
        const z = cam.zones.find((zz) => zz.id === s.zoneId);
        if (z && s.violation && !s.joined) out.push(this.#violation(cameraId, z, s, 'end'));
      }
    }
    return out;
  }

  /** Whether any rule of the camera is timing something (gating before decoding skips none then). */
  timing(cameraId: string): boolean {
    const cam = this.#cams.get(cameraId);
    return !!cam && (cam.parking.timing() || cam.street.timing(cam.lastMs) || cam.spots.some((s) => !s.joined && (!s.violation || s.lastSeenMs < cam.lastMs)));
  }

  /** Open violations, for status pages. */
  active(): { cameraId: string; zoneId: string; id: string; dwellS: number }[] {
    const out: { cameraId: string; zoneId: string; id: string; dwellS: number }[] = [];
    for (const [cameraId, cam] of this.#cams) {
      for (const a of [...cam.parking.active(), ...cam.street.active()]) out.push({ cameraId, ...a });
      for (const s of cam.spots) if (s.violation && !s.joined) out.push({ cameraId, zoneId: s.zoneId, id: s.violation.id, dwellS: r1((s.lastSeenMs - s.firstSeenMs) / 1000) });
    }
    return out;
  }

  snapshot(): DwellSnapshot {
    const cameras: DwellSnapshot['cameras'] = {};
    for (const [id, saved] of this.#pending) cameras[id] = structuredClone(saved);
    for (const [id, c] of this.#cams) {
      cameras[id] = {
        spots: c.spots.map(({ history: _h, ...s }) => structuredClone(s)), cooldowns: structuredClone(c.cooldowns),
        lastMs: Number.isFinite(c.lastMs) ? c.lastMs : 0, parking: c.parking.snapshot(), street: c.street.snapshot(),
      };
    }
    return { version: 2, cameras };
  }

  /**
   * Restores dwell state. Cameras whose zones are not set yet get theirs when `setZones` comes;
   * spots of zones that no longer exist are dropped.
   */
  restore(snap: DwellSnapshot | { version: 1; cameras: DwellSnapshot['cameras'] }): void {
    if (snap?.version !== 1 && snap?.version !== 2) return;
    for (const [id, saved] of Object.entries(snap.cameras)) {
      const c = this.#cams.get(id);
      if (!c) { this.#pending.set(id, saved); continue; }
      this.#apply(c, saved);
    }
  }

  #apply(c: CameraRules, saved: SavedCamera): void {
    c.parking.restore(saved.parking ?? migrateV1Spots(saved, new Set(c.zones.map((z) => z.id))));
    c.street.restore(saved.street);
    const ids = new Set(c.zones.map((z) => z.id));
    c.spots = saved.spots.filter((s) => ids.has(s.zoneId)).map((s) => ({ ...s, trackId: 0, seen: s.seen ?? s.present, history: this.#opts.keepHistory ? [] : undefined }));
    c.cooldowns = saved.cooldowns.filter((k) => ids.has(k.zoneId));
    c.lastMs = saved.lastMs; // track ids of the old run mean nothing to the new tracker (trackId 0 above)
  }
}

/** Two stall objects within reach of each other (twice the larger one's size) are one stall. */
function sameStall(a: Spot, b: Spot): boolean {
  const reach = 2 * Math.max(a.size[0], a.size[1], b.size[0], b.size[1]);
  return Math.hypot(a.anchor[0] - b.anchor[0], a.anchor[1] - b.anchor[1]) <= reach;
}

/** Is the detection within tolerance of some existing spot (so it may be that spot's object)? */
function pairsNear(spots: readonly Spot[], d: Detection, tolerance: number): boolean {
  const [x, y] = bottomCentre(d.box);
  return spots.some((s) => Math.hypot(x - s.anchor[0], y - s.anchor[1]) <= tolerance * Math.sqrt(s.size[0] * s.size[1]));
}

function violationId(cameraId: string, z: CompiledZone, s: Spot): string {
  const h = createHash('sha1').update(`${cameraId}|${z.id}|${z.rule}|${s.firstSeenMs}|${Math.round(s.anchor[0])}|${Math.round(s.anchor[1])}`).digest('hex');
  return `vio-${h.slice(0, 16)}`;
}

/**
 * Version 1 snapshots kept parked vehicles as spots. A spot with a violation becomes a stop at
 * its last box, so the violation keeps its id and its start; vending zones' spots stay spots.
 */
function migrateV1Spots(saved: SavedCamera, vendingZones: ReadonlySet<string>): StoppedSnapshot {
  const stops: Stop[] = saved.spots.filter((s) => !vendingZones.has(s.zoneId)).map((s) => ({
    zoneId: s.zoneId, trackId: 0, box: [...s.box], lastBox: [...s.box], sinceMs: s.firstSeenMs, firstAtSpotMs: s.firstSeenMs, lastAtSpotMs: s.lastSeenMs,
    samples: s.samples, seen: s.seen ?? s.present, samplesBefore: 0, seenBefore: 0, votes: { [s.cls]: s.score }, score: s.score, violation: s.violation ? { ...s.violation } : null,
  }));
  return { stops, cooldowns: [], lastMs: saved.lastMs, intervalMs: 1000 };
}
