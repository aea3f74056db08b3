/**
 * Static QDQ int8 quantisation of a converted model (in memory, before encoding):
 * uint8 activations (asymmetric, calibrated ranges) on every Conv's input and output,
 * int8 weights per output channel (symmetric), int32 biases at scale sx·sw[c].
 * onnxruntime fuses DQ → Conv → Q into QLinearConv when graph optimisation is on;
 * a Conv listed in `keepFloat` keeps float weights (its neighbours' Q/DQ stay).
 */
import { DataType, type OnnxModel, type OnnxNode, type OnnxTensor } from '../convert/onnx-proto.ts';

export const UINT8 = 2;
export const INT8 = 3;

export interface Range { min: number; max: number }

function f32(t: OnnxTensor): Float32Array {
  return new Float32Array(t.raw.buffer.slice(t.raw.byteOffset, t.raw.byteOffset + t.raw.byteLength));
}
function scalar(name: string, dataType: number, bytes: Uint8Array, dims: number[] = []): OnnxTensor {
  return { name, dims, dataType, raw: bytes };
}
function f32Bytes(a: number[] | Float32Array): Uint8Array { return new Uint8Array(new Float32Array(a).buffer); }

/**
 * Ops whose float data inputs and outputs get Q/DQ, so onnxruntime can run them in int8 (QLinear* or dropped Q/DQ).
 * MaxPool is left out: with it quantised every detection was lost (agreement 0 on 107 frames).
 */
const QUANT_OPS: Record<string, (n: OnnxNode) => string[]> = {
  Conv: (n) => [n.inputs[0]!],
  LeakyRelu: (n) => [n.inputs[0]!],
  Resize: (n) => [n.inputs[0]!],
  Add: (n) => n.inputs,
  Concat: (n) => n.inputs,
};

/** Tensors that are not float activations: initializers and whatever is computed from Shape. */
function nonActivations(model: OnnxModel): Set<string> {
  const out = new Set(model.initializers.map((t) => t.name));
  const ints = new Set(model.initializers.filter((t) => t.dataType !== DataType.FLOAT).map((t) => t.name));
  for (const n of model.nodes) {
    if (n.opType === 'Shape' || ints.has(n.inputs[0]!)) for (const o of n.outputs) ints.add(o);
  }
  for (const i of ints) out.add(i);
  return out;
}

/** Names of the tensors whose ranges calibration must measure: the quantised ops' data inputs and outputs. */
export function calibrationTensors(model: OnnxModel, only?: ReadonlySet<string>): string[] {
  const outs = new Set(model.outputs.map((o) => o.name));
  const skip = nonActivations(model);
  const names = new Set<string>();
  for (const n of model.nodes) {
    const pick = QUANT_OPS[n.opType];
    if (!pick || (only && !only.has(n.opType))) continue;
    if (pick(n).some((i) => skip.has(i))) continue;
    for (const i of pick(n)) names.add(i);
    if (!outs.has(n.outputs[0]!)) names.add(n.outputs[0]!);
  }
  return [...names];
}

/** The model with the calibration tensors added as graph outputs. */
export function withCalibrationOutputs(model: OnnxModel): OnnxModel {
  const have = new Set(model.outputs.map((o) => o.name));
  const extra = calibrationTensors(model).filter((n) => !have.has(n) && !model.inputs.some((i) => i.name === n));
  return { ...model, outputs: [...model.outputs, ...extra.map((name) => ({ name, elemType: DataType.FLOAT, dims: null }))] };
}

function actParams(r: Range): { scale: number; zp: number } {
  const min = Math.min(0, r.min);
  const max = Math.max(0, r.max, min + 1e-6);
  const scale = (max - min) / 255;
  return { scale, zp: Math.min(255, Math.max(0, Math.round(-min / scale))) };
}

export interface QuantizeOptions {
  keepFloat?: ReadonlySet<string>;
  /** Op types whose activations get Q/DQ (all of QUANT_OPS when absent). */
  ops?: ReadonlySet<string>;
  metadata?: Record<string, string>;
}

/** Returns a new QDQ model; `ranges` holds each calibration tensor's observed range. */
export function quantizeQdq(model: OnnxModel, ranges: ReadonlyMap<string, Range>, opts: QuantizeOptions = {}): OnnxModel {
  const keep = opts.keepFloat ?? new Set<string>();
  const inits = new Map(model.initializers.map((t) => [t.name, t]));
  const newInits: OnnxTensor[] = [];
  const qNodes: OnnxNode[] = [];
  const qdqOf = new Map<string, { dq: string; scale: number; zp: number }>();

  const quantAct = (name: string): { dq: string; scale: number; zp: number } | undefined => {
    const got = qdqOf.get(name);
    if (got) return got;
    const r = ranges.get(name);
    if (!r) return undefined;
    const { scale, zp } = actParams(r);
    const s = `${name}/__q_scale`, z = `${name}/__q_zp`;
    newInits.push(scalar(s, DataType.FLOAT, f32Bytes([scale])), scalar(z, UINT8, new Uint8Array([zp])));
    const q = `${name}/__q`, dq = `${name}/__dq`;
    qNodes.push({ name: `${name}/QuantizeLinear`, opType: 'QuantizeLinear', inputs: [name, s, z], outputs: [q], attrs: [] });
    qNodes.push({ name: `${name}/DequantizeLinear`, opType: 'DequantizeLinear', inputs: [q, s, z], outputs: [dq], attrs: [] });
    const v = { dq, scale, zp };
    qdqOf.set(name, v);
    return v;
  };

  const outNames = new Set(model.outputs.map((o) => o.name));
  const rewired: OnnxNode[] = [];
  const rename = new Map<string, string>();
  for (const n of model.nodes) {
    if (n.opType !== 'Conv' || keep.has(n.name)) continue;
    const w = inits.get(n.inputs[1]!);
    const x = quantAct(n.inputs[0]!);
    if (!w || !x) continue;
    if (!outNames.has(n.outputs[0]!)) quantAct(n.outputs[0]!);
    // Per output channel int8 weights, symmetric.
    const wf = f32(w);
    const oc = w.dims[0]!;
    const per = wf.length / oc;
    const wq = new Int8Array(wf.length);
    const ws = new Float32Array(oc);
    for (let c = 0; c < oc; c++) {
      let m = 0;
      for (let i = 0; i < per; i++) m = Math.max(m, Math.abs(wf[c * per + i]!));
      const s = m > 0 ? m / 127 : 1;
      ws[c] = s;
      for (let i = 0; i < per; i++) wq[c * per + i] = Math.max(-127, Math.min(127, Math.round(wf[c * per + i]! / s)));
    }
    const wn = `${w.name}/__wq`;
    newInits.push(
      { name: wn, dims: w.dims, dataType: INT8, raw: new Uint8Array(wq.buffer) },
      scalar(`${wn}_scale`, DataType.FLOAT, f32Bytes(ws), [oc]),
      scalar(`${wn}_zp`, INT8, new Uint8Array(oc), [oc]),
    );
    qNodes.push({ name: `${wn}/DequantizeLinear`, opType: 'DequantizeLinear', inputs: [wn, `${wn}_scale`, `${wn}_zp`], outputs: [`${wn}_dq`], attrs: [{ name: 'axis', i: 0 }] });
    const inputs = [x.dq, `${wn}_dq`];
    const b = n.inputs[2] ? inits.get(n.inputs[2]) : undefined;
    if (b) {
      const bf = f32(b);
      const bq = new Int32Array(oc);
      const bs = new Float32Array(oc);
      for (let c = 0; c < oc; c++) { bs[c] = x.scale * ws[c]!; bq[c] = Math.round(bf[c]! / bs[c]!); }
      const bn = `${b.name}/__bq`;
      newInits.push(
        { name: bn, dims: [oc], dataType: DataType.INT32, raw: new Uint8Array(bq.buffer) },
        scalar(`${bn}_scale`, DataType.FLOAT, f32Bytes(bs), [oc]),
        scalar(`${bn}_zp`, DataType.INT32, new Uint8Array(4 * oc), [oc]),
      );
      qNodes.push({ name: `${bn}/DequantizeLinear`, opType: 'DequantizeLinear', inputs: [bn, `${bn}_scale`, `${bn}_zp`], outputs: [`${bn}_dq`], attrs: [{ name: 'axis', i: 0 }] });
      inputs.push(`${bn}_dq`);
    }
    rename.set(n.name, JSON.stringify(inputs));
  }
  for (const name of calibrationTensors(model, opts.ops)) quantAct(name);
  // Every consumer of a quantised tensor reads its DQ output (so DQ → op → Q chains can fuse).
  for (const n of model.nodes) {
    const conv = rename.get(n.name);
    const inputs = conv ? JSON.parse(conv) as string[] : n.inputs.map((i) => qdqOf.get(i)?.dq ?? i);
    rewired.push({ ...n, inputs });
  }
  const used = new Set([...rewired, ...qNodes].flatMap((n) => n.inputs));
  const initializers = [...model.initializers, ...newInits].filter((t) => used.has(t.name));
  return { ...model, opset: Math.max(model.opset, 13), nodes: [...rewired, ...qNodes], initializers, metadata: { ...model.metadata, ...opts.metadata } };
}
