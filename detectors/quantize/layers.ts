/**
 * Per-layer loss: runs fp32 and int8 with every Conv output exposed and reports each Conv's
 * relative RMS error, and how much it adds over the error already in its input.
 */
import * as ort from 'onnxruntime-node';
import { DataType, type OnnxModel } from '../convert/onnx-proto.ts';
import { encodeModel } from '../convert/tfjs-to-onnx.ts';
import { createAdapter } from '../model/adapters.ts';
import { Preprocessor, type RgbFrame } from '../model/preprocess.ts';

export interface LayerError { conv: string; inputErr: number; outputErr: number; added: number }

function exposeConvs(m: OnnxModel, convs: { input: string; output: string }[]): OnnxModel {
  const have = new Set([...m.outputs.map((o) => o.name), ...m.inputs.map((i) => i.name)]);
  const extra = [...new Set(convs.flatMap((c) => [c.input, c.output]))].filter((n) => !have.has(n));
  return { ...m, outputs: [...m.outputs, ...extra.map((name) => ({ name, elemType: DataType.FLOAT, dims: null }))] };
}

export async function layerErrors(fp32: OnnxModel, int8: OnnxModel, frames: readonly RgbFrame[]): Promise<LayerError[]> {
  const convs = fp32.nodes.filter((n) => n.opType === 'Conv').map((n) => ({ name: n.name, input: n.inputs[0]!, output: n.outputs[0]! }));
  // No fusion on the int8 side, so each Conv output is the dequantised-input float Conv (its own loss); fp32 keeps shapes inferred.
  const open = (m: OnnxModel, level: 'basic' | 'disabled') => ort.InferenceSession.create(encodeModel(exposeConvs(m, convs)), { intraOpNumThreads: 1, graphOptimizationLevel: level, logSeverityLevel: 3 });
  const [a, b] = [await open(fp32, 'basic'), await open(int8, 'disabled')];
  const adapter = createAdapter('nanodet', 'layers', a.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })),
    a.outputMetadata.filter((m) => fp32.outputs.some((o) => o.name === m.name)).map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })), 80);
  const pre = new Preprocessor(adapter.inputWidth, adapter.inputHeight, adapter.defaultResize, adapter.norm);
  const num = new Map<string, number>(), den = new Map<string, number>();
  for (const f of frames) {
    pre.run(f);
    const feed = { [adapter.inputName]: new ort.Tensor('float32', pre.input, [1, 3, adapter.inputHeight, adapter.inputWidth]) };
    const [ra, rb] = [await a.run(feed), await b.run(feed)];
    for (const c of convs) for (const t of [c.input, c.output]) {
      const x = (ra[t]?.data ?? pre.input) as Float32Array, y = (rb[t]?.data ?? pre.input) as Float32Array;
      let n = 0, d = 0;
      for (let i = 0; i < x.length; i++) { const e = x[i]! - y[i]!; n += e * e; d += x[i]! * x[i]!; }
      num.set(t, (num.get(t) ?? 0) + n); den.set(t, (den.get(t) ?? 0) + d);
    }
  }
  await a.release(); await b.release();
  const err = (t: string) => Math.sqrt((num.get(t) ?? 0) / Math.max(1e-12, den.get(t) ?? 0));
  return convs.map((c) => ({ conv: c.name, inputErr: err(c.input), outputErr: err(c.output), added: err(c.output) - err(c.input) }));
}
