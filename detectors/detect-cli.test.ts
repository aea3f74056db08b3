import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

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
    const r = run('/usr/share/doc/opencv-doc/examples/data/vtest.avi', '--fps', '1', '--max-frames', '2');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.frame)).toEqual([0, 1]);
    expect(lines[1].time_ms).toBe(1000);
  });

  it('runs the region detector over a video as the engine does (--regions auto), on the built-in YOLOv5s int8', () => {
    const r = run('/usr/share/doc/opencv-doc/examples/data/vtest.avi', '--type', 'yolov5', '--precision', 'int8', '--regions', 'auto', '--zone', '0,200,768,376', '--max-frames', '2');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.model.version).toMatch(/^yolov5s\/.*\/int8-1$/);
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
