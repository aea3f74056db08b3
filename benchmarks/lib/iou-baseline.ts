import { boxIou, greedyMatch, type MotDetections } from '../../detectors/index.ts';
import type { FlaggedBoxes } from './roadtrack.ts';

type Box = [number, number, number, number];

interface Track {
  boxes: { frame: number; box: Box }[];
  lastFrame: number;
  flagged: [number, number, number, number, number][] | null;
  flagBox: Box | null;
}

/**
 * The naive baseline of the data set's README, for side-by-side figures: an IoU tracker
 * (greedy, IoU ≥ 0.3, a track kept 1 s unseen); a track whose box keeps IoU > 0.85 with its
 * current box over the last `windowFrames` frames is stopped, and flagged from then on while it
 * stays on that box.
 */
export function iouBaseline(dets: MotDetections, opts: { windowFrames: number; every: number; fps: number }): FlaggedBoxes[] {
  const tracks: Track[] = [];
  const done: FlaggedBoxes[] = [];
  const maxAge = Math.max(opts.fps, 2 * opts.every);
  for (let f = dets.first; f <= dets.last; f += opts.every) {
    const boxes = (dets.frames.get(f) ?? []).map((d) => d.box);
    const pairs: { t: Track; i: number; o: number }[] = [];
    for (const t of tracks) {
      const last = t.boxes[t.boxes.length - 1]!.box;
      boxes.forEach((b, i) => { const o = boxIou(last, b); if (o >= 0.3) pairs.push({ t, i, o }); });
    }
    const usedB = greedyMatch(pairs, (a, b) => b.o - a.o, (p) => p.t, (p) => p.i, (p) => step(p.t, f, boxes[p.i]!, opts.windowFrames));
    boxes.forEach((b, i) => { if (!usedB.has(i)) tracks.push({ boxes: [{ frame: f, box: b }], lastFrame: f, flagged: null, flagBox: null }); });
    for (let k = tracks.length - 1; k >= 0; k--) {
      if (f - tracks[k]!.lastFrame > maxAge) { const [t] = tracks.splice(k, 1); if (t!.flagged) done.push(t!.flagged); }
    }
  }
  for (const t of tracks) if (t.flagged) done.push(t.flagged);
  return done;
}

function step(t: Track, frame: number, box: Box, windowFrames: number): void {
  t.boxes.push({ frame, box });
  t.lastFrame = frame;
  while (t.boxes.length > 2 && frame - t.boxes[1]!.frame >= windowFrames) t.boxes.shift();
  if (t.flagged) {
    if (boxIou(box, t.flagBox!) >= 0.5) t.flagged.push([frame, ...box]);
    return;
  }
  if (frame - t.boxes[0]!.frame < windowFrames) return;
  if (t.boxes.every((b) => boxIou(b.box, box) > 0.85)) {
    t.flagged = [[frame, ...box]];
    t.flagBox = box;
  }
}
