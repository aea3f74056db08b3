import type { Detection } from '../types.ts';
import type { GroundModel } from './ground.ts';
import { iou } from './box.ts';
import { greedyMatch } from './match.ts';
import { PlaneKalman } from './kalman.ts';

type Box = [number, number, number, number];

/** One physical vehicle in a sample: detections of one object under several classes merged. */
export interface VehicleSighting {
  box: Box;
  score: number;
  /** Summed score per class label (car, truck, bus… are one vehicle to the rules). */
  votes: Record<string, number>;
  /** The track it joined (or started) in this sample; set by `update`. */
  track: VehicleTrack;
}

export interface VehicleTrack {
  id: number;
  box: Box;
  firstMs: number;
  lastMs: number;
  hits: number;
  /** Image velocity of the bottom-centre, px/s, for predicting the next box. */
  vx: number;
  vy: number;
  /** Ground-plane filter; null while the ground model cannot place the vehicle. */
  kf: PlaneKalman | null;
  /** Ground speed in m/s, NaN until the filter has seen enough. */
  speed: number;
  /** Its standard deviation: far from the camera one pixel is metres, and speed is known only roughly. */
  speedSigma: number;
  /** Recent boxes, oldest first, for how long it has stood where it stands. */
  recent: { t: number; box: Box }[];
  /** Per speed limit (m/s): since when the speed has stayed below it; absent when it is not below. */
  slowSince: Map<number, number>;
}

export interface TrackerOptions {
  /** Speed limits (m/s) the zones ask about; slowSince is kept for each. */
  limits: readonly number[];
  /** How long a slow (possibly stopped) track is kept unseen. */
  slowKeepMs: number;
}

/** Detections of one object under two classes overlap this much (NMS in the detector is per class). */
const SAME_VEHICLE_IOU = 0.6;
/** The filter's acceleration noise, and its prior on speed before any motion is seen. */
const KF_OPTS = { q: 1, speedSigma: 15 };
const RECENT = 64;
/** A speed is known once the filter has this much history (fewer sightings let two cars of a stream pass for one). */
const KNOWN_AFTER_MS = 600;
const KNOWN_AFTER_HITS = 5;
/** …or three sightings this far apart (a camera sampled every 10 s: the stream has long gone by then). */
const KNOWN_SPARSE_MS = 20_000;


/** Keeps one box per object among overlapping boxes of any vehicle class, summing their class votes. */
export function mergeVehicles(dets: readonly Detection[]): Omit<VehicleSighting, 'track'>[] {
  const sorted = [...dets].sort((a, b) => b.score - a.score);
  const out: Omit<VehicleSighting, 'track'>[] = [];
  for (const d of sorted) {
    const same = out.find((o) => iou(o.box, d.box) >= SAME_VEHICLE_IOU);
    if (same) { same.votes[d.label] = (same.votes[d.label] ?? 0) + d.score; continue; }
    out.push({ box: [...d.box], score: d.score, votes: { [d.label]: d.score } });
  }
  return out;
}

/**
 * Follows vehicles across one camera's samples, whatever class the detector gives them, and
 * estimates each one's ground speed with a Kalman filter over its bottom-centre on the ground
 * plane. Dense samples (video) associate moving vehicles by their predicted box; sparse samples
 * seconds apart associate only vehicles that stayed about where they were, which is what a
 * stopped vehicle does.
 */
export class VehicleTracker {
  readonly tracks: VehicleTrack[] = [];
  #nextId = 1;
  readonly #ground: GroundModel;
  readonly #opts: TrackerOptions;

  constructor(ground: GroundModel, opts: TrackerOptions) {
    this.#ground = ground;
    this.#opts = opts;
  }

  /** Associates one sample's vehicles; `intervalMs` is the camera's usual time between samples. */
  update(t: number, sightings: Omit<VehicleSighting, 'track'>[], intervalMs: number): VehicleSighting[] {
    for (const s of sightings) this.#ground.learn(s.box);
    const pairs: { ti: number; si: number; cost: number }[] = [];
    for (let ti = 0; ti < this.tracks.length; ti++) {
      const tr = this.tracks[ti]!;
      const dt = (t - tr.lastMs) / 1000;
      // Predict along the image velocity only over short gaps; beyond, only "still there" matches.
      const k = dt <= 1.5 ? dt : 0;
      const pred: Box = [tr.box[0] + tr.vx * k, tr.box[1] + tr.vy * k, tr.box[2], tr.box[3]];
      const scale = Math.sqrt(tr.box[2] * tr.box[3]);
      for (let si = 0; si < sightings.length; si++) {
        const b = sightings[si]!.box;
        const rw = b[2] / tr.box[2], rh = b[3] / tr.box[3];
        if (rw < 0.5 || rw > 2 || rh < 0.5 || rh > 2) continue;
        const o = iou(pred, b);
        const dist = Math.hypot(b[0] + b[2] / 2 - (pred[0] + pred[2] / 2), b[1] + b[3] - (pred[1] + pred[3])) / scale;
        // Over a long gap only a vehicle that stayed put can be the same one: in a stream of
        // traffic another car is soon where the last one was, at some offset.
        if (k === 0 && dt > 0.3 ? o < 0.2 : o < 0.2 && dist > 0.6) continue;
        pairs.push({ ti, si, cost: dist - o });
      }
    }
    const out: VehicleSighting[] = new Array(sightings.length);
    greedyMatch(pairs, (a, b) => a.cost - b.cost, (p) => p.ti, (p) => p.si, (p) => {
      out[p.si] = { ...sightings[p.si]!, track: this.#follow(this.tracks[p.ti]!, t, sightings[p.si]!.box) };
    });
    for (let si = 0; si < sightings.length; si++) {
      if (!out[si]) out[si] = { ...sightings[si]!, track: this.#start(t, sightings[si]!.box) };
    }
    const quickMs = Math.max(1500, 2.5 * intervalMs);
    for (let i = this.tracks.length - 1; i >= 0; i--) {
      const tr = this.tracks[i]!;
      const keep = tr.slowSince.size > 0 ? Math.max(this.#opts.slowKeepMs, quickMs) : quickMs;
      if (t - tr.lastMs > keep) this.tracks.splice(i, 1);
    }
    return out;
  }

  #start(t: number, box: Box): VehicleTrack {
    const g = this.#ground.project(box);
    const tr: VehicleTrack = {
      id: this.#nextId++, box: [...box], firstMs: t, lastMs: t, hits: 1, vx: 0, vy: 0,
      kf: g ? new PlaneKalman(g.x, g.y, g.r, KF_OPTS) : null, speed: Number.NaN, speedSigma: Number.NaN, slowSince: new Map(),
      recent: [{ t, box: [...box] }],
    };
    this.tracks.push(tr);
    return tr;
  }

  #follow(tr: VehicleTrack, t: number, box: Box): VehicleTrack {
    const dt = (t - tr.lastMs) / 1000;
    if (dt > 0) {
      const ix = (box[0] + box[2] / 2 - (tr.box[0] + tr.box[2] / 2)) / dt;
      const iy = (box[1] + box[3] - (tr.box[1] + tr.box[3])) / dt;
      const a = tr.hits === 1 ? 1 : 0.5;
      tr.vx += a * (ix - tr.vx);
      tr.vy += a * (iy - tr.vy);
    }
    const g = this.#ground.project(box);
    if (g) {
      if (!tr.kf) tr.kf = new PlaneKalman(g.x, g.y, g.r, KF_OPTS);
      else { tr.kf.predict(dt); tr.kf.update(g.x, g.y, g.r); }
    }
    const wasKnown = !Number.isNaN(tr.speed);
    tr.box = [...box];
    tr.lastMs = t;
    tr.hits++;
    tr.recent.push({ t, box: [...box] });
    if (tr.recent.length > RECENT) tr.recent.shift();
    const span = t - tr.firstMs;
    const known = span >= KNOWN_AFTER_MS && (tr.hits >= KNOWN_AFTER_HITS || (tr.hits >= 3 && span >= KNOWN_SPARSE_MS));
    tr.speed = tr.kf && known ? tr.kf.speed() : Number.NaN;
    tr.speedSigma = tr.kf ? tr.kf.speedSigma() : Number.NaN;
    if (!Number.isNaN(tr.speed)) {
      for (const lim of this.#opts.limits) {
        // Slow only when even the speed one sigma up is under the limit.
        if (!(tr.speed + tr.speedSigma < lim)) tr.slowSince.delete(lim);
        // The first known speed speaks for the time before it too: slow since the track began.
        else if (!tr.slowSince.has(lim)) tr.slowSince.set(lim, wasKnown ? t : tr.firstMs);
      }
    }
    return tr;
  }
}

/**
 * Since when the track has stood at the place of its current box (its recent boxes overlapping
 * it), or its oldest recent time if it stood there all along.
 */
export function atPlaceSince(tr: VehicleTrack, minIou: number): number {
  let since = tr.lastMs;
  for (let i = tr.recent.length - 1; i >= 0; i--) {
    if (iou(tr.recent[i]!.box, tr.box) < minIou) break;
    since = tr.recent[i]!.t;
  }
  return since === tr.recent[0]?.t ? -Infinity : since;
}
