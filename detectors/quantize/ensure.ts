/**
 * The int8 model in a data folder, made once per machine: quantising takes ~8 s of CPU
 * (calibration runs 47 frames through the network), and every new data folder (a test, a bench
 * run, a second node on one host) would pay it again. The result is kept in a model cache keyed by
 * the quantiser's version and copied from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { int8ModelPath, modelCacheDir, NANODET_INT8_VERSION, wideModelPath, writeModelFile, yolov5sModelPath, yolov5sNet, YOLOV5S_INT8_VERSION } from '../convert/index.ts';
import { quantizeFile } from './calibrate.ts';
import { calibrationFrames } from './run.ts';

export { modelCacheDir };

/** Where the cache keeps the files of one quantiser version. */
function cacheFolder(cacheDir: string, version = NANODET_INT8_VERSION): string {
  return join(cacheDir, version.replace(/[^A-Za-z0-9._-]+/g, '_'));
}

const copyModelFile = (from: string, to: string): void => writeModelFile(to, readFileSync(from));

/** The built-in models' int8 files (square and wide) and how to make them. */
const INT8 = {
  'nanodet-g-416': { version: () => NANODET_INT8_VERSION, files: (d: string) => [int8ModelPath(d), wideModelPath(d, 'int8')], net: () => undefined },
  yolov5s: { version: () => YOLOV5S_INT8_VERSION, files: (d: string) => [yolov5sModelPath(d, false, 'int8'), yolov5sModelPath(d, true, 'int8')], net: () => yolov5sNet() },
} as const;

/**
 * Makes sure the data folder holds a built-in model's int8 files (square and wide, NanoDet-g
 * unless `model` says yolov5s): from the cache, or quantised into the cache first. Returns where
 * they came from. Two processes at once may both quantise; each file is renamed into place
 * whole, so neither sees half of one.
 */
export async function ensureInt8Model(dataDir: string, cacheDir = modelCacheDir(), model: keyof typeof INT8 = 'nanodet-g-416'): Promise<'present' | 'cache' | 'quantized'> {
  const m = INT8[model];
  const files = m.files(dataDir);
  if (files.every((f) => existsSync(f))) return 'present';
  const cached = files.map((f) => join(cacheFolder(cacheDir, m.version()), basename(f)));
  let from: 'cache' | 'quantized' = 'cache';
  if (!cached.every((f) => existsSync(f))) {
    await quantizeFile(cached[0]!, calibrationFrames(), { wideOut: cached[1]!, net: m.net() });
    from = 'quantized';
  }
  files.forEach((f, i) => copyModelFile(cached[i]!, f));
  return from;
}

/** Keeps freshly quantised files of a data folder in the cache, for the next data folder. */
export function cacheInt8Model(dataDir: string, cacheDir = modelCacheDir(), model: keyof typeof INT8 = 'nanodet-g-416'): void {
  const m = INT8[model];
  for (const f of m.files(dataDir)) if (existsSync(f)) copyModelFile(f, join(cacheFolder(cacheDir, m.version()), basename(f)));
}
