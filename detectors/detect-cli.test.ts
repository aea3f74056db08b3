import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/harness.ts';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const run = (...args: string[]) => spawnSync('node', ['bin/gridwatch.mjs', 'detect', ...args], { encoding: 'utf8', timeout: 60_000 });

describe('gridwatch detect', () => {
  it('prints JSON detections for an image', () => {
    const r = run('/usr/share/darknet/data/dog.jpg');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ width: 768, height: 576, model: { name: 'nanodet-g-416' } });
    const classes = out.detections.map((d: { class: string }) => d.class);
    expect(classes).toEqual(expect.arrayContaining(['dog', 'bicycle', 'truck']));
    expect(out.detections[0].box).toHaveLength(4);
  });

  it('prints one line per sampled frame of a video', () => {
    const r = run(VTEST, '--fps', '1', '--max-frames', '2');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.frame)).toEqual([0, 1]);
    // ffmpeg's fps filter keeps, of 10 fps, the frames at 0.4 s, 1.4 s…
    expect(lines.map((l) => l.time_ms)).toEqual([400, 1400]);
  });

  it('scores a video against another detector\'s boxes (--reference), frame by frame', () => {
    // The reference: the same model on every frame of the first 4 s, written as MOTChallenge lines (frames from 1).
    const every = run(VTEST, '--fps', '10', '--max-frames', '40');
    expect(every.status).toBe(0);
    const frames = every.stdout.trim().split('\n').map((l) => JSON.parse(l) as { frame: number; detections: { class: string; class_id: number; score: number; box: number[] }[] });
    const dir = tempDir('gw-detect-ref-');
    let n = 0;
    /** The reference file, less the boxes `drop` names, plus `extra` lines. */
    const mot = (drop: (frame: number, i: number) => boolean, extra: string[] = []): string => {
      const file = join(dir, `ref-${++n}.txt`);
      writeFileSync(file, [...frames.flatMap((f) => f.detections.filter((_, i) => !drop(f.frame + 1, i)).map((d) => [f.frame + 1, -1, ...d.box, d.score, d.class_id].join(','))), ...extra].join('\n'));
      return file;
    };
    const people = (ref: string): { lines: { reference: { frame: number; boxes: number; found: number; false_boxes: number } }[]; summary: Record<string, number> } => {
      const r = run(VTEST, '--fps', '1', '--max-frames', '4', '--reference', ref, '--classes', 'person', '--reference-min-score', '0');
      expect(r.status, r.stderr).toBe(0);
      const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      return { lines: out.slice(0, -1), summary: out.at(-1).summary };
    };
    // Against itself: the frames shown at 0.4 s, 1.4 s… are the reference's 5, 15…, every box found, at IoU 1.
    const same = people(mot(() => false));
    expect(same.lines.map((l) => l.reference.frame)).toEqual([5, 15, 25, 35]);
    expect(same.summary).toMatchObject({ frames: 4, recall: 1, false_boxes: 0, mean_iou: 1 });
    const total = same.summary['reference_boxes']!;
    expect(total).toBeGreaterThanOrEqual(12);
    // One person taken out of frame 15 makes our box there false; one added at frame 25 is a miss.
    const firstPerson = frames[14]!.detections.findIndex((d) => d.class === 'person');
    const edited = people(mot((f, i) => f === 15 && i === firstPerson, ['25,-1,700,500,20,40,0.9,0']));
    expect(edited.summary).toMatchObject({ reference_boxes: total, found: total - 1, false_boxes: 1 });
    expect(edited.lines[2]!.reference).toMatchObject({ frame: 25, found: same.lines[2]!.reference.found });
  });

  it('says what is wrong with a reference file, and with --classes', () => {
    const dir = tempDir('gw-detect-ref-');
    const bad = join(dir, 'det.txt');
    writeFileSync(bad, '1,-1,10,10,20,20,0.9,2\n2,-1,10,ten,20,20,0.9,2\n');
    const r = run(VTEST, '--max-frames', '1', '--reference', bad);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${bad}:2`);
    expect(r.stderr).toMatch(/column 4 \(top\) is not a number: "ten"/);
    const c = run(VTEST, '--max-frames', '1', '--reference', bad, '--classes', 'car,spaceship');
    expect(c.stderr).toMatch(/--classes: "spaceship" not COCO classes/);
    const img = run('/usr/share/darknet/data/dog.jpg', '--reference', bad);
    expect(img.stderr).toMatch(/--reference scores a video; this is an image/);
  });

  it('runs the region detector over a video as the engine does (--regions auto), on the built-in YOLOv5s int8', () => {
    const r = run(VTEST, '--type', 'yolov5', '--precision', 'int8', '--regions', 'auto', '--zone', '0,200,768,376', '--max-frames', '2');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.model.version).toMatch(/^yolov5s\/.*\/int8-1$/);
      // NanoDet-g's second opinion where a crop shows nothing, as a worker with detectors.region_model.
      expect(l.model.second_opinion).toMatchObject({ name: 'nanodet-g-416' });
      // The whole frame and full-resolution crops.
      expect(l.inferences).toBeGreaterThan(1);
      expect(l.detections.filter((d: { class: string }) => d.class === 'person').length).toBeGreaterThanOrEqual(3);
    }
  });

  it('refuses a zone that is not x,y,w,h, saying so', () => {
    const r = run('/usr/share/darknet/data/dog.jpg', '--regions', 'zones', '--zone', '10,20,0,5');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--zone "10,20,0,5": expected x,y,w,h in frame pixels, w and h above 0/);
  });

  it('names a file it cannot decode', () => {
    const r = run('/etc/hostname.jpg');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/DETECT_FRAME_INVALID: cannot decode image \/etc\/hostname\.jpg/);
  });
});
