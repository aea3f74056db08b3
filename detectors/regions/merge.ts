import { VEHICLE_CLASSES } from '../../config/index.ts';
import type { Detection } from '../types.ts';
import type { Crop, RegionSettings } from './plan.ts';

const VEHICLES = new Set(VEHICLE_CLASSES);
/** Vehicles are one kind: a van that one crop calls a car and another a truck is one vehicle. */
const kind = (label: string): string => (VEHICLES.has(label) ? 'vehicle' : label);
/**
 * Two boxes of different kinds this close are one thing called two names (a stone a person in
 * one crop and a truck in another); a person on a bicycle or beside a cart overlaps it less.
 */
const SAME_THING_IOU = 0.7;

/**
 * Boxes found in crops whose longer side is under this share of the camera's `min_object_px` are
 * dropped: the camera looks for nothing that small, and in a crop upscaled 3× the texture of a
 * real picture passes for tiny people. Where the objects are real footage at their own
 * resolution (vtest.avi scaled to a third, its walkers 9–40 px, in a 640×540 frame, at 1 fps
 * against YOLOv5s fp32 at full size), NanoDet-g's crops drew 437 boxes the reference does not
 * have, 40% of them under 10 px; with this share 260, at recall 0.985 → 0.974 (reference boxes
 * under 12 px: 8 → 4 of 9). A 12 px object matched at IoU ≥ 0.5 may be boxed as small as 8.5 px:
 * small-objects recall at 12–24 px is unchanged in eight seeds of nine (one object fewer in one).
 */
export const SMALLEST_BOX_SHARE = 0.8;

/** Whether a crop's detection is kept: a box found in a crop needs a longer side of SMALLEST_BOX_SHARE × `minObjectPx`, a vehicle the camera's least score too. */
export function keptFromCrop(d: CropDetection, crop: Crop, settings: Pick<RegionSettings, 'cropVehicleMinScore' | 'minObjectPx'>): boolean {
  if (crop.why === 'whole') return true;
  if (Math.max(d.box[2], d.box[3]) < SMALLEST_BOX_SHARE * settings.minObjectPx) return false;
  return !VEHICLES.has(d.label) || d.score >= settings.cropVehicleMinScore;
}

/** A crop's detection in frame pixels; `cut` when it touches an edge of its crop that is not the frame's. */
export interface CropDetection extends Detection {
  cut: boolean;
}

/** Maps a crop's detections (crop pixels) to frame pixels, marking those its inner edges cut. */
export function toFrame(dets: readonly Detection[], crop: Crop, frameWidth: number, frameHeight: number): CropDetection[] {
  // Within 2 model-input pixels of an edge counts as touching it.
  const eps = 2 / crop.scale;
  return dets.map((d) => {
    const [l, t, w, h] = d.box;
    const x = crop.x + l, y = crop.y + t;
    const cut = crop.why !== 'whole' && (
      (crop.x > 0 && l <= eps) || (crop.y > 0 && t <= eps) ||
      (crop.x + crop.w < frameWidth && l + w >= crop.w - eps) || (crop.y + crop.h < frameHeight && t + h >= crop.h - eps));
    return { ...d, box: [round1(x), round1(y), w, h], cut };
  });
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

function overlap(a: Detection['box'], b: Detection['box']): { iou: number; ios: number } {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return { iou: 0, ios: 0 };
  const i = w * h, aa = a[2] * a[3], ab = b[2] * b[3];
  return { iou: i / (aa + ab - i), ios: i / Math.min(aa, ab) };
}

const union = (a: Detection['box'], b: Detection['box']): Detection['box'] => {
  const x = Math.min(a[0], b[0]), y = Math.min(a[1], b[1]);
  return [x, y, round1(Math.max(a[0] + a[2], b[0] + b[2]) - x), round1(Math.max(a[1] + a[3], b[1] + b[3]) - y)];
};

/**
 * One detection per object over all crops and the whole frame, best score first. Two boxes of
 * one kind (vehicles are one kind) are one object when they overlap at IoU ≥ `iou`, or when one
 * is cut by its crop's edge and lies mostly (≥ 60% of the smaller; 30% when both are cut) inside
 * the other: then the box not cut wins, and two cut boxes join into their union (a car across a
 * tile edge, seen half in each tile). Boxes of different kinds are one object at IoU ≥ 0.7. The
 * kept detection takes the label and score of the best-scored one.
 */
export function mergeDetections(all: CropDetection[], iou: number, max: number): Detection[] {
  const order = [...all].sort((a, b) => b.score - a.score);
  const kept: CropDetection[] = [];
  for (const d of order) {
    const k = kind(d.label);
    let merged = false;
    for (const m of kept) {
      const o = overlap(m.box, d.box);
      if (kind(m.label) !== k) {
        if (o.iou >= SAME_THING_IOU) { merged = true; break; }
        continue;
      }
      // Two halves of one car, each cut by its own tile, overlap only where the tiles do.
      const same = o.iou >= iou || (m.cut && d.cut ? o.ios >= 0.3 : (m.cut || d.cut) && o.ios >= 0.6);
      if (!same) continue;
      merged = true;
      if (m.cut && !d.cut) { m.box = d.box; m.cut = false; }
      else if (m.cut && d.cut) m.box = union(m.box, d.box);
      break;
    }
    if (!merged && kept.length < max) kept.push({ ...d });
  }
  return kept.map(({ cut: _cut, ...d }) => d);
}
