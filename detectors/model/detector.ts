import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ModelT } from '../../config/index.ts';
import { defaultModelPath, int8ModelPath, NANODET_INT8_VERSION, NANODET_NAME, NANODET_VERSION } from '../convert/index.ts';
import { FrameInvalidError, ModelLoadError } from '../errors.ts';
import type { Detection, ModelType } from '../types.ts';
import { createAdapter, type ModelAdapter, type TensorInfo } from './adapters.ts';
import { COCO_CLASSES } from './coco.ts';
import { Preprocessor, type RgbFrame } from './preprocess.ts';

/** Everything needed to load a detector; plain data, so it can be posted to a worker. */
export interface DetectorOptions {
  type: ModelType;
  path: string;
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

/** Turns the `detectors.model` config section into detector options. */
export function detectorOptions(model: Omit<ModelT, 'precision'> & Partial<Pick<ModelT, 'precision'>>, dataDir: string, intraOpThreads = 1): DetectorOptions {
  const isDefault = model.path === undefined;
  const int8 = isDefault && model.precision === 'int8';
  const path = model.path ?? (int8 ? int8ModelPath(dataDir) : defaultModelPath(dataDir));
  return {
    type: model.type,
    path,
    name: model.name ?? (isDefault ? NANODET_NAME : basename(path, extname(path))),
    version: model.version ?? (isDefault ? (int8 ? NANODET_INT8_VERSION : NANODET_VERSION) : undefined),
    inputSize: model.input_size,
    resize: model.resize,
    classes: model.classes ?? [...COCO_CLASSES],
    scoreThreshold: model.score_threshold,
    iouThreshold: model.iou_threshold,
    maxDetections: 100,
    intraOpThreads,
  };
}

/** One onnxruntime session with its adapter and preallocated input. Not thread-safe: one call at a time. */
export class Detector {
  readonly name: string;
  readonly version: string;
  readonly adapter: ModelAdapter;
  readonly #session: ort.InferenceSession;
  readonly #pre: Preprocessor;
  readonly #opts: DetectorOptions;
  readonly #tensor: ort.Tensor;
  /**
   * The outputs, allocated once when their shapes are fixed: onnxruntime writes into them, so an
   * inference allocates no 1.8 MB of outputs (NanoDet-g 416) for the collector. Null otherwise.
   */
  readonly #fetches: Record<string, ort.Tensor> | null;

  private constructor(session: ort.InferenceSession, adapter: ModelAdapter, opts: DetectorOptions, version: string) {
    this.#session = session;
    this.adapter = adapter;
    this.#opts = opts;
    this.name = opts.name;
    this.version = version;
    this.#pre = new Preprocessor(adapter.inputSize, opts.resize ?? adapter.defaultResize, adapter.norm);
    this.#tensor = new ort.Tensor('float32', this.#pre.input, [1, 3, adapter.inputSize, adapter.inputSize]);
    const outputs = session.outputMetadata;
    const fixed = outputs.every((m) => m.isTensor && m.type === 'float32' && m.shape.every((d) => typeof d === 'number' && d > 0));
    this.#fetches = fixed ? Object.fromEntries(outputs.map((m) => {
      const dims = (m as ort.InferenceSession.TensorValueMetadata).shape as readonly number[];
      return [m.name, new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims)];
    })) : null;
  }

  get options(): Readonly<DetectorOptions> {
    return this.#opts;
  }

  /** Loads the model and checks it against its adapter; ModelLoadError names the file and the mismatch. */
  static async load(opts: DetectorOptions): Promise<Detector> {
    if (!existsSync(opts.path)) {
      throw new ModelLoadError(`model file ${opts.path} is missing${opts.name === NANODET_NAME ? '; run `gridwatch model convert` / `gridwatch model quantize` (or `npm run setup`)' : ''}`, { details: { path: opts.path } });
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(opts.path, {
        intraOpNumThreads: opts.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (cause) {
      throw new ModelLoadError(`model file ${opts.path} cannot be loaded by onnxruntime: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}`, { cause, details: { path: opts.path } });
    }
    const info = (list: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] =>
      list.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] }));
    let adapter: ModelAdapter;
    try {
      adapter = createAdapter(opts.type, opts.path, info(session.inputMetadata), info(session.outputMetadata), opts.classes.length, opts.inputSize);
    } catch (err) {
      await session.release();
      throw err;
    }
    const version = opts.version ?? createHash('sha256').update(readFileSync(opts.path)).digest('hex').slice(0, 12);
    return new Detector(session, adapter, opts, version);
  }

  /** Runs the model on one frame. */
  async detect(frame: RgbFrame): Promise<{ detections: Detection[]; inferenceMs: number }> {
    if (!Number.isInteger(frame.width) || !Number.isInteger(frame.height) || frame.width < 1 || frame.height < 1 || frame.rgb.length !== frame.width * frame.height * 3) {
      throw new FrameInvalidError(`frame of ${frame.width}x${frame.height} has ${frame.rgb.length} bytes, expected ${frame.width * frame.height * 3}`);
    }
    const t0 = performance.now();
    const transform = this.#pre.run(frame);
    const feeds = { [this.adapter.inputName]: this.#tensor };
    const result = this.#fetches ? (await this.#session.run(feeds, this.#fetches), this.#fetches) : await this.#session.run(feeds);
    const outputs: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(result)) outputs[k] = v.data as Float32Array;
    const detections = this.adapter.decode(outputs, transform, {
      scoreThreshold: this.#opts.scoreThreshold,
      iouThreshold: this.#opts.iouThreshold,
      maxDetections: this.#opts.maxDetections,
      classes: this.#opts.classes,
      frameWidth: frame.width,
      frameHeight: frame.height,
    });
    if (!this.#fetches) for (const v of Object.values(result)) v.dispose();
    return { detections, inferenceMs: performance.now() - t0 };
  }

  async release(): Promise<void> {
    await this.#session.release();
  }
}
