import type { Detection, RgbFrame } from '../../detectors/index.ts';
import { cut, iou, jpegRoundTrip, place, rng, type ObjectPatch } from './small-objects.ts';

/**
 * Kinds, as the rules use them: vehicles are one kind (the parking rule takes any of them), and
 * four-legged animals one (a horse at 20 px is as often a sheep); every other class is its own.
 */
const KINDS: Record<string, string> = Object.fromEntries([
  ...['car', 'truck', 'bus', 'motorcycle'].map((c) => [c, 'vehicle']),
  ...['dog', 'horse', 'sheep', 'cow', 'cat', 'bear', 'elephant', 'zebra', 'giraffe'].map((c) => [c, 'animal']),
]);
export const kindOf = (label: string): string => KINDS[label] ?? label;
export const sameKind = (a: string, b: string): boolean => kindOf(a) === kindOf(b);

/**
 * How well the model finds an object by its size in model-input pixels: every object pasted at
 * each size into `trials` pieces of the background of the model's input size (run as they are, no
 * scaling), found = a detection of its kind at IoU ≥ 0.5. Returns recall per size.
 */
export async function sizeSweep(detect: (f: RgbFrame) => Promise<Detection[]>, bg: RgbFrame, objects: ObjectPatch[], inputSize: number, sizes: number[], trials = 3): Promise<{ size: number; recall: number; n: number }[]> {
  const r = rng(7);
  const out = [];
  for (const size of sizes) {
    let found = 0, n = 0;
    for (const obj of objects) {
      for (let t = 0; t < trials; t++) {
        const x0 = Math.floor(r() * (bg.width - inputSize)), y0 = Math.floor(r() * (bg.height - inputSize));
        const piece = cut(bg, [x0, y0, inputSize, inputSize]);
        const x = Math.floor(r() * (inputSize - size)), y = Math.floor(r() * (inputSize - size));
        const p = await place(piece, obj, size, x, y);
        const dets = await detect(await jpegRoundTrip(piece));
        n++;
        if (dets.some((d) => sameKind(d.label, p.label) && iou(d.box, p.box) >= 0.5)) found++;
      }
    }
    out.push({ size, recall: Math.round((found / n) * 1000) / 1000, n });
  }
  return out;
}
