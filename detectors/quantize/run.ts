/**
 * The set-up step behind `gridwatch model quantize`: calibration frames, the quantised file,
 * and the agreement check on frames calibration did not see.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Detector, type DetectorOptions } from '../model/detector.ts';
import type { RgbFrame } from '../model/preprocess.ts';
import { readImage } from '../image.ts';
import { readVideo } from '../video.ts';
import { agreement, type AgreementResult } from './agreement.ts';

export const STREET_CLIP = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
export const DARKNET_IMAGES = '/usr/share/darknet/data';

function images(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().map((f) => join(dir, f)) : [];
}

/** Calibration: darknet's photos and 40 frames of the street clip at 0.5 fps (frames 0, 2 s, 4 s …). */
export async function* calibrationFrames(clip = STREET_CLIP, imageDir = DARKNET_IMAGES): AsyncGenerator<RgbFrame> {
  for (const f of images(imageDir)) yield await readImage(f);
  if (existsSync(clip)) yield* readVideo(clip, 0.5, 40);
}

/** Agreement frames: the photos and 100 frames of the clip at 3 fps (mostly frames calibration did not see). */
export async function* agreementFrames(clip = STREET_CLIP, imageDir = DARKNET_IMAGES): AsyncGenerator<RgbFrame> {
  for (const f of images(imageDir)) yield await readImage(f);
  if (existsSync(clip)) yield* readVideo(clip, 3, 100);
}

/** The frames cut to 16:9 (centre), so that they run on the wide input. */
export async function* sixteenByNine(frames: AsyncIterable<RgbFrame>): AsyncGenerator<RgbFrame> {
  for await (const f of frames) {
    const h = Math.round((f.width * 9) / 16), y0 = Math.floor((f.height - h) / 2);
    yield { width: f.width, height: h, rgb: f.rgb.slice(y0 * f.width * 3, (y0 + h) * f.width * 3) };
  }
}

export interface VerifyInt8Result extends AgreementResult { frames: number; fp32MsPerFrame: number; int8MsPerFrame: number }

/** Runs fp32 and int8 on the same frames; share of fp32 boxes (above the score threshold) int8 also finds at IoU ≥ 0.5. */
export async function verifyInt8(fp32: DetectorOptions, int8: DetectorOptions, frames: AsyncIterable<RgbFrame> = agreementFrames()): Promise<VerifyInt8Result> {
  const a = await Detector.load(fp32);
  const b = await Detector.load(int8);
  const pairs = [];
  let ta = 0, tb = 0;
  try {
    for await (const fr of frames) {
      const x = await a.detect(fr);
      const y = await b.detect(fr);
      ta += x.inferenceMs; tb += y.inferenceMs;
      pairs.push({ fp32: x.detections, int8: y.detections });
    }
  } finally {
    await a.release(); await b.release();
  }
  const n = Math.max(1, pairs.length);
  return { ...agreement(pairs), frames: pairs.length, fp32MsPerFrame: ta / n, int8MsPerFrame: tb / n };
}
