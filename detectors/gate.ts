/** A small greyscale thumbnail of a frame, for change gating. */
export const THUMB_W = 32;
export const THUMB_H = 24;

/**
 * Averages a 4x4 grid of points in each thumbnail cell: about 12k reads for any frame size,
 * so gating costs well under a millisecond on the main thread.
 */
export function thumbnail(width: number, height: number, rgb: Uint8Array, out: Float32Array = new Float32Array(THUMB_W * THUMB_H)): Float32Array {
  for (let ty = 0; ty < THUMB_H; ty++) {
    for (let tx = 0; tx < THUMB_W; tx++) {
      let sum = 0;
      for (let sy = 0; sy < 4; sy++) {
        const y = Math.min(height - 1, Math.floor(((ty + (sy + 0.5) / 4) * height) / THUMB_H));
        for (let sx = 0; sx < 4; sx++) {
          const x = Math.min(width - 1, Math.floor(((tx + (sx + 0.5) / 4) * width) / THUMB_W));
          const i = (y * width + x) * 3;
          sum += 0.299 * rgb[i]! + 0.587 * rgb[i + 1]! + 0.114 * rgb[i + 2]!;
        }
      }
      out[ty * THUMB_W + tx] = sum / 16;
    }
  }
  return out;
}

/** Grey levels a thumbnail cell must change by to count as changed. */
const CELL_CHANGE = 10;

/** Share of thumbnail cells that changed by more than CELL_CHANGE grey levels, 0..1. */
export function thumbDiff(a: Float32Array, b: Float32Array): number {
  let changed = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > CELL_CHANGE) changed++;
  return changed / a.length;
}
