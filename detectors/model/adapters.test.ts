import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, encodeModel } from '../convert/onnx-proto.ts';
import { Detector, detectorOptions } from './detector.ts';
import { COCO_CLASSES } from './coco.ts';
import { ModelLoadError } from '../errors.ts';

const DIR = mkdtempSync(join(tmpdir(), 'gw-adapt-'));

/** A tiny ONNX model whose only output is a fixed tensor (it still reads its image input). */
function fixedOutputModel(file: string, dims: number[], values: Float32Array): string {
  const zero = new Float32Array([0]);
  writeFileSync(file, encodeModel({
    irVersion: 8, opset: 18, producer: 'test', producerVersion: '1', graphName: 'fixed', metadata: {},
    inputs: [{ name: 'images', elemType: DataType.FLOAT, dims: [1, 3, 64, 64] }],
    outputs: [{ name: 'output0', elemType: DataType.FLOAT, dims }],
    initializers: [
      { name: 'zero', dims: [], dataType: DataType.FLOAT, raw: new Uint8Array(zero.buffer) },
      { name: 'fixed', dims, dataType: DataType.FLOAT, raw: new Uint8Array(values.buffer) },
    ],
    nodes: [
      { name: 'sum', opType: 'ReduceSum', inputs: ['images'], outputs: ['s'], attrs: [{ name: 'keepdims', i: 0 }] },
      { name: 'mul', opType: 'Mul', inputs: ['s', 'zero'], outputs: ['z'], attrs: [] },
      { name: 'add', opType: 'Add', inputs: ['fixed', 'z'], outputs: ['output0'], attrs: [] },
    ],
  }));
  return file;
}

// Three candidates in model-input pixels (64x64): a car, the same car shifted (NMS removes it),
// and a weak person (under the threshold).
const CANDIDATES = [
  { cx: 32, cy: 32, w: 20, h: 10, cls: 2, score: 0.9 },
  { cx: 33, cy: 32, w: 20, h: 10, cls: 2, score: 0.8 },
  { cx: 10, cy: 40, w: 6, h: 12, cls: 0, score: 0.2 },
];
// A 128x64 frame letterboxed into 64x64: scale 0.5, 16 px of padding above and below.
const FRAME = { width: 128, height: 64, rgb: new Uint8Array(128 * 64 * 3).fill(90) };
const EXPECTED = { label: 'car', classId: 2, score: 0.9, box: [44, 22, 40, 20] };

describe('YOLO adapters on fixed-output models', () => {
  it('yolov8: decodes [1, 4+nc, N], letterboxes, runs NMS and the threshold', async () => {
    const nc = 80;
    const n = CANDIDATES.length;
    const v = new Float32Array((4 + nc) * n);
    CANDIDATES.forEach((c, i) => {
      v[i] = c.cx; v[n + i] = c.cy; v[2 * n + i] = c.w; v[3 * n + i] = c.h;
      v[(4 + c.cls) * n + i] = c.score;
    });
    const path = fixedOutputModel(join(DIR, 'v8.onnx'), [1, 4 + nc, n], v);
    const d = await Detector.load(detectorOptions({ type: 'yolov8', path, score_threshold: 0.3, iou_threshold: 0.5 }, DIR));
    const { detections } = await d.detect(FRAME);
    expect(detections).toEqual([EXPECTED]);
    await d.release();
  });

  it('yolov5: decodes [1, N, 5+nc] with objectness', async () => {
    const nc = 80;
    const v = new Float32Array(CANDIDATES.length * (5 + nc));
    CANDIDATES.forEach((c, i) => {
      const o = i * (5 + nc);
      v[o] = c.cx; v[o + 1] = c.cy; v[o + 2] = c.w; v[o + 3] = c.h; v[o + 4] = c.score;
      v[o + 5 + c.cls] = 1;
    });
    const path = fixedOutputModel(join(DIR, 'v5.onnx'), [1, CANDIDATES.length, 5 + nc], v);
    const d = await Detector.load(detectorOptions({ type: 'yolov5', path, score_threshold: 0.3, iou_threshold: 0.5 }, DIR));
    const { detections } = await d.detect(FRAME);
    expect(detections).toEqual([EXPECTED]);
    await d.release();
  });

  it('refuses a model whose class count differs from the class list, and the wrong adapter', async () => {
    const path = fixedOutputModel(join(DIR, 'v8b.onnx'), [1, 84, 3], new Float32Array(84 * 3));
    const few = await Detector.load(detectorOptions({ type: 'yolov8', path, classes: ['car', 'person'], score_threshold: 0.3, iou_threshold: 0.5 }, DIR)).catch((e: unknown) => e);
    expect(few).toBeInstanceOf(ModelLoadError);
    expect((few as Error).message).toMatch(/a yolov8 model has one output \[1, 4\+2, N\]; found output0 \[1,84,3\]/);
    const wrong = await Detector.load(detectorOptions({ type: 'yolov5', path, classes: [...COCO_CLASSES], score_threshold: 0.3, iou_threshold: 0.5 }, DIR)).catch((e: unknown) => e);
    expect((wrong as Error).message).toMatch(/a yolov5 model has an output \[1, N, 5\+80\]/);
    const nano = await Detector.load(detectorOptions({ type: 'nanodet', path, score_threshold: 0.3, iou_threshold: 0.5 }, DIR)).catch((e: unknown) => e);
    expect(nano).toBeInstanceOf(ModelLoadError);
  });
});
