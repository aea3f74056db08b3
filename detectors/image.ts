import sharp from 'sharp';
import { FrameInvalidError } from './errors.ts';
import type { RgbFrame } from './model/preprocess.ts';

/** Decodes an image file (JPEG, PNG, WebP…) to packed RGB with sharp. */
export async function readImage(file: string): Promise<RgbFrame> {
  try {
    const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after decoding`);
    return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (cause) {
    throw new FrameInvalidError(`cannot decode image ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, details: { file } });
  }
}
