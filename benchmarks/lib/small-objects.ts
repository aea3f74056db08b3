import sharp from 'sharp';
import { readImage, readVideo, type Detection, type RgbFrame } from '../../detectors/index.ts';

/**
 * Scenes of real objects at known small sizes, for the small-objects benchmark: the objects the
 * model finds at full size in real photos and footage, shrunk and placed into a real full-HD
 * background, then JPEG-compressed as a camera stream would be.
 */

export const DOG = '/usr/share/darknet/data/dog.jpg';
export const PERSON = '/usr/share/darknet/data/person.jpg';
export const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

export interface ObjectPatch {
  label: string;
  source: string;
  /** Score and box at full size, in the source picture. */
  score: number;
  box: [number, number, number, number];
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface PlacedObject {
  label: string;
  source: string;
  /** [left, top, width, height] in frame pixels. */
  box: [number, number, number, number];
}

export function cut(frame: RgbFrame, box: readonly number[]): RgbFrame {
  const x0 = Math.max(0, Math.round(box[0]!)), y0 = Math.max(0, Math.round(box[1]!));
  const w = Math.min(frame.width - x0, Math.round(box[2]!)), h = Math.min(frame.height - y0, Math.round(box[3]!));
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) rgb.set(frame.rgb.subarray(((y0 + y) * frame.width + x0) * 3, ((y0 + y) * frame.width + x0 + w) * 3), y * w * 3);
  return { width: w, height: h, rgb };
}

export async function resize(f: RgbFrame, width: number, height: number, kernel: 'lanczos3' | 'cubic' = 'lanczos3'): Promise<RgbFrame> {
  const data = await sharp(f.rgb, { raw: { width: f.width, height: f.height, channels: 3 } }).resize(width, height, { fit: 'fill', kernel }).raw().toBuffer();
  return { width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A JPEG round trip at the given quality, as a camera's encoder would leave the picture. */
export async function jpegRoundTrip(f: RgbFrame, quality = 85): Promise<RgbFrame> {
  const jpg = await sharp(f.rgb, { raw: { width: f.width, height: f.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  const { data } = await sharp(jpg).raw().toBuffer({ resolveWithObject: true });
  return { width: f.width, height: f.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

const edgeCut = (d: Detection, f: RgbFrame): boolean => d.box[0] < 2 || d.box[1] < 2 || d.box[0] + d.box[2] > f.width - 2 || d.box[1] + d.box[3] > f.height - 2;

/**
 * The objects the detector finds at full size (score ≥ `minScore`, not cut by the picture's edge):
 * in dog.jpg, person.jpg and `vtestFrames` frames of vtest.avi (people of at least 60 px, one
 * per 5 s so the same walker does not repeat often).
 */
export async function collectObjects(detect: (f: RgbFrame) => Promise<Detection[]>, opts: { minScore?: number; vtestFrames?: number } = {}): Promise<ObjectPatch[]> {
  const minScore = opts.minScore ?? 0.5;
  const out: ObjectPatch[] = [];
  const take = (f: RgbFrame, dets: Detection[], source: string, ok: (d: Detection) => boolean): void => {
    for (const d of dets) {
      if (d.score < minScore || edgeCut(d, f) || !ok(d)) continue;
      const p = cut(f, d.box);
      out.push({ label: d.label, source, score: d.score, box: d.box, ...p });
    }
  };
  for (const file of [DOG, PERSON]) {
    const img = await readImage(file);
    take(img, await detect(img), file.split('/').pop()!, () => true);
  }
  let n = 0;
  for await (const f of readVideo(VTEST, 0.2, opts.vtestFrames ?? 12)) {
    take(f, await detect(f), `vtest.avi@${n++ * 5}s`, (d) => d.box[3] >= 60);
  }
  return out;
}

/**
 * The empty plaza of vtest.avi: the per-pixel median of `frames` frames spread over the clip
 * (people walk through, the plaza stays), its middle 16:9 band scaled to `width`×`height`.
 */
export async function plazaBackground(width = 1920, height = 1080, frames = 25): Promise<RgbFrame> {
  const all: RgbFrame[] = [];
  for await (const f of readVideo(VTEST, frames / 79, frames)) all.push(f);
  const { width: w, height: h } = all[0]!;
  const med = new Uint8Array(w * h * 3);
  const vals = new Uint8Array(all.length);
  for (let i = 0; i < med.length; i++) {
    for (let k = 0; k < all.length; k++) vals[k] = all[k]!.rgb[i]!;
    vals.sort();
    med[i] = vals[vals.length >> 1]!;
  }
  const bandH = Math.round((w * 9) / 16);
  const band = cut({ width: w, height: h, rgb: med }, [0, Math.round((h - bandH) / 2), w, bandH]);
  return resize(band, width, height, 'cubic');
}

/** Pastes `patch` scaled so that its longer side is `size` px, with its top-left at (x, y). */
export async function place(frame: RgbFrame, patch: ObjectPatch, size: number, x: number, y: number): Promise<PlacedObject> {
  const k = size / Math.max(patch.width, patch.height);
  const w = Math.max(1, Math.round(patch.width * k));
  const h = Math.max(1, Math.round(patch.height * k));
  const small = await resize(patch, w, h);
  for (let r = 0; r < h; r++) frame.rgb.set(small.rgb.subarray(r * w * 3, (r + 1) * w * 3), ((y + r) * frame.width + x) * 3);
  return { label: patch.label, source: patch.source, box: [x, y, w, h] };
}

/** Intersection over the smaller box's area. */
export function ios(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[0]! + a[2]!, b[0]! + b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[1]! + a[3]!, b[1]! + b[3]!) - Math.max(a[1]!, b[1]!);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min(a[2]! * a[3]!, b[2]! * b[3]!);
}

