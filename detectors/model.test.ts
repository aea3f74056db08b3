import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertFile, Detector, detectorOptions, ensureDefaultModel, nanodetSourcePath, readImage, readVideo, ModelLoadError, FrameInvalidError, type Detection, type RgbFrame } from './index.ts';

const DATA = process.env['GRIDWATCH_DATA_DIR'] ?? './data';
const DOG = '/usr/share/darknet/data/dog.jpg';
const PERSON = '/usr/share/darknet/data/person.jpg';
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const base = { type: 'nanodet' as const, score_threshold: 0.3, iou_threshold: 0.5 };

function found(dets: Detection[], label: string): Detection | undefined {
  return dets.filter((d) => d.label === label).sort((a, b) => b.score - a.score)[0];
}

function crop(f: RgbFrame, x: number, y: number, w: number, h: number): RgbFrame {
  const rgb = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) rgb.set(f.rgb.subarray(((y + r) * f.width + x) * 3, ((y + r) * f.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, rgb };
}

describe('NanoDet-g 416 converted from TF.js', () => {
  let detector: Detector;
  beforeAll(async () => {
    ensureDefaultModel(DATA);
    // The square input, as converted: the wide one is tested below.
    detector = await Detector.load(detectorOptions({ ...base, wide_input: false }, DATA));
  }, 60_000);
  afterAll(async () => { await detector?.release(); });

  it('finds the bicycle, the dog and the truck in darknet dog.jpg', async () => {
    const img = await readImage(DOG);
    const { detections } = await detector.detect(img);
    const bicycle = found(detections, 'bicycle');
    const dog = found(detections, 'dog');
    const truck = found(detections, 'truck') ?? found(detections, 'car');
    expect(bicycle).toBeDefined();
    expect(dog).toBeDefined();
    expect(truck).toBeDefined();
    // The dog sits bottom-left, the pickup top-right.
    expect(dog!.box[0] + dog!.box[2] / 2).toBeLessThan(img.width / 2);
    expect(dog!.box[1] + dog!.box[3] / 2).toBeGreaterThan(img.height / 2);
    expect(truck!.box[0]).toBeGreaterThan(img.width / 2);
    expect(truck!.box[1] + truck!.box[3]).toBeLessThan(img.height / 2);
  });

  it('finds the person, the horse and the dog in darknet person.jpg', async () => {
    const { detections } = await detector.detect(await readImage(PERSON));
    expect(found(detections, 'person')?.score).toBeGreaterThan(0.5);
    expect(found(detections, 'horse') ?? found(detections, 'cow')).toBeDefined();
    expect(found(detections, 'dog')).toBeDefined();
  });

  it('finds the parked van at the top of a vtest.avi frame', async () => {
    let frame;
    for await (const f of readVideo(VTEST, 1, 1)) frame = f;
    expect(frame).toBeDefined();
    const { detections } = await detector.detect(frame!);
    const van = detections.find((d) => (d.label === 'truck' || d.label === 'car' || d.label === 'bus') && d.box[1] + d.box[3] < frame!.height * 0.25 && d.box[2] > 50);
    expect(van).toBeDefined();
    expect(detections.filter((d) => d.label === 'person').length).toBeGreaterThanOrEqual(2);
  });

  it('reuses its output buffers without the detections of one image leaking into the next', async () => {
    const dog = await readImage(DOG), person = await readImage(PERSON);
    const first = (await detector.detect(dog)).detections;
    const kept = structuredClone(first);
    const other = (await detector.detect(person)).detections;
    expect(first).toEqual(kept); // detections are values, not views of the buffers
    expect((await detector.detect(dog)).detections).toEqual(kept);
    expect(other).not.toEqual(kept);
  });

  it('refuses a frame whose size does not match its bytes', async () => {
    await expect(detector.detect({ width: 10, height: 10, rgb: new Uint8Array(7) })).rejects.toBeInstanceOf(FrameInvalidError);
  });
});

describe('NanoDet-g with its wide input (416x256)', () => {
  let detector: Detector;
  beforeAll(async () => {
    ensureDefaultModel(DATA);
    detector = await Detector.load(detectorOptions(base, DATA));
  }, 60_000);
  afterAll(async () => { await detector?.release(); });

  it('runs a 16:9 frame on the wide input, and a 4:3, square or tall one on the square input', async () => {
    expect(detector.inputs).toEqual(['416x416', '416x256']);
    const dog = await readImage(DOG); // 768x576
    const wide = await detector.detect(crop(dog, 0, 0, 768, 432));
    expect(wide.input).toBe('416x256');
    expect(found(wide.detections, 'truck') ?? found(wide.detections, 'car')).toBeDefined();
    expect(found(wide.detections, 'bicycle')).toBeDefined();
    const square = await detector.detect(crop(dog, 0, 0, 576, 576));
    expect(square.input).toBe('416x416');
    expect(found(square.detections, 'dog')).toBeDefined();
    expect((await detector.detect(crop(dog, 0, 0, 300, 576))).input).toBe('416x416');
    // 4:3 stays square: the wide input would squash it (and missed this bicycle).
    const whole = await detector.detect(dog);
    expect(whole.input).toBe('416x416');
    expect(found(whole.detections, 'bicycle')).toBeDefined();
  });

  it('names a missing variant file, and refuses a variant whose longest side differs from the model', async () => {
    const square = detectorOptions({ ...base, wide_input: false }, DATA);
    const missing = await Detector.load({ ...square, variants: [join(DATA, 'models', 'missing-416x256.onnx')] }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ModelLoadError);
    expect((missing as Error).message).toContain('missing-416x256.onnx');
    const small = join(mkdtempSync(join(tmpdir(), 'gw-det-')), 'nanodet-320.onnx');
    convertFile(nanodetSourcePath(), small, {}, { width: 320, height: 320 });
    const other = await Detector.load({ ...square, variants: [small] }).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(ModelLoadError);
    expect((other as Error).message).toMatch(/nanodet-320\.onnx has a longest side of 320, the model 416/);
  });
});

describe('model loading errors', () => {
  it('names a missing model file', async () => {
    const err = await Detector.load(detectorOptions({ ...base, path: '/nonexistent/m.onnx' }, DATA)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toContain('/nonexistent/m.onnx');
  });

  it('refuses a file that is not a model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-det-'));
    writeFileSync(join(dir, 'bad.onnx'), 'not a model');
    const err = await Detector.load(detectorOptions({ ...base, path: join(dir, 'bad.onnx') }, DATA)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toContain('bad.onnx');
  });

  it('refuses NanoDet under the yolov8 or yolov5 adapter, with the shapes', async () => {
    for (const type of ['yolov8', 'yolov5'] as const) {
      // The NanoDet file named: without a path, yolov5 means the built-in YOLOv5s.
      const err = await Detector.load(detectorOptions({ ...base, type, path: ensureDefaultModel(DATA) }, DATA)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ModelLoadError);
      expect((err as Error).message).toMatch(new RegExp(`a ${type} model has`));
    }
  });

  it('refuses a class list that does not fit the model', async () => {
    const err = await Detector.load(detectorOptions({ ...base, classes: ['car', 'person'] }, DATA)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
  });

  it('names a corrupt image', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-det-'));
    writeFileSync(join(dir, 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2, 3]));
    await expect(readImage(join(dir, 'broken.jpg'))).rejects.toThrow(/broken\.jpg/);
  });
});
