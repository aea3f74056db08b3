/**
 * A minimal protobuf writer for the parts of onnx.proto the converter emits
 * (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto).
 * Field numbers follow onnx/onnx.proto (IR version 8).
 */

class Writer {
  #chunks: Uint8Array[] = [];
  #buf = new Uint8Array(1024);
  #pos = 0;

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    this.#chunks.push(this.#buf.subarray(0, this.#pos));
    this.#buf = new Uint8Array(Math.max(1024, n));
    this.#pos = 0;
  }

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    this.#ensure(10);
    while (x >= 0x80n) {
      this.#buf[this.#pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.#buf[this.#pos++] = Number(x);
  }

  tag(field: number, wire: number): void { this.varint((field << 3) | wire); }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.#ensure(data.length);
    this.#buf.set(data, this.#pos);
    this.#pos += data.length;
  }

  string(field: number, s: string): void { this.bytes(field, new TextEncoder().encode(s)); }
  int(field: number, v: number | bigint): void { this.tag(field, 0); this.varint(v); }
  float(field: number, v: number): void {
    this.tag(field, 5);
    this.#ensure(4);
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setFloat32(this.#pos, v, true);
    this.#pos += 4;
  }

  finish(): Uint8Array {
    this.#chunks.push(this.#buf.subarray(0, this.#pos));
    const total = this.#chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.#chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  raw: Uint8Array;
}

export type OnnxAttr =
  | { name: string; f: number }
  | { name: string; i: number }
  | { name: string; s: string }
  | { name: string; ints: number[] }
  | { name: string; floats: number[] };

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: OnnxAttr[];
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  /** null: shape left to the runtime. */
  dims: (number | string)[] | null;
}

export interface OnnxModel {
  irVersion: number;
  opset: number;
  producer: string;
  producerVersion: string;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  metadata: Record<string, string>;
}

function tensorBytes(t: OnnxTensor): Uint8Array {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
  return w.finish();
}

function attrBytes(a: OnnxAttr): Uint8Array {
  const w = new Writer();
  w.string(1, a.name);
  if ('f' in a) { w.float(2, a.f); w.int(20, 1); }
  else if ('i' in a) { w.int(3, a.i); w.int(20, 2); }
  else if ('s' in a) { w.string(4, a.s); w.int(20, 3); }
  else if ('floats' in a) { for (const f of a.floats) w.float(7, f); w.int(20, 6); }
  else { for (const i of a.ints) w.int(8, i); w.int(20, 7); }
  return w.finish();
}

function nodeBytes(n: OnnxNode): Uint8Array {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attrs) w.bytes(5, attrBytes(a));
  return w.finish();
}

function valueInfoBytes(v: OnnxValueInfo): Uint8Array {
  const shape = new Writer();
  for (const d of v.dims ?? []) {
    const dim = new Writer();
    if (typeof d === 'number') dim.int(1, d); else dim.string(2, d);
    shape.bytes(1, dim.finish());
  }
  const tensorType = new Writer();
  tensorType.int(1, v.elemType);
  if (v.dims) tensorType.bytes(2, shape.finish());
  const type = new Writer();
  type.bytes(1, tensorType.finish());
  const w = new Writer();
  w.string(1, v.name);
  w.bytes(2, type.finish());
  return w.finish();
}

/** Serialises a model to the ONNX protobuf wire format. */
export function encodeModel(m: OnnxModel): Uint8Array {
  const g = new Writer();
  for (const n of m.nodes) g.bytes(1, nodeBytes(n));
  g.string(2, m.graphName);
  for (const t of m.initializers) g.bytes(5, tensorBytes(t));
  for (const i of m.inputs) g.bytes(11, valueInfoBytes(i));
  for (const o of m.outputs) g.bytes(12, valueInfoBytes(o));
  const w = new Writer();
  w.int(1, m.irVersion);
  w.string(2, m.producer);
  w.string(3, m.producerVersion);
  w.bytes(7, g.finish());
  const opset = new Writer();
  opset.string(1, '');
  opset.int(2, m.opset);
  w.bytes(8, opset.finish());
  for (const [key, value] of Object.entries(m.metadata)) {
    const kv = new Writer();
    kv.string(1, key);
    kv.string(2, value);
    w.bytes(14, kv.finish());
  }
  return w.finish();
}
