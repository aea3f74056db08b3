import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelConvertError } from '../errors.ts';

/** One node of a TF.js graph model (`modelTopology.node`). */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

export interface TfAttr {
  i?: string;
  f?: number;
  b?: boolean;
  s?: string;
  list?: { i?: string[]; f?: number[]; s?: string[] };
  shape?: { dim?: { size: string }[] };
  type?: string;
}

/** A constant tensor: float32 or int32, row-major. */
export interface ConstTensor {
  dims: number[];
  data: Float32Array | Int32Array;
}

export interface TfGraph {
  nodes: TfNode[];
  consts: Map<string, ConstTensor>;
  /** Graph outputs from the signature, in order, without the `:0`. */
  outputs: string[];
  inputs: { name: string; dims: number[] }[];
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

/** IEEE half to float. */
function halfToFloat(h: number): number {
  const s = (h & 0x8000) >> 15;
  const e = (h & 0x7c00) >> 10;
  const f = h & 0x03ff;
  const sign = s ? -1 : 1;
  if (e === 0) return sign * 2 ** -14 * (f / 1024);
  if (e === 0x1f) return f ? NaN : sign * Infinity;
  return sign * 2 ** (e - 15) * (1 + f / 1024);
}

function decodeWeight(spec: WeightSpec, bytes: Uint8Array, offset: number): { tensor: ConstTensor; size: number } {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const dims = spec.shape.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
  const q = spec.quantization;
  if (q) {
    const out = new Float32Array(n);
    if (q.dtype === 'float16') {
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return { tensor: { dims, data: spec.dtype === 'int32' ? Int32Array.from(out) : out }, size: n * 2 };
    }
    const width = q.dtype === 'uint8' ? 1 : 2;
    const min = q.min ?? 0;
    const scale = q.scale ?? 1;
    for (let i = 0; i < n; i++) out[i] = (width === 1 ? view.getUint8(i) : view.getUint16(i * 2, true)) * scale + min;
    return { tensor: { dims, data: spec.dtype === 'int32' ? Int32Array.from(out, Math.round) : out }, size: n * width };
  }
  if (spec.dtype === 'float32') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return { tensor: { dims, data: out }, size: n * 4 };
  }
  if (spec.dtype === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
    return { tensor: { dims, data: out }, size: n * 4 };
  }
  if (spec.dtype === 'bool') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getUint8(i);
    return { tensor: { dims, data: out }, size: n };
  }
  throw new ModelConvertError(`weight ${spec.name} has dtype ${spec.dtype}, which the converter does not read`);
}

/** Reads a TF.js graph model (`model.json` and its weight shards). */
export function readTfjsGraph(jsonFile: string): TfGraph {
  let json: {
    format?: string;
    modelTopology?: { node?: TfNode[] };
    weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
    signature?: { inputs?: Record<string, { name: string }>; outputs?: Record<string, { name: string }> };
  };
  try {
    json = JSON.parse(readFileSync(jsonFile, 'utf8'));
  } catch (cause) {
    throw new ModelConvertError(`cannot read the TF.js graph ${jsonFile}`, { cause });
  }
  if (json.format !== 'graph-model' || !json.modelTopology?.node) {
    throw new ModelConvertError(`${jsonFile} is not a TF.js graph model (format ${String(json.format)})`);
  }
  const consts = new Map<string, ConstTensor>();
  for (const group of json.weightsManifest ?? []) {
    const shards = group.paths.map((p) => readFileSync(join(dirname(jsonFile), p)));
    const bytes = new Uint8Array(Buffer.concat(shards));
    let offset = 0;
    for (const spec of group.weights) {
      const { tensor, size } = decodeWeight(spec, bytes, offset);
      consts.set(spec.name, tensor);
      offset += size;
    }
    if (offset !== bytes.length) throw new ModelConvertError(`${jsonFile}: weights use ${offset} bytes of ${bytes.length}`);
  }
  const nodes = json.modelTopology.node;
  const inputs = nodes
    .filter((n) => n.op === 'Placeholder')
    .map((n) => ({ name: n.name, dims: (n.attr?.shape?.shape?.dim ?? []).map((d) => Number(d.size)) }));
  const outputs = Object.values(json.signature?.outputs ?? {}).map((o) => o.name.replace(/:0$/, ''));
  if (outputs.length === 0) throw new ModelConvertError(`${jsonFile} has no signature outputs`);
  return { nodes, consts, outputs, inputs };
}
