import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectorOptions } from '../index.ts';
import { agreement, calibrationFrames, int8ModelPath, quantizeFile, verifyInt8 } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'gw-int8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agreement', () => {
  it('counts an fp32 box as found only by an int8 box of its class at IoU >= 0.5, each used once', () => {
    const d = (classId: number, box: [number, number, number, number]) => ({ label: 'x', classId, score: 0.9, box });
    const r = agreement([{ fp32: [d(2, [0, 0, 10, 10]), d(2, [1, 0, 10, 10]), d(0, [50, 50, 10, 10])], int8: [d(2, [0, 0, 10, 10]), d(1, [50, 50, 10, 10])] }]);
    expect(r).toEqual({ fp32Boxes: 3, matched: 1, share: 1 / 3 });
  });
});

describe('model quantize', () => {
  it('writes an int8 QDQ NanoDet-g 416 calibrated on real frames whose detections agree with fp32 on >= 95% of boxes, and runs faster', async () => {
    const out = int8ModelPath(dir);
    const r = await quantizeFile(out, calibrationFrames());
    expect(r.convs).toBe(34);
    expect(r.qdqNodes).toBeGreaterThan(200);
    // int8 weights: about a quarter of the fp32 file.
    expect(statSync(out).size).toBeLessThan(0.4 * statSync(join('data', 'models', 'nanodet-g-416.onnx')).size);
    const v = await verifyInt8(detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5 }, 'data'), out);
    expect(v.frames).toBe(107);
    expect(v.fp32Boxes).toBeGreaterThan(1000);
    expect(v.share).toBeGreaterThanOrEqual(0.95);
    expect(v.int8MsPerFrame).toBeLessThan(v.fp32MsPerFrame);
  }, 180_000);
});
