/**
 * The int8 model in a data folder, made once per machine: quantising takes ~8 s of CPU
 * (calibration runs 47 frames through the network), and every new data folder (a test, a bench
 * run, a second node on one host) would pay it again. The result is kept in a model cache keyed by
 * the quantiser's version and copied from there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { int8ModelPath, modelCacheDir, NANODET_INT8_VERSION, wideModelPath, writeModelFile } from '../convert/index.ts';

export { modelCacheDir };
import { quantizeFile } from './calibrate.ts';
import { calibrationFrames } from './run.ts';


/** Where the cache keeps the files of this quantiser version. */
function cacheFolder(cacheDir: string): string {
  return join(cacheDir, NANODET_INT8_VERSION.replace(/[^A-Za-z0-9._-]+/g, '_'));
}

const copyModelFile = (from: string, to: string): void => writeModelFile(to, readFileSync(from));

/**
 * Makes sure the data folder holds the int8 models (square and wide): from the cache, or
 * quantised into the cache first. Returns where they came from. Two processes at once may both
 * quantise; each file is renamed into place whole, so neither sees half of one.
 */
export async function ensureInt8Model(dataDir: string, cacheDir = modelCacheDir()): Promise<'present' | 'cache' | 'quantized'> {
  const files = [int8ModelPath(dataDir), wideModelPath(dataDir, 'int8')];
  if (files.every((f) => existsSync(f))) return 'present';
  const cached = files.map((f) => join(cacheFolder(cacheDir), basename(f)));
  let from: 'cache' | 'quantized' = 'cache';
  if (!cached.every((f) => existsSync(f))) {
    await quantizeFile(cached[0]!, calibrationFrames(), { wideOut: cached[1]! });
    from = 'quantized';
  }
  files.forEach((f, i) => copyModelFile(cached[i]!, f));
  return from;
}

/** Keeps freshly quantised files of a data folder in the cache, for the next data folder. */
export function cacheInt8Model(dataDir: string, cacheDir = modelCacheDir()): void {
  for (const f of [int8ModelPath(dataDir), wideModelPath(dataDir, 'int8')]) if (existsSync(f)) copyModelFile(f, join(cacheFolder(cacheDir), basename(f)));
}
