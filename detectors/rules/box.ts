/** Boxes are [left, top, width, height] in image pixels. */

/** Intersection over union of two boxes; 0 when they do not overlap. */
export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[0]! + a[2]!, b[0]! + b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[1]! + a[3]!, b[1]! + b[3]!) - Math.max(a[1]!, b[1]!);
  if (w <= 0 || h <= 0) return 0;
  const i = w * h;
  return i / (a[2]! * a[3]! + b[2]! * b[3]! - i);
}

/** The bottom-centre of a box: where a vehicle or a stall stands on the ground. */
export const bottomCentre = (b: readonly number[]): [number, number] => [b[0]! + b[2]! / 2, b[1]! + b[3]!];
