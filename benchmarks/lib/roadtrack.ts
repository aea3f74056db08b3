import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { boxIou, readMot, type MotDetections } from '../../detectors/index.ts';

type Box = [number, number, number, number];
/** A flagged vehicle's boxes: [frame, left, top, width, height]. */
export type FlaggedBoxes = readonly (readonly [number, number, number, number, number])[];

export interface RoadCamera {
  image_size: [number, number];
  homography: { image: [number, number][]; ground: [number, number][] };
}

export interface RoadSequence {
  name: string;
  /** P: a vehicle stops; N: normal traffic. */
  kind: 'P' | 'N';
  camera: string;
  dets: MotDetections;
  /** Ground-truth stopped vehicles: track id → frame → box. */
  gt: Map<number, Map<number, Box>>;
}

/**
 * Reads a folder in the layout of RoadTrack's development split (`P/<seq>/det.txt`, `gt.txt`,
 * `N/<seq>/det.txt`, `cameras.json`). A sequence's camera is the camera id its name contains.
 */
export function readRoadtrack(dir: string): { cameras: Record<string, RoadCamera>; sequences: RoadSequence[] } {
  const cameras = JSON.parse(readFileSync(join(dir, 'cameras.json'), 'utf8')) as Record<string, RoadCamera>;
  const ids = Object.keys(cameras);
  const sequences: RoadSequence[] = [];
  for (const kind of ['P', 'N'] as const) {
    const root = join(dir, kind);
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      const camera = ids.find((id) => name.split('_').includes(id));
      if (!camera) throw new Error(`${join(root, name)}: no camera of cameras.json (${ids.join(', ')}) in the sequence name`);
      const gtFile = join(root, name, 'gt.txt');
      sequences.push({ name, kind, camera, dets: readMot(join(root, name, 'det.txt')), gt: existsSync(gtFile) ? readGt(gtFile) : new Map() });
    }
  }
  return { cameras, sequences };
}

function readGt(file: string): Map<number, Map<number, Box>> {
  const gt = new Map<number, Map<number, Box>>();
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const c = line.trim().split(/[,\s]+/).map(Number);
    if (c.length < 6 || !c.slice(0, 6).every(Number.isFinite)) continue;
    const [frame, id, l, t, w, h] = c as [number, number, number, number, number, number];
    if (!gt.has(id)) gt.set(id, new Map());
    gt.get(id)!.set(frame, [l, t, w, h]);
  }
  return gt;
}


export interface Score {
  tp: number;
  fn: number;
  fp: number;
  precision: number;
  recall: number;
  f1: number;
  /** Median over found vehicles of the index, within its ground-truth frames, of the first frame found. */
  latency_frames: number;
  latency_frames_mean: number;
  /** Flagged vehicles that mostly lie on a found vehicle, per found vehicle: 1 when none is split. */
  violations_per_found_vehicle: number;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * The data set's protocol. A ground-truth vehicle is found when at least 20% of its frames have a
 * flagged box at IoU ≥ 0.5; a flagged vehicle is a false positive when fewer than 90% of its
 * flagged frames overlap a ground-truth box at IoU ≥ 0.5. `sampled(frame)` says which frames the
 * rule was fed: with thinned samples only those frames can hold a flagged box, so only they count.
 */
export function scoreProtocol(runs: readonly { seq: RoadSequence; flagged: readonly FlaggedBoxes[] }[], sampled: (seq: RoadSequence, frame: number) => boolean): Score {
  let tp = 0, fn = 0, fp = 0, onFound = 0;
  const latencies: number[] = [];
  for (const { seq, flagged } of runs) {
    const byFrame = new Map<number, Box[]>();
    for (const f of flagged) for (const [fr, ...b] of f) (byFrame.get(fr) ?? byFrame.set(fr, []).get(fr)!).push(b as Box);
    const found = new Set<number>();
    for (const [id, frames] of seq.gt) {
      const gtFrames = [...frames.keys()].sort((a, b) => a - b);
      const counted = gtFrames.filter((fr) => sampled(seq, fr));
      const hit = (fr: number): boolean => (byFrame.get(fr) ?? []).some((b) => boxIou(b, frames.get(fr)!) >= 0.5);
      const hits = counted.filter(hit).length;
      if (counted.length > 0 && hits >= 0.2 * counted.length) {
        tp++;
        found.add(id);
        latencies.push(gtFrames.findIndex(hit));
      } else {
        fn++;
      }
    }
    for (const f of flagged) {
      if (f.length === 0) continue;
      const onGt = f.filter(([fr, ...b]) => [...seq.gt.values()].some((m) => m.has(fr) && boxIou(b, m.get(fr)!) >= 0.5)).length;
      if (onGt < 0.9 * f.length) fp++;
      // Which found vehicle it mostly lies on, if any: counts the splits of one vehicle.
      for (const id of found) {
        const m = seq.gt.get(id)!;
        if (f.filter(([fr, ...b]) => m.has(fr) && boxIou(b, m.get(fr)!) >= 0.5).length >= 0.5 * f.length) { onFound++; break; }
      }
    }
  }
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  latencies.sort((a, b) => a - b);
  return {
    tp, fn, fp,
    precision: round3(precision), recall: round3(recall), f1: round3(precision + recall ? (2 * precision * recall) / (precision + recall) : 0),
    latency_frames: latencies.length ? latencies[Math.floor(latencies.length / 2)]! : Number.NaN,
    latency_frames_mean: latencies.length ? round3(latencies.reduce((a, b) => a + b, 0) / latencies.length) : Number.NaN,
    violations_per_found_vehicle: tp ? round3(onFound / tp) : Number.NaN,
  };
}
