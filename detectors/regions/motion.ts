import type { RgbFrame } from '../model/preprocess.ts';
import type { Rect } from './plan.ts';

/**
 * Where the picture changed, at a resolution that sees a 12 px object in a full-HD frame (the
 * gate's 32×24 thumbnail averages it away): a grey map of 4×4-pixel block means, compared with
 * the camera's previous one.
 */
export const MOTION_BLOCK = 4;
/** Grey levels a block mean must change by; H.264 and JPEG noise on a still scene stays under 10. */
export const MOTION_THRESHOLD = 20;
/** Above this share of changed blocks the change is light or the camera moving, not objects: no change regions. */
const MAX_CHANGED_SHARE = 0.3;
const MAX_REGIONS = 64;

export interface GreyMap {
  width: number;
  height: number;
  data: Uint8Array;
}

export function greyMap(frame: RgbFrame): GreyMap {
  const mw = Math.ceil(frame.width / MOTION_BLOCK);
  const mh = Math.ceil(frame.height / MOTION_BLOCK);
  const sums = new Uint32Array(mw * mh);
  const counts = new Uint16Array(mw * mh);
  const { width, height, rgb } = frame;
  for (let y = 0; y < height; y++) {
    const row = ((y / MOTION_BLOCK) | 0) * mw;
    let i = y * width * 3;
    for (let x = 0; x < width; x++, i += 3) {
      const m = row + ((x / MOTION_BLOCK) | 0);
      sums[m]! += rgb[i]! + 2 * rgb[i + 1]! + rgb[i + 2]!;
      counts[m]!++;
    }
  }
  const data = new Uint8Array(mw * mh);
  for (let m = 0; m < data.length; m++) data[m] = Math.round(sums[m]! / (4 * counts[m]!));
  return { width: mw, height: mh, data };
}

/**
 * Boxes (frame pixels) around groups of changed blocks: blocks within one block of each other
 * join one group; a group of a single block is noise. Largest groups first, at most 64.
 */
export function changeBoxes(prev: GreyMap, cur: GreyMap, frameWidth: number, frameHeight: number): Rect[] {
  if (prev.width !== cur.width || prev.height !== cur.height) return [];
  const { width: mw, height: mh } = cur;
  const n = mw * mh;
  const changed = new Uint8Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) if (Math.abs(cur.data[i]! - prev.data[i]!) > MOTION_THRESHOLD) { changed[i] = 1; count++; }
  if (count === 0 || count > n * MAX_CHANGED_SHARE) return [];
  const seen = new Uint8Array(n);
  const stack: number[] = [];
  const groups: { box: Rect; blocks: number }[] = [];
  for (let start = 0; start < n; start++) {
    if (!changed[start] || seen[start]) continue;
    seen[start] = 1;
    stack.push(start);
    let x0 = mw, y0 = mh, x1 = -1, y1 = -1, blocks = 0;
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % mw, y = (i / mw) | 0;
      blocks++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      // Neighbours within two blocks, so a gap of one unchanged block does not split an object.
      for (let dy = -2; dy <= 2; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= mh) continue;
        for (let dx = -2; dx <= 2; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= mw) continue;
          const j = yy * mw + xx;
          if (changed[j] && !seen[j]) { seen[j] = 1; stack.push(j); }
        }
      }
    }
    if (blocks < 2) continue;
    const bx = x0 * MOTION_BLOCK, by = y0 * MOTION_BLOCK;
    groups.push({ box: { x: bx, y: by, w: Math.min(frameWidth, (x1 + 1) * MOTION_BLOCK) - bx, h: Math.min(frameHeight, (y1 + 1) * MOTION_BLOCK) - by }, blocks });
  }
  return groups.sort((a, b) => b.blocks - a.blocks).slice(0, MAX_REGIONS).map((g) => g.box);
}
