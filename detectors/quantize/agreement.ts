import type { Detection } from '../types.ts';
import { iou } from '../rules/box.ts';

export interface AgreementResult {
  fp32Boxes: number;
  matched: number;
  /** matched / fp32Boxes: what int8 keeps of fp32's boxes */
  share: number;
  int8Boxes: number;
  /** int8's boxes that match none of fp32's: what int8 adds (a false box fp32 did not draw, or a class changed) */
  extra: number;
  /** extra / fp32Boxes */
  extraShare: number;
}

/**
 * Share of fp32's boxes (already above the score threshold) that int8 finds too: same class,
 * IoU ≥ minIou, each int8 box used once; and the boxes int8 adds, which that share cannot see.
 */
export function agreement(pairs: readonly { fp32: Detection[]; int8: Detection[] }[], minIou = 0.5): AgreementResult {
  let fp32Boxes = 0, matched = 0, int8Boxes = 0;
  for (const { fp32, int8 } of pairs) {
    int8Boxes += int8.length;
    const used = new Set<number>();
    for (const d of [...fp32].sort((a, b) => b.score - a.score)) {
      fp32Boxes++;
      let best = -1, bestIou = minIou;
      int8.forEach((e, i) => { if (!used.has(i) && e.classId === d.classId) { const v = iou(d.box, e.box); if (v >= bestIou) { bestIou = v; best = i; } } });
      if (best >= 0) { used.add(best); matched++; }
    }
  }
  const extra = int8Boxes - matched;
  return { fp32Boxes, matched, share: fp32Boxes ? matched / fp32Boxes : 1, int8Boxes, extra, extraShare: fp32Boxes ? extra / fp32Boxes : extra > 0 ? Infinity : 0 };
}
