/** Calibration (activation ranges on real frames) and the quantised file. */
import * as ort from 'onnxruntime-node';
import { convertTfjsGraph, encodeModel, type ConvertOptions } from '../convert/tfjs-to-onnx.ts';
import type { ModelType } from '../types.ts';
import { readTfjsGraph, type TfGraph } from '../convert/tfjs-graph.ts';
import { NANODET_INT8_VERSION, NANODET_NAME, NANODET_WIDE, nanodetSourcePath, writeModelFile } from '../convert/index.ts';
import { Preprocessor, type RgbFrame } from '../model/preprocess.ts';
import { createAdapter } from '../model/adapters.ts';
import { calibrationTensors, quantizeQdq, withCalibrationOutputs, type Range } from './qdq.ts';
import { calibrationFrames, sixteenByNine } from './run.ts';

/**
 * Conv layers kept in float: none. The per-layer measurement (`layerErrors`) put the most
 * added loss on the first backbone convs (convolution_1..4: +0.021..+0.047 relative RMS), but
 * keeping them in float lowered agreement (94.0% against 95.2%) and cost speed, because the
 * loss is in the activations' Q/DQ, which stay around them; see detectors/README.md.
 */
export const KEEP_FLOAT: readonly string[] = [];

/** Observed min/max of each calibration tensor over the frames. */
export async function calibrate(fp32: ReturnType<typeof convertTfjsGraph>, frames: AsyncIterable<RgbFrame> | Iterable<RgbFrame>, type: ModelType = 'nanodet'): Promise<Map<string, Range>> {
  const model = withCalibrationOutputs(fp32);
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: 1, graphOptimizationLevel: 'basic', logSeverityLevel: 3 });
  const names = calibrationTensors(fp32);
  const adapter = createAdapter(type, 'calibration', session.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })),
    session.outputMetadata.filter((m) => fp32.outputs.some((o) => o.name === m.name)).map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })), 80);
  const pre = new Preprocessor(adapter.inputWidth, adapter.inputHeight, adapter.defaultResize, adapter.norm);
  const ranges = new Map<string, Range>();
  const sums = new Map<string, { min: number; max: number; n: number }>();
  for await (const frame of frames) {
    pre.run(frame);
    const out = await session.run({ [adapter.inputName]: new ort.Tensor('float32', pre.input, [1, 3, adapter.inputHeight, adapter.inputWidth]) });
    const feed = { [adapter.inputName]: pre.input };
    for (const name of names) {
      const data = (out[name]?.data ?? feed[name]) as Float32Array | undefined;
      if (!data) continue;
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < data.length; i++) { const v = data[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
      const r = sums.get(name) ?? { min: 0, max: 0, n: 0 };
      sums.set(name, { min: r.min + lo, max: r.max + hi, n: r.n + 1 });
    }
  }
  await session.release();
  // The mean of each frame's min and max: one frame's outlier does not stretch the scale for all.
  for (const [name, r] of sums) ranges.set(name, { min: r.min / r.n, max: r.max / r.n });
  return ranges;
}

/** Which network to quantise; NanoDet-g 416 when absent. */
export interface QuantizeNet {
  /** The TF.js graph it is converted from, read already. */
  graph: TfGraph;
  type: ModelType;
  /** Conversion options besides the input size (e.g. where to cut the graph). */
  convert: Omit<ConvertOptions, 'input' | 'metadata'>;
  /** The square input it is calibrated at, and the wide variant's. */
  square: { width: number; height: number };
  wide: { width: number; height: number };
  name: string;
  version: string;
  /** Calibrate the wide input on its own, through itself, on the calibration frames cut to 16:9 (else it takes the square input's ranges). */
  wideOwnRanges?: boolean;
}

export interface QuantizeFileOptions {
  keepFloat?: ReadonlySet<string>;
  ops?: ReadonlySet<string>;
  source?: string;
  net?: QuantizeNet;
  /**
   * Also writes the wide-input (416×256) int8 model here, with the square model's ranges: on the
   * agreement frames cut to 16:9, int8 finds 96.3% of fp32's boxes that way (ranges calibrated
   * through the wide input itself did worse on the uncut frames: 94.4% against 94.9%).
   */
  wideOut?: string;
}

/** Calibrates and writes the int8 model atomically; returns its Conv count and what stayed float. */
export async function quantizeFile(outFile: string, frames: AsyncIterable<RgbFrame> | Iterable<RgbFrame>, opts: QuantizeFileOptions = {}): Promise<{ convs: number; keptFloat: string[]; qdqNodes: number }> {
  const net = opts.net;
  const graph = net?.graph ?? readTfjsGraph(opts.source ?? nanodetSourcePath());
  const fp32 = convertTfjsGraph(graph, net ? { ...net.convert, input: net.square } : {});
  const ranges = await calibrate(fp32, frames, net?.type);
  const keepFloat = opts.keepFloat ?? new Set(KEEP_FLOAT);
  const metadata = { name: `${net?.name ?? NANODET_NAME}-int8`, version: net?.version ?? NANODET_INT8_VERSION, precision: 'int8', kept_float: [...keepFloat].join(',') };
  const q = quantizeQdq(fp32, ranges, { keepFloat, ops: opts.ops, metadata });
  writeModelFile(outFile, encodeModel(q));
  if (opts.wideOut) {
    const input = net?.wide ?? NANODET_WIDE;
    const wide = convertTfjsGraph(graph, { ...net?.convert, input });
    const wideRanges = net?.wideOwnRanges ? await calibrate(wide, sixteenByNine(calibrationFrames()), net.type) : ranges;
    writeModelFile(opts.wideOut, encodeModel(quantizeQdq(wide, wideRanges, { keepFloat, ops: opts.ops, metadata: { ...metadata, input: `${input.width}x${input.height}` } })));
  }
  return {
    convs: fp32.nodes.filter((n) => n.opType === 'Conv').length,
    keptFloat: [...keepFloat],
    qdqNodes: q.nodes.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear').length,
  };
}
