import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COCO_CLASSES } from './index.ts';

const cls = (name: string): number => COCO_CLASSES.indexOf(name);

/**
 * Scripted tracks at 1 frame a second for ten minutes, one scene per street-order zone: a row of
 * six bicycles; a table and two chairs beyond the shop line (and one chair inside the shop); a
 * vendor who stops for 90 s and then wheels the umbrella along; twelve people gathering.
 */
function scene(): string {
  const lines: string[] = ['# frame,id,left,top,width,height,conf,class'];
  for (let f = 0; f <= 600; f++) {
    for (let i = 0; i < 6 && f <= 500; i++) lines.push(`${f},${10 + i},${20 + i * 45},${640},40,60,0.8,${cls('bicycle')}`);
    if (f <= 500) {
      lines.push(`${f},20,420,560,90,60,0.7,${cls('dining table')}`, `${f},21,515,570,35,50,0.7,${cls('chair')}`, `${f},22,380,575,35,45,0.7,${cls('chair')}`);
      lines.push(`${f},23,460,430,35,50,0.7,${cls('chair')}`); // behind the line: the shop's own space
    }
    if (f <= 200) {
      const x = f < 90 ? 700 : 700 + (f - 90) * 4;
      lines.push(`${f},30,${x},630,60,60,0.8,${cls('umbrella')}`, `${f},31,${x + 50},580,30,110,0.8,${cls('person')}`);
    }
    if (f >= 100 && f <= 450) for (let i = 0; i < 12; i++) lines.push(`${f},${40 + i},${30 + (i % 6) * 100},${60 + Math.floor(i / 6) * 110},30,100,0.8,${cls('person')}`);
  }
  return lines.join('\n') + '\n';
}

const ZONES = [
  'image_size: [1280, 720]',
  'zones:',
  '  - { id: bikes, type: non_motor_parking, polygon: [[0, 600], [400, 600], [400, 720], [0, 720], [0, 600]], dwell_s: 300, min_count: 3 }',
  '  - { id: shops, type: shopfront_spillover, polygon: [[360, 400], [640, 400], [640, 720], [360, 720], [360, 400]], shop_line: [[360, 500], [640, 500]], dwell_s: 300 }',
  '  - { id: vendors, type: mobile_vendor, polygon: [[660, 500], [1280, 500], [1280, 720], [660, 720], [660, 500]] }',
  '  - { id: plaza, type: crowd_gathering, polygon: [[0, 0], [1280, 0], [1280, 300], [0, 300], [0, 0]], min_people: 10, dwell_s: 120 }',
  '',
].join('\n');

describe('gridwatch replay of the street-order rules', () => {
  it('raises each zone\'s rule once on its scripted tracks, filed under its category with the city\'s codes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-replay-so-'));
    writeFileSync(join(dir, 'zones.yaml'), ZONES);
    writeFileSync(join(dir, 'scene.txt'), scene());
    const out = execFileSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', join(dir, 'scene.txt'), '--zones', join(dir, 'zones.yaml'), '--fps', '1', '--city', 'config/demo-city.yaml'], { encoding: 'utf8', timeout: 120_000 });
    const got = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).sort((a, b) => String(a.zone).localeCompare(String(b.zone)));
    expect(got.map((v) => [v.zone, v.rule, v.category, v.standard_code, v.local_code, v.class, v.count])).toEqual([
      ['bikes', 'non_motor_parking', 'non_motor_parking', '0506', '606', 'bicycle', 6],
      ['plaza', 'crowd_gathering', 'crowd_gathering', undefined, '401', 'person', 12],
      ['shops', 'shopfront_spillover', 'shopfront_spillover', '0504', '603', 'chair', 3],
      ['vendors', 'mobile_vendor', 'mobile_vendor', '0501', '602', 'umbrella', 1],
    ]);
    const at = Object.fromEntries(got.map((v) => [v.zone, v]));
    expect(at['bikes']).toMatchObject({ start_frame: 0, confirmed_frame: 300, end_frame: 500 });
    expect(at['plaza']).toMatchObject({ start_frame: 100, confirmed_frame: 220, end_frame: 450 });
    expect(at['shops']).toMatchObject({ start_frame: 0, confirmed_frame: 300 });
    expect(at['vendors']!['confirmed_frame']).toBeGreaterThanOrEqual(90);
    // Without a city the same replay still names rule and count, but no category or codes.
    const bare = execFileSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', join(dir, 'scene.txt'), '--zones', join(dir, 'zones.yaml'), '--fps', '1'], { encoding: 'utf8', timeout: 120_000 });
    expect(bare.trim().split('\n').map((l) => JSON.parse(l)).every((v: Record<string, unknown>) => v.count !== undefined && v.standard_code === undefined)).toBe(true);
    // A zone key of another type is named with its path.
    writeFileSync(join(dir, 'bad.yaml'), 'zones:\n  - { id: x, type: crowd_gathering, polygon: [[0, 0], [10, 0], [10, 10], [0, 0]], shop_line: [[0, 0], [5, 5]] }\n');
    const bad = spawnSync('node', ['bin/gridwatch.mjs', 'replay', '--detections', join(dir, 'scene.txt'), '--zones', join(dir, 'bad.yaml'), '--fps', '1'], { encoding: 'utf8', timeout: 120_000 });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('zones[0].shop_line: applies only to shopfront_spillover zones');
  }, 240_000);
});
