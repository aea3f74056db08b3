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

  it('names a file it cannot decode', () => {
    const r = run('/etc/hostname.jpg');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/DETECT_FRAME_INVALID: cannot decode image \/etc\/hostname\.jpg/);
  });
});
