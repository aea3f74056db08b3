import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { Zone } from '../../config/index.ts';
import type { ZoneT } from '../../config/index.ts';
import { COCO_CLASSES } from '../model/coco.ts';
import { readMot, replayDetections, type MotDetections } from '../replay.ts';
import type { Detection } from '../types.ts';
import { DwellRules, type DwellSnapshot, type Violation } from './dwell.ts';
import { compileZones } from './zones.ts';
import { iou } from './box.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'roadtrack');
type Cam = { image_size: [number, number]; homography: { image: [number, number][]; ground: [number, number][] } };
const CAMERAS = JSON.parse(readFileSync(join(FIXTURES, 'cameras.json'), 'utf8')) as Record<string, Cam>;
const FPS = 10;
const MODEL = { name: 'test', version: '1' };

/** The data set's protocol zone: the whole frame, a dwell of 3 s. */
function wholeFrame(cam: Cam, over: Partial<ZoneT> = {}): ZoneT {
  const [w, h] = cam.image_size;
  return Value.Default(Zone, { id: 'road', type: 'no_parking', polygon: [[0, 0], [w, 0], [w, h], [0, h], [0, 0]], dwell_s: 3, min_box_px: 0, ...over }) as ZoneT;
}

function fixture(seq: string): { dets: MotDetections; cam: Cam; gt: Map<number, [number, number, number, number]> } {
  const cam = CAMERAS[seq.match(/K\d+/)![0]]!;
  const dets = readMot(join(FIXTURES, seq, 'det.txt'));
  const gt = new Map<number, [number, number, number, number]>();
  if (seq.startsWith('P/')) {
    for (const line of readFileSync(join(FIXTURES, seq, 'gt.txt'), 'utf8').trim().split('\n')) {
      const [f, , l, t, w, h] = line.split(',').map(Number) as number[];
      gt.set(f!, [l!, t!, w!, h!]);
    }
  }
  return { dets, cam, gt };
}


/** Share of a violation's boxes that lie on the ground-truth vehicle (IoU ≥ 0.5 where it is annotated). */
function onTruth(boxes: readonly (readonly number[])[], gt: Map<number, [number, number, number, number]>): number {
  const annotated = boxes.filter(([f]) => gt.has(f!));
  return annotated.filter(([f, ...b]) => iou(b, gt.get(f!)!) >= 0.5).length / Math.max(1, annotated.length);
}

const STOPS = ['P/04-15_11_K221_458', 'P/04-22_09_K221_1305', 'P/05-14_14_K204_1017'];
const TRAFFIC = ['N/05-12_09_K204_2000', 'N/06-10_09_K204_2000', 'N/04-30_17_K211_2000'];

describe('stopped vehicles on real dome-camera tracks (RoadTrack)', () => {
  for (const withH of [true, false]) {
    const how = withH ? 'with the homography' : 'without one (perspective fitted from the boxes)';
    it(`one violation per stopped vehicle through misses and class flips, ${how}`, () => {
      for (const seq of STOPS) {
        const { dets, cam, gt } = fixture(seq);
        const vs = replayDetections(dets, { zones: [wholeFrame(cam)], imageSize: cam.image_size, homography: withH ? cam.homography : undefined }, FPS);
        expect(vs.map((v) => v.id), seq).toHaveLength(1);
        expect(onTruth(vs[0]!.boxes, gt), seq).toBeGreaterThan(0.9);
        expect(['car', 'truck']).toContain(vs[0]!.class);
      }
    });

    it(`does not take slow distant traffic for a stop, ${how}`, () => {
      for (const seq of TRAFFIC) {
        const { dets, cam } = fixture(seq);
        expect(replayDetections(dets, { zones: [wholeFrame(cam)], imageSize: cam.image_size, homography: withH ? cam.homography : undefined }, FPS), seq).toEqual([]);
      }
    });
  }

  it('the class-flip fixture really flips: the stopped van is found as car and as truck', () => {
    const { dets, gt } = fixture('P/04-15_11_K221_458');
    const labels = new Set<string>();
    for (const [f, g] of gt) for (const d of dets.frames.get(f) ?? []) if (iou(d.box, g) >= 0.5) labels.add(d.label);
    expect([...labels].sort()).toEqual(['car', 'truck']);
  });

  it('holds at one sample a second (every 10th frame)', () => {
    for (const seq of STOPS) {
      const { dets, cam, gt } = fixture(seq);
      const vs = replayDetections(dets, { zones: [wholeFrame(cam)], imageSize: cam.image_size, homography: cam.homography }, FPS, 10);
      expect(vs, seq).toHaveLength(1);
      expect(onTruth(vs[0]!.boxes, gt), seq).toBeGreaterThan(0.9);
    }
  });

  it('keeps the violation id across a restart in the middle of the stop', () => {
    const { dets, cam } = fixture('P/04-22_09_K221_1305');
    const geometry = { imageSize: cam.image_size, homography: cam.homography };
    const fresh = (): DwellRules => {
      const r = new DwellRules({ model: MODEL });
      r.setZones('k221', compileZones('k221', [wholeFrame(cam)], COCO_CLASSES, cam.image_size), geometry);
      return r;
    };
    const feed = (r: DwellRules, from: number, to: number): Violation[] => {
      const out: Violation[] = [];
      for (let f = from; f <= to; f++) out.push(...r.observe('k221', f * 100, dets.frames.get(f) ?? []));
      return out;
    };
    const before = fresh();
    const first = feed(before, dets.first, 450);
    const news = first.filter((v) => v.state === 'new');
    expect(news).toHaveLength(1);
    const saved = JSON.parse(JSON.stringify(before.snapshot())) as DwellSnapshot;
    expect(saved.version).toBe(2);
    const after = fresh();
    after.restore(saved);
    const rest = [...feed(after, 451, dets.last), ...after.flush()];
    expect(rest.filter((v) => v.state === 'new')).toEqual([]);
    expect(new Set(rest.map((v) => v.id))).toEqual(new Set([news[0]!.id]));
    expect(rest.at(-1)).toMatchObject({ state: 'end', firstSeenMs: news[0]!.firstSeenMs });
  });

  it('takes a version 1 snapshot: a parked car keeps the id it had before the upgrade', () => {
    const { dets, cam } = fixture('P/05-14_14_K204_1017');
    const r = new DwellRules({ model: MODEL });
    r.setZones('k204', compileZones('k204', [wholeFrame(cam)], COCO_CLASSES, cam.image_size), { imageSize: cam.image_size, homography: cam.homography });
    const gtBox: [number, number, number, number] = [369, 104, 11, 16];
    const v1 = {
      version: 1 as const,
      cameras: {
        k204: {
          lastMs: 24_900, cooldowns: [],
          spots: [{
            zoneId: 'road', trackId: 3, cls: 'truck', anchor: [374.5, 120], size: [11, 16], box: gtBox, firstSeenMs: 15_000, lastSeenMs: 24_900,
            samples: 100, seen: 95, present: 95, score: 0.8, violation: { id: 'vio-00000000000000v1', confirmedMs: 18_000, lastUpdateMs: 18_000 },
          }],
        },
      },
    };
    r.restore(v1 as unknown as DwellSnapshot);
    const out: Violation[] = [];
    for (let f = 250; f <= 500; f++) out.push(...r.observe('k204', f * 100, dets.frames.get(f) ?? []));
    out.push(...r.flush());
    expect(out.filter((v) => v.state === 'new')).toEqual([]);
    expect(out.at(-1)).toMatchObject({ id: 'vio-00000000000000v1', state: 'end', firstSeenMs: 15_000 });
  });
});

describe('a queue is not parking', () => {
  // Seen from straight above: image [0..640] × [200..480] is 32 m across and 30 m along the
  // street (20 px per metre across, 9.3 along).
  const image: [number, number][] = [[0, 480], [640, 480], [640, 200], [0, 200]];
  const ground: [number, number][] = [[30.6, 104.0], [30.6, 104.000333], [30.60027, 104.000333], [30.60027, 104.0]];
  const zone = (): ZoneT => Value.Default(Zone, { id: 'street', type: 'no_parking', polygon: [[0, 200], [640, 200], [640, 480], [0, 480], [0, 200]], dwell_s: 60 }) as ZoneT;
  const det = (box: [number, number, number, number]): Detection => ({ classId: 2, label: 'car', score: 0.8, box });

  it('a jam that crawls and stops for less than dwell_s raises nothing; the car parked beside it is one violation', () => {
    const r = new DwellRules({ model: MODEL });
    r.setZones('cam', compileZones('cam', [zone()], COCO_CLASSES, [640, 480]), { imageSize: [640, 480], homography: { image, ground } });
    const out: Violation[] = [];
    // Cars queue along the lane at x ≈ 300, 6.4 m apart (60 px along the image); the queue moves
    // up 6.4 m in 6 s (3.9 km/h, under the 8 km/h limit), then stands 30 s, again and again. A car
    // parks at the kerb (x = 40) from 20 s to 400 s. Samples at 5 fps.
    for (let f = 0; f < 420 * 5; f++) {
      const t = f / 5;
      const cycle = t % 36;
      const advance = Math.floor(t / 36) * 60 + (cycle < 6 ? cycle * 10 : 60);
      const dets: Detection[] = [];
      for (let k = 0; k < 7; k++) {
        // They come into view above the zone (its top edge is y = 200) and leave at the bottom.
        const y = 160 + ((k * 60 + advance) % 420);
        if (y < 470) dets.push(det([300 + (f % 3) - 1, y - 40, 60, 40]));
      }
      if (t >= 20 && t <= 400) dets.push(det([40 + (f % 3) - 1, 380, 70, 50]));
      out.push(...r.observe('cam', Math.round(t * 1000), dets));
    }
    out.push(...r.flush());
    const news = out.filter((v) => v.state === 'new');
    if (process.env['DEBUG_DWELL']) console.log(JSON.stringify(news.map(({ boxes: _b, ...v }) => v)));
    expect(news.map((v) => v.point[0])).toEqual([75]);
    expect(news[0]!.firstSeenMs).toBeLessThanOrEqual(22_000);
  });
});

describe('when a stop begins', () => {
  it('dates a stop from when the vehicle reached its spot, not from when the speed filter was sure of it', () => {
    // A car drives in and stops on the hard shoulder at frame 191 (annotated). The filter is sure of
    // a low speed about 1.5 s later; dated from then less its lag, the violation came 34 frames after
    // the stop. Dated from when it came within 1.5 m of its spot, it comes within the dwell's 30.
    const { dets, cam, gt } = fixture('P/05-07_09_K204_356');
    const vs = replayDetections(dets, { zones: [wholeFrame(cam)], imageSize: cam.image_size, homography: cam.homography }, FPS);
    expect(vs).toHaveLength(1);
    const stoppedAt = Math.min(...gt.keys());
    expect(vs[0]!.start_frame).toBeLessThanOrEqual(stoppedAt);
    expect(vs[0]!.start_frame).toBeGreaterThanOrEqual(stoppedAt - 10);
    expect(vs[0]!.confirmed_frame - stoppedAt).toBeLessThanOrEqual(30);
    expect(onTruth(vs[0]!.boxes, gt)).toBeGreaterThan(0.9);
  });
});
