import type { Detection } from '../types.ts';
import { iou } from './box.ts';
import { greedyMatch } from './match.ts';

interface Track {
  id: number;
  box: [number, number, number, number];
  lastMs: number;
  /** Recent bottom-centres: t, x, y (ring of HIST entries). */
  hist: Float64Array;
  n: number;
}

const HIST = 64;


/**
 * A small IoU tracker over one camera's samples. It gives each detection a track id and, when
 * the track has a position at least `baselineMs` old, the distance its bottom-centre moved since:
 * dense samples (video, replay) tell a moving car from a parked one that way. Sparse samples
 * seconds apart associate only objects that stayed put; the rest get a new id and no motion.
 */
export class IouTracker {
  #tracks: Track[] = [];
  #nextId = 1;
  readonly #maxAgeMs: number;
  readonly #baselineMs: number;
  readonly #horizonMs: number;
  readonly #gapResetMs: number;
  #lastT = Infinity;

  constructor(opts: { maxAgeMs?: number; baselineMs?: number; horizonMs?: number; gapResetMs?: number } = {}) {
    this.#gapResetMs = opts.gapResetMs ?? 250;
    this.#maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.#baselineMs = opts.baselineMs ?? 1000;
    this.#horizonMs = opts.horizonMs ?? 30_000;
  }

  /** Returns, per detection, its track id and its motion in pixels over the baseline (NaN: unknown). */
  update(t: number, dets: readonly Detection[]): { ids: Int32Array; moved: Float64Array } {
    this.#tracks = this.#tracks.filter((tr) => t - tr.lastMs <= this.#maxAgeMs);
    // A track missed for more than three sample intervals may have been taken over by another
    // object (cars following in one lane): its motion history starts again.
    const gapReset = Math.max(this.#gapResetMs, 3 * (t - this.#lastT));
    this.#lastT = t;
    const pairs: { ti: number; di: number; v: number }[] = [];
    for (let ti = 0; ti < this.#tracks.length; ti++) {
      for (let di = 0; di < dets.length; di++) {
        const v = iou(this.#tracks[ti]!.box, dets[di]!.box);
        if (v >= 0.3) pairs.push({ ti, di, v });
      }
    }
    const ids = new Int32Array(dets.length);
    const moved = new Float64Array(dets.length).fill(NaN);
    greedyMatch(pairs, (a, b) => b.v - a.v, (p) => p.ti, (p) => p.di, (p) => {
      const tr = this.#tracks[p.ti]!;
      if (t - tr.lastMs > gapReset) {
        // Re-found after a gap: possibly another object on the same place, so a new identity
        // with no motion history (sparse samples always take this path).
        tr.id = this.#nextId++;
        tr.n = 0;
      }
      ids[p.di] = tr.id;
      const d = dets[p.di]!;
      const x = d.box[0] + d.box[2] / 2;
      const y = d.box[1] + d.box[3];
      // The newest remembered position at least `baselineMs` old.
      for (let k = 1; k <= Math.min(tr.n, HIST); k++) {
        const j = ((tr.n - k) % HIST) * 3;
        const age = t - tr.hist[j]!;
        if (age < this.#baselineMs) continue;
        if (age <= this.#horizonMs) moved[p.di] = Math.hypot(x - tr.hist[j + 1]!, y - tr.hist[j + 2]!);
        break;
      }
      this.#push(tr, t, d);
    });
    for (let di = 0; di < dets.length; di++) {
      if (ids[di]) continue;
      const tr: Track = { id: this.#nextId++, box: [0, 0, 0, 0], lastMs: t, hist: new Float64Array(HIST * 3), n: 0 };
      this.#push(tr, t, dets[di]!);
      this.#tracks.push(tr);
      ids[di] = tr.id;
    }
    return { ids, moved };
  }

  #push(tr: Track, t: number, d: Detection): void {
    tr.box = [d.box[0], d.box[1], d.box[2], d.box[3]];
    tr.lastMs = t;
    const j = (tr.n % HIST) * 3;
    tr.hist[j] = t;
    tr.hist[j + 1] = d.box[0] + d.box[2] / 2;
    tr.hist[j + 2] = d.box[1] + d.box[3];
    tr.n++;
  }
}
