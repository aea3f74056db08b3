import { ModelLoadError } from '../errors.ts';
import type { Detection, ModelType } from '../types.ts';
import type { InputTransform, Normalisation } from './preprocess.ts';

/** The shape of one model input or output, as the runtime reports it (strings or -1 are free dims). */
export interface TensorInfo {
  name: string;
  shape: readonly (number | string)[];
}

export interface DecodeOptions {
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections: number;
  classes: readonly string[];
  frameWidth: number;
  frameHeight: number;
}

/** Reads raw model outputs into candidate boxes in model-input pixels: x1,y1,x2,y2,score,class. */
export interface ModelAdapter {
  readonly type: ModelType;
  /** The input's longer side, model pixels: what region planning scales crops to. */
  readonly inputSize: number;
  readonly inputWidth: number;
  readonly inputHeight: number;
  readonly inputName: string;
  readonly defaultResize: 'letterbox' | 'stretch';
  readonly norm: Normalisation;
  decode(outputs: Record<string, Float32Array>, t: InputTransform, o: DecodeOptions): Detection[];
}

const dim = (d: number | string | undefined): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);

interface InputShape { name: string; size: number; width: number; height: number }

/** The image input: [1,3,H,W]; a free size comes from `input_size` (square). */
function checkInput(model: string, inputs: readonly TensorInfo[], configured: number | undefined): InputShape {
  if (inputs.length !== 1) throw new ModelLoadError(`${model}: expected one image input, found ${inputs.length}`);
  const [inp] = inputs as [TensorInfo];
  if (inp.shape.length !== 4 || (dim(inp.shape[1]) !== undefined && dim(inp.shape[1]) !== 3)) {
    throw new ModelLoadError(`${model}: input ${inp.name} has shape [${inp.shape}], expected [1,3,H,W]`);
  }
  const h = dim(inp.shape[2]);
  const w = dim(inp.shape[3]);
  if ((h === undefined) !== (w === undefined)) throw new ModelLoadError(`${model}: input ${inp.name} has shape [${inp.shape}]; fix both H and W or neither`);
  const size = h === undefined || w === undefined ? configured : Math.max(h, w);
  if (size === undefined) throw new ModelLoadError(`${model}: input ${inp.name} has a free size; set detectors.model.input_size`);
  if (configured !== undefined && h !== undefined && configured !== size) throw new ModelLoadError(`${model}: input_size ${configured} in config, but the model takes ${w}x${h}`);
  return { name: inp.name, size, width: w ?? size, height: h ?? size };
}

/** Greedy non-maximum suppression per class over candidates; returns kept indices. */
export function nms(boxes: Float32Array, scores: Float32Array, classes: Int32Array, n: number, iou: number, max: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const keep: number[] = [];
  const removed = new Uint8Array(n);
  for (let oi = 0; oi < order.length && keep.length < max; oi++) {
    const i = order[oi]!;
    if (removed[i]) continue;
    keep.push(i);
    const ax1 = boxes[i * 4]!, ay1 = boxes[i * 4 + 1]!, ax2 = boxes[i * 4 + 2]!, ay2 = boxes[i * 4 + 3]!;
    const aa = (ax2 - ax1) * (ay2 - ay1);
    for (let oj = oi + 1; oj < order.length; oj++) {
      const j = order[oj]!;
      if (removed[j] || classes[j] !== classes[i]) continue;
      const w = Math.min(ax2, boxes[j * 4 + 2]!) - Math.max(ax1, boxes[j * 4]!);
      const h = Math.min(ay2, boxes[j * 4 + 3]!) - Math.max(ay1, boxes[j * 4 + 1]!);
      if (w <= 0 || h <= 0) continue;
      const inter = w * h;
      const ab = (boxes[j * 4 + 2]! - boxes[j * 4]!) * (boxes[j * 4 + 3]! - boxes[j * 4 + 1]!);
      if (inter / (aa + ab - inter) > iou) removed[j] = 1;
    }
  }
  return keep;
}

/** Collects candidates, runs NMS and maps the kept boxes to frame pixels. */
class Candidates {
  boxes = new Float32Array(4 * 1024);
  scores = new Float32Array(1024);
  classes = new Int32Array(1024);
  n = 0;

  push(x1: number, y1: number, x2: number, y2: number, score: number, cls: number): void {
    if (this.n === this.scores.length) {
      const boxes = new Float32Array(this.boxes.length * 2); boxes.set(this.boxes); this.boxes = boxes;
      const scores = new Float32Array(this.scores.length * 2); scores.set(this.scores); this.scores = scores;
      const classes = new Int32Array(this.classes.length * 2); classes.set(this.classes); this.classes = classes;
    }
    const i = this.n++;
    this.boxes[i * 4] = x1; this.boxes[i * 4 + 1] = y1; this.boxes[i * 4 + 2] = x2; this.boxes[i * 4 + 3] = y2;
    this.scores[i] = score;
    this.classes[i] = cls;
  }

  finish(t: InputTransform, o: DecodeOptions): Detection[] {
    const keep = nms(this.boxes, this.scores, this.classes, this.n, o.iouThreshold, o.maxDetections);
    const out: Detection[] = [];
    for (const i of keep) {
      const x1 = Math.max(0, Math.min(o.frameWidth, (this.boxes[i * 4]! - t.padX) / t.scaleX));
      const y1 = Math.max(0, Math.min(o.frameHeight, (this.boxes[i * 4 + 1]! - t.padY) / t.scaleY));
      const x2 = Math.max(0, Math.min(o.frameWidth, (this.boxes[i * 4 + 2]! - t.padX) / t.scaleX));
      const y2 = Math.max(0, Math.min(o.frameHeight, (this.boxes[i * 4 + 3]! - t.padY) / t.scaleY));
      if (x2 - x1 < 1 || y2 - y1 < 1) continue;
      const c = this.classes[i]!;
      out.push({ classId: c, label: o.classes[c] ?? String(c), score: round3(this.scores[i]!), box: [round1(x1), round1(y1), round1(x2 - x1), round1(y2 - y1)] });
    }
    this.n = 0;
    return out;
  }
}

const round1 = (v: number): number => Math.round(v * 10) / 10;
const round3 = (v: number): number => Math.round(v * 1000) / 1000;

const YOLO_NORM: Normalisation = { order: 'rgb', mean: [0, 0, 0], std: [255, 255, 255], pad: 114 };
/** The original NanoDet normalisation; it scores best on the converted model. */
const NANODET_NORM: Normalisation = { order: 'bgr', mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395], pad: 0 };

/**
 * NanoDet (GFL head): per stride a class map [1,N,nc] (sigmoid applied) and a box
 * distribution [1,N,4*(reg_max+1)], N = (H/stride)·(W/stride).
 */
function nanodet(model: string, inputs: readonly TensorInfo[], outputs: readonly TensorInfo[], nc: number, configured: number | undefined): ModelAdapter {
  const input = checkInput(model, inputs, configured);
  const { name: inputName, width, height } = input;
  const levels = new Map<number, { cls?: string; reg?: string; bins?: number }>();
  for (const o of outputs) {
    const n = dim(o.shape[1]);
    const last = dim(o.shape[2]);
    if (o.shape.length !== 3 || n === undefined || last === undefined) {
      throw new ModelLoadError(`${model}: output ${o.name} has shape [${o.shape}]; a NanoDet model has pairs of [1,N,${nc}] scores and [1,N,4*(reg_max+1)] boxes`);
    }
    const level = levels.get(n) ?? {};
    if (last === nc && level.cls === undefined) level.cls = o.name;
    else if (last % 4 === 0) { level.reg = o.name; level.bins = last / 4; }
    else throw new ModelLoadError(`${model}: output ${o.name} has ${last} values per anchor: neither ${nc} classes nor 4 box distributions`);
    levels.set(n, level);
  }
  const plan = [...levels.entries()].map(([n, l]) => {
    // N = (H/stride)·(W/stride): the stride that makes the grid fit the input.
    const stride = Math.round(Math.sqrt((width * height) / n));
    const side = width / stride;
    if (!l.cls || !l.reg || !Number.isInteger(side) || (height / stride) * side !== n) {
      throw new ModelLoadError(`${model}: outputs with N=${n} do not form a NanoDet level (need scores and boxes on a grid dividing ${width}x${height})`);
    }
    return { n, side, stride, cls: l.cls, reg: l.reg, bins: l.bins! };
  });
  if (plan.length === 0) throw new ModelLoadError(`${model}: no outputs`);
  const cand = new Candidates();
  const probs = new Float32Array(64);
  return {
    type: 'nanodet', inputSize: input.size, inputWidth: width, inputHeight: height, inputName, defaultResize: 'stretch', norm: NANODET_NORM,
    decode(out, t, o) {
      for (const lv of plan) {
        const cls = out[lv.cls]!;
        const reg = out[lv.reg]!;
        const bins = lv.bins;
        for (let i = 0; i < lv.n; i++) {
          let best = -1;
          let bestScore = o.scoreThreshold;
          const base = i * nc;
          for (let c = 0; c < nc; c++) {
            const s = cls[base + c]!;
            if (s > bestScore) { bestScore = s; best = c; }
          }
          if (best < 0) continue;
          // Distances left, top, right, bottom: the expectation of each softmax distribution.
          const d = [0, 0, 0, 0];
          for (let k = 0; k < 4; k++) {
            const off = i * 4 * bins + k * bins;
            let m = -Infinity;
            for (let j = 0; j < bins; j++) m = Math.max(m, reg[off + j]!);
            let sum = 0;
            for (let j = 0; j < bins; j++) { probs[j] = Math.exp(reg[off + j]! - m); sum += probs[j]!; }
            let e = 0;
            for (let j = 0; j < bins; j++) e += (probs[j]! / sum) * j;
            d[k] = e * lv.stride;
          }
          const cx = ((i % lv.side) + 0.5) * lv.stride;
          const cy = (Math.floor(i / lv.side) + 0.5) * lv.stride;
          cand.push(cx - d[0]!, cy - d[1]!, cx + d[2]!, cy + d[3]!, bestScore, best);
        }
      }
      return cand.finish(t, o);
    },
  };
}

/** Ultralytics YOLOv8 / YOLO11 export: one output [1, 4+nc, N], boxes as cx,cy,w,h. */
function yolov8(model: string, inputs: readonly TensorInfo[], outputs: readonly TensorInfo[], nc: number, configured: number | undefined): ModelAdapter {
  const { name: inputName, size, width, height } = checkInput(model, inputs, configured);
  const o0 = outputs[0];
  if (outputs.length !== 1 || !o0 || o0.shape.length !== 3 || (dim(o0.shape[1]) !== undefined && dim(o0.shape[1]) !== 4 + nc)) {
    throw new ModelLoadError(`${model}: a yolov8 model has one output [1, 4+${nc}, N]; found ${outputs.map((o) => `${o.name} [${o.shape}]`).join(', ')}`);
  }
  const cand = new Candidates();
  return {
    type: 'yolov8', inputSize: size, inputWidth: width, inputHeight: height, inputName, defaultResize: 'letterbox', norm: YOLO_NORM,
    decode(out, t, o) {
      const y = out[o0.name]!;
      const n = y.length / (4 + nc);
      for (let i = 0; i < n; i++) {
        let best = -1;
        let bestScore = o.scoreThreshold;
        for (let c = 0; c < nc; c++) {
          const s = y[(4 + c) * n + i]!;
          if (s > bestScore) { bestScore = s; best = c; }
        }
        if (best < 0) continue;
        const cx = y[i]!, cy = y[n + i]!, w = y[2 * n + i]!, h = y[3 * n + i]!;
        cand.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bestScore, best);
      }
      return cand.finish(t, o);
    },
  };
}

/** YOLOv5's own anchors (w, h in input pixels) for strides 8, 16 and 32, three per stride. */
export const YOLOV5_ANCHORS: readonly (readonly number[])[] = [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]];

/**
 * YOLOv5 cut at its three head convolutions (NHWC [1, H/s, W/s, 3·(5+nc)] for s = 8, 16, 32),
 * boxes decoded here with YOLOv5's anchors: the network stays fully convolutional, so it runs
 * at any input that is a multiple of 32 (416×416, 416×256), where the exported graph's own
 * decoding is fixed to the size it was exported at.
 */
function yolov5Heads(model: string, input: InputShape, outputs: readonly TensorInfo[], nc: number): ModelAdapter {
  const { name: inputName, size, width, height } = input;
  const per = 3 * (5 + nc);
  if (width % 32 !== 0 || height % 32 !== 0) throw new ModelLoadError(`${model}: a YOLOv5 head model needs an input that is a multiple of 32; it takes ${width}x${height}`);
  const levels = [8, 16, 32].map((stride, i) => ({ stride, nx: width / stride, ny: height / stride, anchors: YOLOV5_ANCHORS[i]! }));
  const cand = new Candidates();
  const sig = (v: number): number => 1 / (1 + Math.exp(-v));
  // Raw logits: a cell's objectness must pass the threshold before its classes are looked at.
  return {
    type: 'yolov5', inputSize: size, inputWidth: width, inputHeight: height, inputName, defaultResize: 'letterbox', norm: YOLO_NORM,
    decode(out, t, o) {
      const minLogit = Math.log(o.scoreThreshold / (1 - o.scoreThreshold));
      for (const name of outputs.map((x) => x.name)) {
        const y = out[name]!;
        const lv = levels.find((l) => l.nx * l.ny * per === y.length);
        if (!lv) throw new ModelLoadError(`${model}: output ${name} has ${y.length} values, which fits no stride of a ${width}x${height} input with ${nc} classes`);
        const cells = lv.nx * lv.ny;
        for (let c = 0; c < cells; c++) {
          for (let a = 0; a < 3; a++) {
            const base = c * per + a * (5 + nc);
            if (y[base + 4]! < minLogit) continue;
            const obj = sig(y[base + 4]!);
            let best = -1;
            let bestScore = o.scoreThreshold;
            for (let k = 0; k < nc; k++) {
              const s = obj * sig(y[base + 5 + k]!);
              if (s > bestScore) { bestScore = s; best = k; }
            }
            if (best < 0) continue;
            const gx = c % lv.nx, gy = (c / lv.nx) | 0;
            const cx = (sig(y[base]!) * 2 - 0.5 + gx) * lv.stride;
            const cy = (sig(y[base + 1]!) * 2 - 0.5 + gy) * lv.stride;
            const w = (sig(y[base + 2]!) * 2) ** 2 * lv.anchors[2 * a]!;
            const h = (sig(y[base + 3]!) * 2) ** 2 * lv.anchors[2 * a + 1]!;
            cand.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bestScore, best);
          }
        }
      }
      return cand.finish(t, o);
    },
  };
}

/** YOLOv5 export: one output [1, N, 5+nc]: cx,cy,w,h, objectness, class scores; or its three head convolutions (yolov5Heads). */
function yolov5(model: string, inputs: readonly TensorInfo[], outputs: readonly TensorInfo[], nc: number, configured: number | undefined): ModelAdapter {
  const input = checkInput(model, inputs, configured);
  if (outputs.length === 3 && outputs.every((o) => o.shape.length === 0 || o.shape.length === 4)) return yolov5Heads(model, input, outputs, nc);
  const { name: inputName, size, width, height } = input;
  const o0 = outputs[0];
  if (outputs.length < 1 || !o0 || o0.shape.length !== 3 || (dim(o0.shape[2]) !== undefined && dim(o0.shape[2]) !== 5 + nc)) {
    throw new ModelLoadError(`${model}: a yolov5 model has an output [1, N, 5+${nc}]; found ${outputs.map((o) => `${o.name} [${o.shape}]`).join(', ')}`);
  }
  const cand = new Candidates();
  const k = 5 + nc;
  return {
    type: 'yolov5', inputSize: size, inputWidth: width, inputHeight: height, inputName, defaultResize: 'letterbox', norm: YOLO_NORM,
    decode(out, t, o) {
      const y = out[o0.name]!;
      const n = y.length / k;
      for (let i = 0; i < n; i++) {
        const obj = y[i * k + 4]!;
        if (obj <= o.scoreThreshold) continue;
        let best = -1;
        let bestScore = o.scoreThreshold;
        for (let c = 0; c < nc; c++) {
          const s = obj * y[i * k + 5 + c]!;
          if (s > bestScore) { bestScore = s; best = c; }
        }
        if (best < 0) continue;
        const cx = y[i * k]!, cy = y[i * k + 1]!, w = y[i * k + 2]!, h = y[i * k + 3]!;
        cand.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, bestScore, best);
      }
      return cand.finish(t, o);
    },
  };
}

/** Picks the adapter by `type`; throws ModelLoadError when the model does not fit it. */
export function createAdapter(type: ModelType, model: string, inputs: readonly TensorInfo[], outputs: readonly TensorInfo[], nc: number, inputSize?: number): ModelAdapter {
  switch (type) {
    case 'nanodet': return nanodet(model, inputs, outputs, nc, inputSize);
    case 'yolov8': return yolov8(model, inputs, outputs, nc, inputSize);
    case 'yolov5': return yolov5(model, inputs, outputs, nc, inputSize);
    default: throw new ModelLoadError(`${model}: unknown model type ${String(type)}`);
  }
}
