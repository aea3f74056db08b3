import type { Detection } from '../types.ts';
import { iou } from '../rules/box.ts';

export interface AgreementResult { fp32Boxes: number; matched: number; share: number }

/** Share of fp32's boxes (already above the score threshold) that int8 finds too: same class, IoU ≥ minIou, each int8 box used once. */
export function agreement(pairs: readonly { fp32: Detection[]; int8: Detection[] }[], minIou = 0.5): AgreementResult {
  let fp32Boxes = 0, matched = 0;
  for (const { fp32, int8 } of pairs) {
    const used = new Set<number>();
    for (const d of [...fp32].sort((a, b) => b.score - a.score)) {
      fp32Boxes++;
      let best = -1, bestIou = minIou;
      int8.forEach((e, i) => { if (!used.has(i) && e.classId === d.classId) { const v = iou(d.box, e.box); if (v >= bestIou) { bestIou = v; best = i; } } });
      if (best >= 0) { used.add(best); matched++; }
    }
  }
  return { fp32Boxes, matched, share: fp32Boxes ? matched / fp32Boxes : 1 };
}
