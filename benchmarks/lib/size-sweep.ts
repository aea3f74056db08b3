import { NON_MOTOR_CLASSES, VEHICLE_CLASSES } from '../../config/index.ts';
import { boxIou as iou, type Detection, type RgbFrame } from '../../detectors/index.ts';
import { cut, jpegRoundTrip, place, type ObjectPatch } from './small-objects.ts';
import { seededRandom as rng } from '../../core/index.ts';

/**
 * Kinds, as the rules use them: the parking rule's vehicles are one kind (it takes any of them),
 * and so are the non-motor rule's bicycles and motorcycles (an e-bike is seen as either); a
 * motorcycle is in both. Four-legged animals are one kind too (a horse at 20 px is as often a
 * sheep). Every other class is its own kind.
 */
const KINDS: readonly ReadonlySet<string>[] = [
  new Set(VEHICLE_CLASSES),
  new Set(NON_MOTOR_CLASSES),
  new Set(['dog', 'horse', 'sheep', 'cow', 'cat', 'bear', 'elephant', 'zebra', 'giraffe']),
];
export const sameKind = (a: string, b: string): boolean => a === b || KINDS.some((k) => k.has(a) && k.has(b));
/** Every label of the same kind as one of `labels`. */
export const kindsOf = (labels: Iterable<string>): Set<string> => {
  const out = new Set<string>();
  for (const l of labels) { out.add(l); for (const k of KINDS) if (k.has(l)) for (const m of k) out.add(m); }
  return out;
};

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
