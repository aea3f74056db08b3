import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertFile, defaultModelPath, ensureDefaultModel, LEGACY_NANODET_FILE, NANODET_NAME, NANODET_VERSION, nanodetSourcePath } from './index.ts';
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

