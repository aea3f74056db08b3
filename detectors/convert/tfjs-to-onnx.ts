import { ModelConvertError } from '../errors.ts';
import { DataType, encodeModel, type OnnxAttr, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';
import type { ConstTensor, TfAttr, TfGraph, TfNode } from './tfjs-graph.ts';

/** The TF ops the converter handles; anything else is refused by name. */
export const SUPPORTED_OPS = [
  'Placeholder', 'Const', 'Identity', 'SparseToDense',
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv',
  'Conv2D', 'DepthwiseConv2dNative', 'MaxPool', 'AvgPool',
  'Pad', 'PadV2', 'Transpose', 'Reshape', 'ConcatV2', 'SplitV', 'Split',
  'ResizeBilinear', 'ResizeNearestNeighbor',
  'Relu', 'Relu6', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softmax',
] as const;

const ELEMENTWISE: Record<string, string> = { Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div' };
const UNARY: Record<string, string> = { Relu: 'Relu', Sigmoid: 'Sigmoid', Tanh: 'Tanh', Identity: 'Identity' };
const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];

/** `name`, `name:0` and `name:k` as ONNX tensor names: output 0 is the node name. */
function ref(input: string): string {
  const clean = input.replace(/^\^/, '');
  return clean.endsWith(':0') ? clean.slice(0, -2) : clean;
}

const ints = (attr: TfAttr | undefined): number[] => (attr?.list?.i ?? []).map(Number);
const str = (attr: TfAttr | undefined): string => (attr?.s === undefined ? '' : Buffer.from(attr.s, 'base64').toString());
const size = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

/** Depth-first order so that every node follows its inputs. */
function topoSort(nodes: TfNode[]): TfNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, 1 | 2>();
  const out: TfNode[] = [];
  const visit = (root: TfNode): void => {
    const stack: { node: TfNode; i: number }[] = [{ node: root, i: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i === 0) {
        if (state.get(top.node.name) === 2) { stack.pop(); continue; }
        state.set(top.node.name, 1);
      }
      const inputs = top.node.input ?? [];
      if (top.i < inputs.length) {
        const dep = byName.get(ref(inputs[top.i++]!).split(':')[0]!);
        if (dep && !state.has(dep.name)) stack.push({ node: dep, i: 0 });
        continue;
      }
      state.set(top.node.name, 2);
      out.push(top.node);
      stack.pop();
    }
  };
  for (const n of nodes) visit(n);
  return out;
}

function broadcastBinary(a: ConstTensor, b: ConstTensor, f: (x: number, y: number) => number): ConstTensor {
  const big = size(a.dims) >= size(b.dims) ? a : b;
  const n = size(big.dims);
  const na = size(a.dims);
  const nb = size(b.dims);
  if ((na !== n && na !== 1) || (nb !== n && nb !== 1)) {
    throw new ModelConvertError(`cannot fold a broadcast of [${a.dims}] and [${b.dims}]`);
  }
  const out = a.data instanceof Int32Array && b.data instanceof Int32Array ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(a.data[na === 1 ? 0 : i]!, b.data[nb === 1 ? 0 : i]!);
  return { dims: big.dims.slice(), data: out };
}

export interface ConvertOptions {
  producerVersion?: string;
  metadata?: Record<string, string>;
  /** Another input size than the graph's NCHW own: every fixed resize size is scaled with it (must come out whole). */
  input?: { width: number; height: number };
}

/**
 * Converts a TF.js graph to an ONNX model, op by op. NHWC convolutions are wrapped in
 * transposes, then a peephole pass cancels transpose pairs and folds biases and zero pads
 * into the convolutions, so the result runs as a plain NCHW network.
 */
export function convertTfjsGraph(graph: TfGraph, options: ConvertOptions = {}): OnnxModel {
  const consts = new Map(graph.consts);
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensor>();
  let serial = 0;

  const constOf = (input: string): ConstTensor | undefined => consts.get(ref(input));
  const needConst = (node: TfNode, k: number): ConstTensor => {
    const c = constOf(node.input?.[k] ?? '');
    if (!c) throw new ModelConvertError(`${node.op} ${node.name}: input ${k} must be a constant`);
    return c;
  };
  const addInit = (name: string, c: ConstTensor, as: 'float' | 'int64' | 'int32' = c.data instanceof Float32Array ? 'float' : 'int64'): string => {
    if (initializers.has(name)) return name;
    let raw: Uint8Array;
    let dataType: number;
    if (as === 'float') {
      raw = new Uint8Array(Float32Array.from(c.data).buffer);
      dataType = DataType.FLOAT;
    } else if (as === 'int32') {
      raw = new Uint8Array(Int32Array.from(c.data).buffer);
      dataType = DataType.INT32;
    } else {
      raw = new Uint8Array(BigInt64Array.from(Array.from(c.data, (v) => BigInt(Math.round(v)))).buffer);
      dataType = DataType.INT64;
    }
    initializers.set(name, { name, dims: c.dims.slice(), dataType, raw });
    return name;
  };
  const int64 = (name: string, values: number[]): string => addInit(name, { dims: [values.length], data: Int32Array.from(values) }, 'int64');
  /** A data input: a tensor made by another node, or a constant turned into an initializer. */
  const data = (input: string): string => {
    const c = constOf(input);
    return c ? addInit(ref(input), c) : ref(input);
  };
  const emit = (opType: string, inputs: string[], outputs: string[], attrs: OnnxAttr[] = [], name?: string): void => {
    nodes.push({ name: name ?? `${outputs[0]}/${opType}`, opType, inputs, outputs, attrs });
  };
  const tmp = (base: string): string => `${base}/__${serial++}`;
  const [, , baseH = -1, baseW = -1] = graph.inputs[0]?.dims ?? [];
  if (options.input && (graph.inputs.length !== 1 || baseH <= 0 || baseW <= 0)) throw new ModelConvertError(`another input size needs one fixed NCHW input; the graph has ${graph.inputs.length}`);
  /** A fixed [h, w] of the graph's own input size, at the requested one (a fully convolutional network, e.g. NanoDet-g at 416×256). */
  const scaledHw = (node: TfNode, hw: number[]): number[] => {
    const out = options.input ? [hw[0]! * (options.input.height / baseH), hw[1]! * (options.input.width / baseW)] : hw;
    if (!out.every(Number.isInteger)) throw new ModelConvertError(`${node.op} ${node.name}: size [${hw}] does not scale to a whole size at ${options.input!.width}x${options.input!.height}; use a multiple of the network's largest stride`);
    return out;
  };

  const wrapNhwc = (node: TfNode, opType: string, inputs: (x: string) => string[], attrs: OnnxAttr[]): void => {
    const x = tmp(node.name);
    const y = tmp(node.name);
    emit('Transpose', [data(node.input![0]!)], [x], [{ name: 'perm', ints: TO_NCHW }]);
    emit(opType, inputs(x), [y], attrs);
    emit('Transpose', [y], [node.name], [{ name: 'perm', ints: TO_NHWC }]);
  };

  for (const node of topoSort(graph.nodes)) {
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^'));
    const allConst = inputs.length > 0 && inputs.every((i) => constOf(i));
    const attr = node.attr ?? {};
    switch (node.op) {
      case 'Const':
        if (!consts.has(node.name)) throw new ModelConvertError(`Const ${node.name} has no value in the weights`);
        continue;
      case 'Placeholder':
        continue;
      case 'SparseToDense': {
        const indices = needConst(node, 0);
        const shape = needConst(node, 1);
        const dflt = needConst(node, 3);
        if (size(indices.dims) !== 0) throw new ModelConvertError(`SparseToDense ${node.name}: only empty indices are handled`);
        const dims = Array.from(shape.data);
        const out = dflt.data instanceof Int32Array ? new Int32Array(size(dims)) : new Float32Array(size(dims));
        out.fill(dflt.data[0] ?? 0);
        consts.set(node.name, { dims, data: out });
        continue;
      }
    }
    if (allConst && (node.op in ELEMENTWISE || node.op === 'Identity')) {
      if (node.op === 'Identity') { consts.set(node.name, constOf(inputs[0]!)!); continue; }
      const fns: Record<string, (x: number, y: number) => number> = {
        Add: (x, y) => x + y, AddV2: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y, RealDiv: (x, y) => x / y,
      };
      consts.set(node.name, broadcastBinary(constOf(inputs[0]!)!, constOf(inputs[1]!)!, fns[node.op]!));
      continue;
    }
    if (node.op in ELEMENTWISE) {
      emit(ELEMENTWISE[node.op]!, [data(inputs[0]!), data(inputs[1]!)], [node.name]);
      continue;
    }
    if (node.op in UNARY) {
      emit(UNARY[node.op]!, [data(inputs[0]!)], [node.name]);
      continue;
    }
    switch (node.op) {
      case 'LeakyRelu':
        emit('LeakyRelu', [data(inputs[0]!)], [node.name], [{ name: 'alpha', f: attr['alpha']?.f ?? 0.2 }]);
        break;
      case 'Relu6':
        emit('Clip', [data(inputs[0]!), addInit(`${node.name}/__min`, { dims: [], data: Float32Array.of(0) }), addInit(`${node.name}/__max`, { dims: [], data: Float32Array.of(6) })], [node.name]);
        break;
      case 'Softmax':
        emit('Softmax', [data(inputs[0]!)], [node.name], [{ name: 'axis', i: -1 }]);
        break;
      case 'Transpose':
        emit('Transpose', [data(inputs[0]!)], [node.name], [{ name: 'perm', ints: Array.from(needConst(node, 1).data) }]);
        break;
      case 'Reshape':
        emit('Reshape', [data(inputs[0]!), int64(`${node.name}/__shape`, Array.from(needConst(node, 1).data))], [node.name]);
        break;
      case 'Pad':
      case 'PadV2': {
        const p = Array.from(needConst(node, 1).data);
        const rank = p.length / 2;
        const pads = [...Array.from({ length: rank }, (_, i) => p[2 * i]!), ...Array.from({ length: rank }, (_, i) => p[2 * i + 1]!)];
        const padInputs = [data(inputs[0]!), int64(`${node.name}/__pads`, pads)];
        if (node.op === 'PadV2') padInputs.push(addInit(`${node.name}/__value`, { dims: [], data: Float32Array.of(needConst(node, 2).data[0]!) }, 'float'));
        emit('Pad', padInputs, [node.name], [{ name: 'mode', s: 'constant' }]);
        break;
      }
      case 'ConcatV2': {
        const axis = needConst(node, inputs.length - 1).data[0]!;
        emit('Concat', inputs.slice(0, -1).map(data), [node.name], [{ name: 'axis', i: axis }]);
        break;
      }
      case 'SplitV': {
        const sizes = Array.from(needConst(node, 1).data);
        const axis = needConst(node, 2).data[0]!;
        if (sizes.some((s) => s < 0)) throw new ModelConvertError(`SplitV ${node.name}: sizes of -1 are not handled`);
        emit('Split', [data(inputs[0]!), int64(`${node.name}/__split`, sizes)], sizes.map((_, i) => (i === 0 ? node.name : `${node.name}:${i}`)), [{ name: 'axis', i: axis }]);
        break;
      }
      case 'Split': {
        const axis = needConst(node, 0).data[0]!;
        const n = Number(attr['num_split']?.i ?? 1);
        emit('Split', [data(inputs[1]!)], Array.from({ length: n }, (_, i) => (i === 0 ? node.name : `${node.name}:${i}`)), [{ name: 'axis', i: axis }, { name: 'num_outputs', i: n }]);
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2dNative': {
        if (str(attr['data_format']) && str(attr['data_format']) !== 'NHWC') throw new ModelConvertError(`${node.op} ${node.name}: only NHWC is handled`);
        const w = needConst(node, 1);
        const [kh, kw, cin, cout] = w.dims as [number, number, number, number];
        const depthwise = node.op === 'DepthwiseConv2dNative';
        // HWIO (or HW,C,mult for depthwise) to OIHW.
        const o = depthwise ? cin * cout : cout;
        const i = depthwise ? 1 : cin;
        const oihw = new Float32Array(o * i * kh * kw);
        for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < cin; ci++) for (let co = 0; co < cout; co++) {
          const src = ((y * kw + x) * cin + ci) * cout + co;
          const oc = depthwise ? ci * cout + co : co;
          const ic = depthwise ? 0 : ci;
          oihw[((oc * i + ic) * kh + y) * kw + x] = w.data[src]!;
        }
        const wName = addInit(`${ref(inputs[1]!)}/__oihw`, { dims: [o, i, kh, kw], data: oihw }, 'float');
        const strides = ints(attr['strides']);
        const dil = ints(attr['dilations']);
        const padding = str(attr['padding']);
        const attrs: OnnxAttr[] = [
          { name: 'kernel_shape', ints: [kh, kw] },
          { name: 'strides', ints: [strides[1] ?? 1, strides[2] ?? 1] },
          { name: 'dilations', ints: [dil[1] ?? 1, dil[2] ?? 1] },
          { name: 'group', i: depthwise ? cin : 1 },
        ];
        if (padding === 'SAME') attrs.push({ name: 'auto_pad', s: 'SAME_UPPER' });
        else if (padding === 'VALID') attrs.push({ name: 'pads', ints: [0, 0, 0, 0] });
        else throw new ModelConvertError(`${node.op} ${node.name}: padding ${padding} is not handled`);
        wrapNhwc(node, 'Conv', (x) => [x, wName], attrs);
        break;
      }
      case 'MaxPool':
      case 'AvgPool': {
        const k = ints(attr['ksize']);
        const s = ints(attr['strides']);
        const padding = str(attr['padding']);
        const attrs: OnnxAttr[] = [{ name: 'kernel_shape', ints: [k[1]!, k[2]!] }, { name: 'strides', ints: [s[1]!, s[2]!] }];
        if (padding === 'SAME') attrs.push({ name: 'auto_pad', s: 'SAME_UPPER' });
        if (node.op === 'AvgPool') attrs.push({ name: 'count_include_pad', i: 0 });
        wrapNhwc(node, node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', (x) => [x], attrs);
        break;
      }
      case 'ResizeBilinear':
      case 'ResizeNearestNeighbor': {
        const hw = scaledHw(node, Array.from(needConst(node, 1).data));
        const align = attr['align_corners']?.b === true;
        const half = attr['half_pixel_centers']?.b === true;
        const bilinear = node.op === 'ResizeBilinear';
        const attrs: OnnxAttr[] = [
          { name: 'mode', s: bilinear ? 'linear' : 'nearest' },
          { name: 'coordinate_transformation_mode', s: align ? 'align_corners' : half ? (bilinear ? 'half_pixel' : 'tf_half_pixel_for_nn') : 'asymmetric' },
        ];
        if (!bilinear) attrs.push({ name: 'nearest_mode', s: align ? 'round_prefer_ceil' : 'floor' });
        // sizes over all four NHWC axes, N and C taken from the input's shape at run time
        // (ORT's transpose optimiser mishandles Resize with `axes`).
        const x = data(inputs[0]!);
        const shape = tmp(node.name);
        const n = tmp(node.name);
        const c = tmp(node.name);
        const sizes = tmp(node.name);
        emit('Shape', [x], [shape]);
        emit('Slice', [shape, int64(`${node.name}/__s0`, [0]), int64(`${node.name}/__e0`, [1])], [n]);
        emit('Slice', [shape, int64(`${node.name}/__s3`, [3]), int64(`${node.name}/__e3`, [4])], [c]);
        emit('Concat', [n, int64(`${node.name}/__hw`, hw), c], [sizes], [{ name: 'axis', i: 0 }]);
        emit('Resize', [x, '', '', sizes], [node.name], attrs);
        break;
      }
      default:
        throw new ModelConvertError(`op ${node.op} (${node.name}) is not handled; the converter knows ${SUPPORTED_OPS.join(', ')}`);
    }
  }

  const outputs = graph.outputs.map((o) => ref(o));
  optimise(nodes, initializers, new Set(outputs));
  return {
    irVersion: 8,
    opset: 18,
    producer: 'gridwatch tfjs-to-onnx',
    producerVersion: options.producerVersion ?? '1',
    graphName: 'converted',
    nodes,
    initializers: [...initializers.values()].filter((t) => nodes.some((n) => n.inputs.includes(t.name))),
    inputs: graph.inputs.map((i) => ({ name: i.name, elemType: DataType.FLOAT, dims: (options.input ? [i.dims[0]!, i.dims[1]!, options.input.height, options.input.width] : i.dims).map((d) => (d < 0 ? 'batch' : d)) })),
    outputs: outputs.map((name) => ({ name, elemType: DataType.FLOAT, dims: null })),
    metadata: options.metadata ?? {},
  };
}

function permOf(n: OnnxNode): number[] {
  const a = n.attrs.find((x) => x.name === 'perm');
  return a && 'ints' in a ? a.ints : [];
}

/** Peephole passes: compose transposes, drop identities, fold bias adds and zero pads into convs. */
function optimise(nodes: OnnxNode[], inits: Map<string, OnnxTensor>, graphOutputs: Set<string>): void {
  const producer = (): Map<string, OnnxNode> => new Map(nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  const consumers = (): Map<string, OnnxNode[]> => {
    const m = new Map<string, OnnxNode[]>();
    for (const n of nodes) for (const i of n.inputs) { if (!m.has(i)) m.set(i, []); m.get(i)!.push(n); }
    return m;
  };
  const rename = (from: string, to: string): void => {
    for (const n of nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  };
  const remove = (n: OnnxNode): void => { nodes.splice(nodes.indexOf(n), 1); };
  const single = (c: Map<string, OnnxNode[]>, t: string): boolean => (c.get(t)?.length ?? 0) === 1 && !graphOutputs.has(t);

  for (let changed = true; changed;) {
    changed = false;
    const prod = producer();
    const cons = consumers();
    for (const n of nodes) {
      if (n.opType !== 'Transpose') continue;
      const p = prod.get(n.inputs[0]!);
      if (!p || p.opType !== 'Transpose' || !single(cons, p.outputs[0]!)) continue;
      const p1 = permOf(p);
      const p2 = permOf(n);
      const composed = p2.map((i) => p1[i]!);
      remove(p);
      if (composed.every((v, i) => v === i) && !graphOutputs.has(n.outputs[0]!)) {
        remove(n);
        rename(n.outputs[0]!, p.inputs[0]!);
      } else {
        n.inputs = [p.inputs[0]!];
        n.attrs = [{ name: 'perm', ints: composed }];
      }
      changed = true;
      break;
    }
    if (changed) continue;
    // Conv -> Transpose(NHWC) -> Add(bias[C]) -> Transpose(NCHW)  =>  Conv with bias.
    for (const add of nodes) {
      if (add.opType !== 'Add') continue;
      const ti = add.inputs.findIndex((i) => prod.get(i)?.opType === 'Transpose');
      if (ti < 0) continue;
      const t1 = prod.get(add.inputs[ti]!)!;
      const bias = inits.get(add.inputs[1 - ti]!);
      const conv = prod.get(t1.inputs[0]!);
      const after = cons.get(add.outputs[0]!) ?? [];
      if (!conv || conv.opType !== 'Conv' || conv.inputs.length !== 2 || !bias || bias.dims.length !== 1) continue;
      if (permOf(t1).join() !== TO_NHWC.join() || !single(cons, conv.outputs[0]!) || !single(cons, t1.outputs[0]!)) continue;
      if (after.length !== 1 || after[0]!.opType !== 'Transpose' || permOf(after[0]!).join() !== TO_NCHW.join() || graphOutputs.has(add.outputs[0]!)) continue;
      const t2 = after[0]!;
      conv.inputs.push(bias.name);
      remove(t1);
      remove(add);
      remove(t2);
      if (graphOutputs.has(t2.outputs[0]!)) conv.outputs = [t2.outputs[0]!];
      else rename(t2.outputs[0]!, conv.outputs[0]!);
      changed = true;
      break;
    }
    if (changed) continue;
    // Pad with zeros on H and W only, feeding a Conv  =>  Conv pads.
    for (const pad of nodes) {
      if (pad.opType !== 'Pad' || pad.inputs.length !== 2) continue;
      const next = cons.get(pad.outputs[0]!) ?? [];
      if (next.length !== 1 || next[0]!.opType !== 'Conv' || graphOutputs.has(pad.outputs[0]!)) continue;
      const conv = next[0]!;
      const padsT = inits.get(pad.inputs[1]!);
      const convPads = conv.attrs.find((a) => a.name === 'pads');
      if (!padsT || !convPads || !('ints' in convPads) || convPads.ints.some((v) => v !== 0)) continue;
      const p = Array.from(new BigInt64Array(padsT.raw.slice().buffer), Number);
      if (p.length !== 8 || p[0] || p[1] || p[4] || p[5]) continue;
      convPads.ints = [p[2]!, p[3]!, p[6]!, p[7]!];
      conv.inputs[0] = pad.inputs[0]!;
      remove(pad);
      changed = true;
      break;
    }
  }
}

export { encodeModel };
