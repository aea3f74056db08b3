import type { MotDetections } from './replay.ts';
import { iou } from './rules/box.ts';
import { greedyMatch } from './rules/match.ts';
import type { Detection } from './types.ts';

/**
 * How one detector's boxes compare with another's on the same recording: the check of a region
 * detector against a larger model (issue 19: YOLO11m's `det.txt` over a real dome camera).
 * The reference's boxes of the classes checked are the objects to find, all one kind (a van one
 * calls a car and the other a truck is found); a box of ours is found when it overlaps one at
 * IoU ≥ 0.5, one box each, best overlaps first. Ours that overlap none are false boxes.
 */
export interface ReferenceCheckOptions {
  /** The reference's frame rate: its frame `first` is at 0 s into the recording. */
  fps: number;
  /** The reference's first frame number (MOTChallenge counts from 1). */
  first: number;
  /** The classes checked, on both sides. */
  classes: ReadonlySet<string>;
  /** Reference boxes under this score are not counted (Ultralytics predicts at 0.25 by default). */
  minScore: number;
}

/** One frame's counts. */
export interface FrameCheck {
  /** The reference's frame number matched to ours. */
  referenceFrame: number;
  reference: number;
  found: number;
  falseBoxes: number;
}

/** Size bands of the reference's boxes, by their longer side in pixels: where the misses are. */
export const SIZE_BANDS = [['<12', 0, 12], ['12-24', 12, 24], ['24-48', 24, 48], ['>48', 48, Infinity]] as const;

export interface CheckSummary {
  frames: number;
  reference_boxes: number;
  found: number;
  recall: number;
  /** Per size band of the reference's boxes: found, of how many, and the recall. */
  by_size: Record<string, { found: number; boxes: number; recall: number }>;
  false_boxes: number;
  false_boxes_per_10_frames: number;
  /** Mean IoU of the found boxes with theirs. */
  mean_iou: number;
}

export const MATCH_IOU = 0.5;

export class ReferenceCheck {
  readonly #ref: MotDetections;
  readonly #opts: ReferenceCheckOptions;
  #frames = 0;
  #reference = 0;
  #found = 0;
  #false = 0;
  #iouSum = 0;
  readonly #bands = SIZE_BANDS.map(() => ({ found: 0, boxes: 0 }));

  constructor(reference: MotDetections, opts: ReferenceCheckOptions) {
    if (!(opts.fps > 0)) throw new RangeError(`reference frame rate must be above 0; got ${opts.fps}`);
    this.#ref = reference;
    this.#opts = opts;
  }

  /** Scores our detections of the frame `timeMs` into the recording against the reference frame shown then. */
  frame(timeMs: number, ours: readonly Detection[]): FrameCheck {
    const { fps, first, classes, minScore } = this.#opts;
    const referenceFrame = first + Math.round((timeMs * fps) / 1000);
    const theirs = (this.#ref.frames.get(referenceFrame) ?? []).filter((d) => classes.has(d.label) && d.score >= minScore);
    const mine = ours.filter((d) => classes.has(d.label));
    const pairs: { i: number; j: number; o: number }[] = [];
    for (let i = 0; i < mine.length; i++) {
      for (let j = 0; j < theirs.length; j++) {
        const o = iou(mine[i]!.box, theirs[j]!.box);
        if (o >= MATCH_IOU) pairs.push({ i, j, o });
      }
    }
    const usedTheirs = greedyMatch(pairs, (a, b) => b.o - a.o, (p) => p.i, (p) => p.j, (p) => { this.#iouSum += p.o; });
    theirs.forEach((d, j) => {
      const side = Math.max(d.box[2], d.box[3]);
      const band = this.#bands[SIZE_BANDS.findIndex(([, lo, hi]) => side >= lo && side < hi)]!;
      band.boxes++;
      if (usedTheirs.has(j)) band.found++;
    });
    const found = usedTheirs.size;
    this.#frames++;
    this.#reference += theirs.length;
    this.#found += found;
    this.#false += mine.length - found;
    return { referenceFrame, reference: theirs.length, found, falseBoxes: mine.length - found };
  }

  summary(): CheckSummary {
    const r3 = (v: number): number => Math.round(v * 1000) / 1000;
    return {
      frames: this.#frames,
      reference_boxes: this.#reference,
      found: this.#found,
      recall: r3(this.#found / Math.max(1, this.#reference)),
      by_size: Object.fromEntries(SIZE_BANDS.map(([name], i) => {
        const b = this.#bands[i]!;
        return [name, { ...b, recall: r3(b.found / Math.max(1, b.boxes)) }];
      })),
      false_boxes: this.#false,
      false_boxes_per_10_frames: r3((this.#false * 10) / Math.max(1, this.#frames)),
      mean_iou: r3(this.#iouSum / Math.max(1, this.#found)),
    };
  }
}
