import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FPS = 25;

/** A scripted street at 25 fps for 4 minutes: one car parks, one drives through, one stops briefly. */
function scene(): string {
  const lines: string[] = ['# frame,id,left,top,width,height,conf,class'];
  for (let f = 1; f <= 6000; f++) {
    const row: string[] = [];
    // Car 1 parks from 10 s to 200 s; its tracker id switches every 40 s; missed in 10 % of frames.
    if (f >= 250 && f <= 5000 && f % 10 !== 3) {
      const jitter = (f % 7) - 3;
      row.push(`${f},${100 + Math.floor(f / 1000)},${300 + jitter},${220},${110 + jitter},${70},0.8,2`);
    }
    // Car 2 drives through the zone all the time, wrapping around.
    row.push(`${f},7,${(f * 3) % 600},300,120,75,0.9,2`);
    // A truck stops for 20 s (under the 60 s dwell).
    if (f >= 1000 && f < 1500) row.push(`${f},9,40,340,140,90,0.7,7`);
    // A gap: frames 3000..3100 are listed as empty.
    if (f >= 3000 && f <= 3100) { lines.push(`${f},-1,-1,-1,-1,-1,-1`); continue; }
    lines.push(...row);
  }
  return lines.join('\n') + '\n';
}

describe('gridwatch replay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gw-replay-'));
  const zones = join(dir, 'zones.yaml');
  writeFileSync(zones, 'image_size: [640, 480]\nzones:\n  - id: curb\n    type: no_parking\n    polygon: [[0, 200], [640, 200], [640, 480], [0, 480], [0, 200]]\n    dwell_s: 60\n');

  it('flags the car that parks, not the one that moves or the one that stops briefly', () => {
    const dets = join(dir, 'scene.txt');
    writeFileSync(dets, scene());
    const out = execFileSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', dets, '--zones', zones, '--fps', String(FPS)], { encoding: 'utf8', timeout: 60_000 });
    const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    const v = lines[0];
    expect(v).toMatchObject({ rule: 'illegal_parking', zone: 'curb', class: 'car', start_frame: 250, end_frame: 5000 });
    expect(v.id).toMatch(/^vio-[0-9a-f]{16}$/);
    expect(v.confirmed_frame).toBeGreaterThanOrEqual(250 + 60 * FPS);
    // Boxes from the confirmation on: the car is missed in one frame of ten, and frames 3000–3100 are empty.
    expect(v.boxes[0][0]).toBeGreaterThanOrEqual(v.confirmed_frame);
    expect(v.boxes.length).toBeGreaterThan(0.85 * (5000 - v.confirmed_frame) - 101);
    const f0 = v.boxes[0][0];
    expect(v.boxes[0]).toEqual([f0, 300 + (f0 % 7) - 3, 220, 110 + (f0 % 7) - 3, 70]);
  });

  it('gives no violations and exit 0 for a detections file with nothing in it', () => {
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '');
    const r = spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', empty, '--zones', zones, '--fps', '10'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    writeFileSync(empty, '1,-1,-1,-1,-1,-1,-1\n2,-1,-1,-1,-1,-1,-1\n');
    const r2 = spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', empty, '--zones', zones, '--fps', '10'], { encoding: 'utf8', timeout: 60_000 });
    expect([r2.status, r2.stdout]).toEqual([0, '']);
  });

  it('takes a camera block with its homography (--camera), and names a bad homography', () => {
    const cam = join(dir, 'camera.yaml');
    writeFileSync(cam, [
      'id: cam-1', 'url: rtsp://10.0.0.1/1', 'lat: 30.6', 'lon: 104.0', 'image_size: [640, 480]',
      'homography:', '  image: [[0, 480], [640, 480], [640, 200], [0, 200]]',
      '  ground: [[30.60000, 104.00000], [30.60000, 104.00020], [30.60030, 104.00020], [30.60030, 104.00000]]',
      'zones:', '  - id: curb', '    type: no_parking', '    polygon: [[0, 200], [640, 200], [640, 480], [0, 480], [0, 200]]', '    dwell_s: 60', '',
    ].join('\n'));
    const dets = join(dir, 'scene.txt');
    writeFileSync(dets, scene());
    const out = execFileSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', dets, '--camera', cam, '--fps', String(FPS)], { encoding: 'utf8', timeout: 60_000 });
    const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.zone, l.class, l.start_frame, l.end_frame])).toEqual([['curb', 'car', 250, 5000]]);
    writeFileSync(cam, 'image_size: [640, 480]\nhomography:\n  image: [[0, 480], [640, 480]]\n  ground: []\nzones: []\n');
    const r = spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', dets, '--camera', cam, '--fps', '25'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('homography.image');
  });

  it('names the file and line of a bad detections line', () => {
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, '1,1,10,10,50,50,0.9,2\n2,1,10,ten,50,50,0.9,2\n');
    const r = spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', bad, '--zones', zones, '--fps', '25'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`DETECT_DETECTIONS_FILE: ${bad}:2: column 4 (top) is not a number: "ten"`);
    writeFileSync(bad, '1,1,10,10,50,50,0.9,2\n2,1,10\n');
    expect(spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', bad, '--zones', zones, '--fps', '25'], { encoding: 'utf8' }).stderr).toContain(`${bad}:2: expected frame,id,left,top,width,height,conf[,class]; got 3 columns`);
  });

  it('refuses a zone polygon outside the image', () => {
    const z2 = join(dir, 'zones-out.yaml');
    writeFileSync(z2, 'image_size: [640, 480]\nzones:\n  - id: far\n    type: no_parking\n    polygon: [[0, 0], [700, 0], [700, 100], [0, 0]]\n');
    const dets = join(dir, 'one.txt');
    writeFileSync(dets, '1,1,10,10,50,50,0.9,2\n');
    const r = spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', dets, '--zones', z2, '--fps', '25'], { encoding: 'utf8' });
    expect(r.stderr).toContain('zone far: polygon point [700, 0] lies outside the 640x480 image');
  });
});
