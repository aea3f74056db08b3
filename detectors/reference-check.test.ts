import { describe, expect, it } from 'vitest';
import { COCO_CLASSES } from './model/coco.ts';
import { ReferenceCheck } from './reference-check.ts';
import type { MotDetections } from './replay.ts';
import type { Detection } from './types.ts';

const det = (label: string, box: Detection['box'], score = 0.9): Detection => ({ classId: COCO_CLASSES.indexOf(label), label, score, box });
const VEHICLES = new Set(['car', 'motorcycle', 'bus', 'truck']);
const reference = (frames: Record<number, Detection[]>): MotDetections => {
  const keys = Object.keys(frames).map(Number);
  return { frames: new Map(keys.map((k) => [k, frames[k]!])), first: Math.min(...keys), last: Math.max(...keys) };
};

describe('ReferenceCheck', () => {
  it('matches frames by time at the reference rate, vehicles as one kind, one box each', () => {
    // 10 fps from frame 1: 1.4 s into the video is frame 15.
    const check = new ReferenceCheck(reference({
      15: [det('truck', [100, 100, 40, 20]), det('car', [300, 100, 30, 16]), det('person', [10, 10, 8, 20])],
    }), { fps: 10, first: 1, classes: VEHICLES, minScore: 0.25 });
    // Our car on their truck is found; two boxes on their car: one found, one false; their car far off: none.
    const f = check.frame(1400, [det('car', [101, 100, 40, 20]), det('car', [300, 101, 30, 16]), det('truck', [302, 100, 30, 16]), det('person', [10, 10, 8, 20])]);
    expect(f).toEqual({ referenceFrame: 15, reference: 2, found: 2, falseBoxes: 1 });
    // A frame the reference has no line for shows nothing: every vehicle of ours there is false.
    expect(check.frame(2400, [det('bus', [0, 0, 50, 50])])).toMatchObject({ referenceFrame: 25, reference: 0, found: 0, falseBoxes: 1 });
    const s = check.summary();
    expect(s).toMatchObject({ frames: 2, reference_boxes: 2, found: 2, recall: 1, false_boxes: 2, false_boxes_per_10_frames: 10 });
    // Their truck is 40 px long, their car 30: both in the 24–48 px band.
    expect(s.by_size).toEqual({ '<12': { found: 0, boxes: 0, recall: 0 }, '12-24': { found: 0, boxes: 0, recall: 0 }, '24-48': { found: 2, boxes: 2, recall: 1 }, '>48': { found: 0, boxes: 0, recall: 0 } });
    expect(s.mean_iou).toBeGreaterThan(0.9);
    expect(s.mean_iou).toBeLessThan(1);
  });

  it('leaves out reference boxes under the least score, and boxes under IoU 0.5', () => {
    const check = new ReferenceCheck(reference({ 1: [det('car', [0, 0, 20, 20], 0.12), det('car', [100, 0, 20, 20], 0.6)] }), { fps: 10, first: 1, classes: VEHICLES, minScore: 0.25 });
    // Shifted by half its width: IoU 1/3, not found, and false.
    expect(check.frame(0, [det('car', [110, 0, 20, 20])])).toEqual({ referenceFrame: 1, reference: 1, found: 0, falseBoxes: 1 });
    expect(check.summary()).toMatchObject({ recall: 0, mean_iou: 0, by_size: { '12-24': { found: 0, boxes: 1, recall: 0 } } });
  });

  it('refuses a frame rate that is not above 0', () => {
    expect(() => new ReferenceCheck(reference({}), { fps: 0, first: 1, classes: VEHICLES, minScore: 0 })).toThrow(/reference frame rate must be above 0; got 0/);
  });
});
