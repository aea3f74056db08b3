import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelT } from '../../config/index.ts';
import { defaultModelPath, int8ModelPath, NANODET_INT8_VERSION, NANODET_NAME, NANODET_VERSION, wideModelPath, yolov5sModelPath, YOLOV5S_INT8_VERSION, YOLOV5S_NAME, YOLOV5S_VERSION } from '../convert/index.ts';
import { FrameInvalidError, ModelLoadError } from '../errors.ts';
import type { Detection, ModelType } from '../types.ts';
import { createAdapter, type ModelAdapter, type TensorInfo } from './adapters.ts';
import { COCO_CLASSES } from './coco.ts';
import { Preprocessor, type RgbFrame } from './preprocess.ts';

/** Everything needed to load a detector; plain data, so it can be posted to a worker. */
export interface DetectorOptions {
  type: ModelType;
  path: string;
  /** The same model converted for other input shapes (same longest side); see Detector. */
  variants?: string[];
  name: string;
  /** Version label; the file's content hash when not configured. */
  version?: string;
  inputSize?: number;
  resize?: 'letterbox' | 'stretch';
  classes: string[];
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
  intraOpThreads: number;
}

/**
 * Turns the `detectors.model` config section into detector options. Without a `path` the model
 * is a built-in one: NanoDet-g 416 (any type but yolov5) or, with `type: yolov5`, YOLOv5s; each
 * int8 or fp32, with its 416×256 variant unless `wide_input` is off.
 */
export function detectorOptions(model: Omit<ModelT, 'precision' | 'wide_input'> & Partial<Pick<ModelT, 'precision' | 'wide_input'>>, dataDir: string, intraOpThreads = 1): DetectorOptions {
  const builtIn = model.path === undefined ? (model.type === 'yolov5' ? 'yolov5s' : 'nanodet') : undefined;
  const int8 = builtIn !== undefined && model.precision === 'int8';
  const wide = model.wide_input !== false;
  let path = model.path, variants = model.variants ?? [], name = model.name, version = model.version;
  if (builtIn === 'nanodet') {
    path = int8 ? int8ModelPath(dataDir) : defaultModelPath(dataDir);
    variants = wide ? [wideModelPath(dataDir, int8 ? 'int8' : 'fp32')] : [];
    name ??= NANODET_NAME;
    version ??= int8 ? NANODET_INT8_VERSION : NANODET_VERSION;
  } else if (builtIn === 'yolov5s') {
    const precision = int8 ? 'int8' : 'fp32';
    path = yolov5sModelPath(dataDir, false, precision);
    variants = wide ? [yolov5sModelPath(dataDir, true, precision)] : [];
    name ??= YOLOV5S_NAME;
    version ??= int8 ? YOLOV5S_INT8_VERSION : YOLOV5S_VERSION;
  }
  return {
    type: model.type,
    path: path!,
    ...(variants.length ? { variants } : {}),
    name: name ?? basename(path!, extname(path!)),
    version,
    inputSize: model.input_size,
    resize: model.resize,
    classes: model.classes ?? [...COCO_CLASSES],
    scoreThreshold: model.score_threshold,
    iouThreshold: model.iou_threshold,
    maxDetections: 100,
    intraOpThreads,
  };
}

/** One input shape of the model: its session, adapter, preallocated input and outputs. */
class Head {
  readonly adapter: ModelAdapter;
  readonly session: ort.InferenceSession;
  readonly pre: Preprocessor;
  readonly tensor: ort.Tensor;
  /** log(width / height) of the input: frames go to the head nearest their own. */
  readonly logAspect: number;
  /**
   * The outputs, allocated once when their shapes are fixed: onnxruntime writes into them, so an
   * inference allocates no 1.8 MB of outputs (NanoDet-g 416) for the collector. Null otherwise.
   */
  readonly fetches: Record<string, ort.Tensor> | null;

  constructor(session: ort.InferenceSession, adapter: ModelAdapter, resize: 'letterbox' | 'stretch' | undefined) {
    this.session = session;
    this.adapter = adapter;
    this.pre = new Preprocessor(adapter.inputWidth, adapter.inputHeight, resize ?? adapter.defaultResize, adapter.norm);
    this.tensor = new ort.Tensor('float32', this.pre.input, [1, 3, adapter.inputHeight, adapter.inputWidth]);
    this.logAspect = Math.log(adapter.inputWidth / adapter.inputHeight);
    const outputs = session.outputMetadata;
    const fixed = outputs.every((m) => m.isTensor && m.type === 'float32' && m.shape.every((d) => typeof d === 'number' && d > 0));
    this.fetches = fixed ? Object.fromEntries(outputs.map((m) => {
      const dims = (m as ort.InferenceSession.TensorValueMetadata).shape as readonly number[];
      return [m.name, new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims)];
    })) : null;
  }

  static async load(opts: DetectorOptions, path: string): Promise<Head> {
    if (!existsSync(path)) {
      const hint = opts.name === NANODET_NAME ? '; run `gridwatch model convert` / `gridwatch model quantize` (or `npm run setup`)' : opts.name === YOLOV5S_NAME ? '; run `gridwatch model convert --model yolov5s` / `gridwatch model quantize --model yolov5s` (or `npm run setup`)' : '';
      throw new ModelLoadError(`model file ${path} is missing${hint}`, { details: { path } });
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, {
        intraOpNumThreads: opts.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (cause) {
      throw new ModelLoadError(`model file ${path} cannot be loaded by onnxruntime: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`, { cause, details: { path } });
    }
    const info = (list: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] =>
      list.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] }));
    try {
      return new Head(session, createAdapter(opts.type, path, info(session.inputMetadata), info(session.outputMetadata), opts.classes.length, opts.inputSize), opts.resize);
    } catch (err) {
      await session.release();
      throw err;
    }
  }
}

/**
 * One model, with one onnxruntime session per input shape: the main file, and any `variants`
 * (the same network converted for another input shape, e.g. NanoDet-g at 416×256). Each frame
 * or crop runs on the shape nearest its own aspect ratio that is not wider than it (#headFor), so
 * a 16:9 frame is not stretched into a square: the wide input does 0.61× the work of the square
 * one. Not thread-safe: one call at a time.
 */
export class Detector {
  readonly name: string;
  readonly version: string;
  /** The main input shape's adapter; its `inputSize` is the longest side of every shape. */
  readonly adapter: ModelAdapter;
  readonly #heads: Head[];
  readonly #opts: DetectorOptions;

  private constructor(heads: Head[], opts: DetectorOptions, version: string) {
    this.#heads = heads;
    this.adapter = heads[0]!.adapter;
    this.#opts = opts;
    this.name = opts.name;
    this.version = version;
  }

  get options(): Readonly<DetectorOptions> {
    return this.#opts;
  }

  /** The input shapes, `WxH`, main first. */
  get inputs(): string[] {
    return this.#heads.map((h) => `${h.adapter.inputWidth}x${h.adapter.inputHeight}`);
  }

  /** Loads the model and its variants and checks them against the adapter; ModelLoadError names the file and the mismatch. */
  static async load(opts: DetectorOptions): Promise<Detector> {
    const heads: Head[] = [];
    try {
      for (const path of [opts.path, ...(opts.variants ?? [])]) heads.push(await Head.load(opts, path));
      const size = heads[0]!.adapter.inputSize;
      for (const h of heads) {
        if (h.adapter.inputSize !== size) throw new ModelLoadError(`model variant ${opts.variants?.[heads.indexOf(h) - 1]} has a longest side of ${h.adapter.inputSize}, the model ${size}: variants must share it`, { details: { path: opts.path } });
      }
    } catch (err) {
      for (const h of heads) await h.session.release();
      throw err;
    }
    const version = opts.version ?? createHash('sha256').update(readFileSync(opts.path)).digest('hex').slice(0, 12);
    return new Detector(heads, opts, version);
  }

  /**
   * The head whose input aspect lies between square and the frame's, nearest the frame's: a
   * 16:9 frame runs on 416×256, a 4:3 one on 416×416. An input wider than the frame would
   * shrink the frame's height more than its width (squashing what it shows: darknet's 4:3
   * dog.jpg lost its bicycle that way), so none is taken; the main head when none fits.
   */
  #headFor(width: number, height: number): Head {
    const want = Math.log(width / height);
    const TOLERANCE = 0.02;
    let best = this.#heads[0]!;
    for (const h of this.#heads) {
      const between = want >= 0 ? h.logAspect >= -TOLERANCE && h.logAspect <= want + TOLERANCE : h.logAspect <= TOLERANCE && h.logAspect >= want - TOLERANCE;
      if (between && Math.abs(h.logAspect - want) < Math.abs(best.logAspect - want) - 1e-9) best = h;
    }
    return best;
  }

  /** Runs the model on one frame. */
  async detect(frame: RgbFrame): Promise<{ detections: Detection[]; inferenceMs: number; input: string }> {
    if (!Number.isInteger(frame.width) || !Number.isInteger(frame.height) || frame.width < 1 || frame.height < 1 || frame.rgb.length !== frame.width * frame.height * 3) {
      throw new FrameInvalidError(`frame of ${frame.width}x${frame.height} has ${frame.rgb.length} bytes, expected ${frame.width * frame.height * 3}`);
    }
    const t0 = performance.now();
    const head = this.#headFor(frame.width, frame.height);
    const transform = head.pre.run(frame);
    const feeds = { [head.adapter.inputName]: head.tensor };
    const result = head.fetches ? (await head.session.run(feeds, head.fetches), head.fetches) : await head.session.run(feeds);
    const outputs: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(result)) outputs[k] = v.data as Float32Array;
    const detections = head.adapter.decode(outputs, transform, {
      scoreThreshold: this.#opts.scoreThreshold,
      iouThreshold: this.#opts.iouThreshold,
      maxDetections: this.#opts.maxDetections,
      classes: this.#opts.classes,
      frameWidth: frame.width,
      frameHeight: frame.height,
    });
    if (!head.fetches) for (const v of Object.values(result)) v.dispose();
    return { detections, inferenceMs: performance.now() - t0, input: `${head.adapter.inputWidth}x${head.adapter.inputHeight}` };
  }

  async release(): Promise<void> {
    for (const h of this.#heads) await h.session.release();
  }
}
