import { ModelConvertError } from '../errors.ts';
import { DataType, encodeModel, type OnnxAttr, type OnnxModel, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';
import { optimise } from './peephole.ts';
import type { ConstTensor, TfAttr, TfGraph, TfNode } from './tfjs-graph.ts';

/** The TF ops the converter handles; anything else is refused by name. */
export const SUPPORTED_OPS = [
  'Placeholder', 'Const', 'Identity', 'SparseToDense',
  'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv',
  'Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative', 'MaxPool', 'AvgPool',
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

/** The nodes the outputs depend on. */
function needed(nodes: TfNode[], outputs: string[]): TfNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const keep = new Set<string>();
  const stack = outputs.map((o) => o.split(':')[0]!);
  while (stack.length) {
    const name = stack.pop()!;
    const n = byName.get(name);
    if (!n || keep.has(name)) continue;
    keep.add(name);
    for (const i of n.input ?? []) stack.push(ref(i).split(':')[0]!);
  }
  return nodes.filter((n) => keep.has(n.name));
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
  /** Another input size than the graph's own: every fixed resize size is scaled with it (must come out whole). */
  input?: { width: number; height: number };
  /**
   * Graph tensors to stop at instead of the signature's outputs; only what they need is
   * converted (e.g. YOLOv5's three head convolutions, leaving its fixed-size box decoding out).
   */
  outputs?: string[];
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
    if (c) return addInit(ref(input), c);
    return nhwcInput && ref(input) === graph.inputs[0]!.name ? `${ref(input)}/__nhwc` : ref(input);
  };
  const emit = (opType: string, inputs: string[], outputs: string[], attrs: OnnxAttr[] = [], name?: string): void => {
    nodes.push({ name: name ?? `${outputs[0]}/${opType}`, opType, inputs, outputs, attrs });
  };
  const tmp = (base: string): string => `${base}/__${serial++}`;
  // An NHWC image input (TF's own layout, e.g. YOLOv5's export) becomes an NCHW one, transposed back inside.
  const nhwcInput = graph.inputs.length === 1 && graph.inputs[0]!.dims.length === 4 && graph.inputs[0]!.dims[3] === 3 && graph.inputs[0]!.dims[1] !== 3;
  const inputDims = nhwcInput ? [0, 3, 1, 2].map((k) => graph.inputs[0]!.dims[k]!) : graph.inputs[0]?.dims ?? [];
  const [, , baseH = -1, baseW = -1] = inputDims;
  if (options.input && (graph.inputs.length !== 1 || baseH <= 0 || baseW <= 0)) throw new ModelConvertError(`another input size needs one fixed image input; the graph has ${graph.inputs.length}`);
  if (nhwcInput) emit('Transpose', [graph.inputs[0]!.name], [`${graph.inputs[0]!.name}/__nhwc`], [{ name: 'perm', ints: TO_NHWC }]);
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

  const outputs = (options.outputs ?? graph.outputs).map((o) => ref(o));
  for (const node of topoSort(needed(graph.nodes, outputs))) {
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
      case '_FusedConv2D':
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
        if (node.op !== '_FusedConv2D') {
          wrapNhwc(node, 'Conv', (x) => [x, wName], attrs);
          break;
        }
        // TF's grappler fused the bias in: a conv, then an Add the peephole pass folds back into it.
        const fused = (attr['fused_ops']?.list?.s ?? []).map((v) => Buffer.from(v, 'base64').toString());
        if (fused.length !== 1 || fused[0] !== 'BiasAdd') throw new ModelConvertError(`_FusedConv2D ${node.name}: fused ops [${fused}] are not handled, only [BiasAdd]`);
        const conv = tmp(node.name);
        wrapNhwc({ ...node, name: conv }, 'Conv', (x) => [x, wName], attrs);
        emit('Add', [conv, data(inputs[2]!)], [node.name]);
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
          { name: 'coordinate_transformation_mode', s: align ? 'align_corners' : half ? 'half_pixel' : 'asymmetric' },
        ];
        // TF's half-pixel nearest, floor((x + 0.5)·in/out), is ONNX's half_pixel rounded half up
        // (its own tf_half_pixel_for_nn is deprecated, and onnxruntime warns at every load).
        if (!bilinear) attrs.push({ name: 'nearest_mode', s: align || half ? 'round_prefer_ceil' : 'floor' });
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

  optimise(nodes, initializers, new Set(outputs));
  return {
    irVersion: 8,
    opset: 18,
    producer: 'gridwatch tfjs-to-onnx',
    producerVersion: options.producerVersion ?? '1',
    graphName: 'converted',
    nodes,
    initializers: [...initializers.values()].filter((t) => nodes.some((n) => n.inputs.includes(t.name))),
    inputs: graph.inputs.map((i) => ({ name: i.name, elemType: DataType.FLOAT, dims: (options.input ? [inputDims[0]!, inputDims[1]!, options.input.height, options.input.width] : inputDims).map((d) => (d < 0 ? 'batch' : d)) })),
    outputs: outputs.map((name) => ({ name, elemType: DataType.FLOAT, dims: null })),
    metadata: options.metadata ?? {},
  };
}

export { encodeModel };
