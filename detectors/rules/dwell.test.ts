import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { Zone } from '../../config/index.ts';
import type { ZoneT } from '../../config/index.ts';
import { COCO_CLASSES } from '../model/coco.ts';
import type { Detection } from '../types.ts';
import { DwellRules, type Violation } from './dwell.ts';
import { compileZones } from './zones.ts';
import { ZoneInvalidError } from '../errors.ts';

const MODEL = { name: 'test-model', version: '1' };
const S = 1000;

function zone(over: Partial<ZoneT> = {}): ZoneT {
  return Value.Default(Zone, { id: 'z1', type: 'no_parking', polygon: [[0, 200], [640, 200], [640, 480], [0, 480], [0, 200]], dwell_s: 300, ...over }) as ZoneT;
}

function det(label: string, box: [number, number, number, number], score = 0.8): Detection {
  return { classId: COCO_CLASSES.indexOf(label), label, score, box };
}

function rules(zones: ZoneT[] = [zone()]): DwellRules {
  const r = new DwellRules({ model: MODEL });
  r.setZones('cam-1', compileZones('cam-1', zones, COCO_CLASSES, [640, 480]));
  return r;
}

/** Feeds a sample every `step` seconds from `from` to `to` (capture time); `at(t)` gives the detections. */
function run(r: DwellRules, from: number, to: number, step: number, at: (t: number) => Detection[]): Violation[] {
  const out: Violation[] = [];
  for (let t = from; t <= to; t += step) out.push(...r.observe('cam-1', t * S, at(t)));
  return out;
}

const car: [number, number, number, number] = [100, 250, 120, 80];

describe('illegal_parking dwell', () => {
  it('raises one violation for a stop over dwell_s, updates it, ends it when the car leaves', () => {
    const r = rules();
    const ev = run(r, 0, 700, 10, (t) => (t <= 450 ? [det('car', car)] : []));
    const news = ev.filter((v) => v.state === 'new');
    expect(news).toHaveLength(1);
    expect(news[0]!).toMatchObject({ rule: 'illegal_parking', zoneId: 'z1', cameraId: 'cam-1', class: 'car', firstSeenMs: 0, confirmedMs: 300 * S, dwellS: 300, point: [160, 330], model: MODEL });
    expect(ev.filter((v) => v.state === 'update').length).toBeGreaterThanOrEqual(2);
    const end = ev.find((v) => v.state === 'end');
    expect(end).toMatchObject({ id: news[0]!.id, endedMs: 450 * S, dwellS: 450 });
    expect(new Set(ev.map((v) => v.id)).size).toBe(1);
  });

  it('raises one violation for one vehicle the model finds as two classes at once (a van: car and truck)', () => {
    const r = rules();
    const truck: [number, number, number, number] = [car[0] + 3, car[1] - 2, car[2] - 4, car[3] + 3];
    const ev = run(r, 0, 400, 10, () => [det('car', car, 0.52), det('truck', truck, 0.56)]);
    const news = ev.filter((v) => v.state === 'new');
    expect(news).toHaveLength(1);
    expect(news[0]!.class).toBe('truck'); // the better-scored class names it
  });

  it('says it is timing while a stop dwells and while its spot stands empty, not while a raised one stays', () => {
    const r = rules();
    expect(r.timing('cam-1')).toBe(false);
    const ev = run(r, 0, 100, 10, () => [det('car', car)]);
    expect(ev).toEqual([]);
    expect(r.timing('cam-1')).toBe(true); // a dwell under way: gating before decoding skips none
    run(r, 110, 400, 10, () => [det('car', car)]);
    expect(r.active()).toHaveLength(1);
    expect(r.timing('cam-1')).toBe(false); // raised, the car still there: a still scene may be skipped
    r.observe('cam-1', 410 * S, []);
    expect(r.timing('cam-1')).toBe(true); // the spot is empty: its leave time runs
    expect(run(r, 420, 700, 10, () => []).filter((v) => v.state === 'end')).toHaveLength(1);
    expect(r.timing('cam-1')).toBe(false);
  });

  it('raises nothing for a stop under dwell_s', () => {
    const r = rules();
    expect(run(r, 0, 600, 10, (t) => (t <= 250 ? [det('car', car)] : []))).toEqual([]);
  });

  it('raises nothing for a car that keeps moving through the zone', () => {
    const r = rules();
    expect(run(r, 0, 600, 10, (t) => [det('car', [(t * 2) % 500, 250, 120, 80])])).toEqual([]);
  });

  it('raises nothing when passing cars cross the same place now and then', () => {
    const r = rules();
    // A car on the same spot for one sample every 50 s: it matches the locked spot but is rarely seen.
    expect(run(r, 0, 900, 5, (t) => (t % 50 === 0 ? [det('car', car)] : []))).toEqual([]);
  });

  it('keeps the timer through an occlusion gap shorter than leave_s', () => {
    const r = rules([zone({ leave_s: 120 })]);
    const ev = run(r, 0, 400, 10, (t) => (t > 150 && t < 240 ? [] : [det('car', car)]));
    const v = ev.find((e) => e.state === 'new');
    expect(v).toMatchObject({ firstSeenMs: 0, confirmedMs: 300 * S });
  });

  it('starts over after a gap longer than leave_s', () => {
    const r = rules([zone({ leave_s: 120 })]);
    const ev = run(r, 0, 400, 10, (t) => (t > 100 && t < 250 ? [] : [det('car', car)]));
    expect(ev).toEqual([]);
  });

  it('keeps one timer through class switches and box jitter (a tracker would switch ids)', () => {
    const r = rules();
    const ev = run(r, 0, 400, 10, (t) => {
      const j = (t / 10) % 3 - 1;
      return [det(t % 20 === 0 ? 'car' : 'truck', [car[0] + 4 * j, car[1] - 3 * j, car[2] + 5 * j, car[3]], t % 20 === 0 ? 0.6 : 0.5)];
    });
    expect(ev.filter((v) => v.state === 'new')).toHaveLength(1);
    expect(ev[0]!.class).toBe('car');
  });

  it('survives a restart in the middle: the same violation, with the first-seen time from before', () => {
    const whole = run(rules(), 0, 400, 10, () => [det('car', car)]).find((v) => v.state === 'new')!;
    const a = rules();
    expect(run(a, 0, 200, 10, () => [det('car', car)])).toEqual([]);
    const saved = JSON.parse(JSON.stringify(a.snapshot()));
    const b = rules();
    b.restore(saved);
    const v = run(b, 210, 400, 10, () => [det('car', car)]).find((e) => e.state === 'new')!;
    expect(v).toMatchObject({ id: whole.id, firstSeenMs: 0, confirmedMs: 300 * S });
  });

  it('applies min_score, min_box_px and the cooldown', () => {
    const r = rules([zone({ min_score: 0.5, min_box_px: 40, dwell_s: 60, cooldown_s: 600 })]);
    expect(run(r, 0, 200, 10, () => [det('car', car, 0.4)])).toEqual([]);
    expect(run(r, 210, 400, 10, () => [det('car', [100, 250, 30, 30])])).toEqual([]);
    const first = run(r, 410, 700, 10, (t) => (t <= 500 ? [det('car', car)] : []));
    expect(first.map((v) => v.state)).toEqual(['new', 'end']);
    // Another car parks on the same place within the cooldown: no new violation.
    expect(run(r, 710, 900, 10, () => [det('car', car)]).filter((v) => v.state === 'new')).toEqual([]);
  });

  it('ignores vehicles whose bottom-centre is outside the zone', () => {
    const r = rules();
    expect(run(r, 0, 400, 10, () => [det('car', [100, 50, 120, 80])])).toEqual([]);
  });
});

describe('road_vending', () => {
  const vz = zone({ id: 'market', type: 'road_occupation', dwell_s: 300, presence_ratio: 0.6 });
  const umbrella: [number, number, number, number] = [300, 220, 100, 90];
  const person: [number, number, number, number] = [420, 200, 40, 110];

  it('raises a violation when people stay at a stall for most of the window', () => {
    const r = rules([vz]);
    const ev = run(r, 0, 400, 10, (t) => [det('umbrella', umbrella), ...((t / 10) % 5 !== 0 ? [det('person', person)] : [])]);
    const v = ev.find((e) => e.state === 'new');
    expect(v).toMatchObject({ rule: 'road_vending', zoneId: 'market', class: 'umbrella' });
    expect(v!.presenceRatio).toBeGreaterThanOrEqual(0.6);
  });

  it('raises nothing when people are there for only a small share of the window', () => {
    const r = rules([vz]);
    expect(run(r, 0, 600, 10, (t) => [det('umbrella', umbrella), ...((t / 10) % 10 < 3 ? [det('person', person)] : [])])).toEqual([]);
  });

  it('one stall, one violation: through class flips, two classes at once, and the stall\'s several objects', () => {
    const r = rules([vz]);
    const table: [number, number, number, number] = [290, 280, 130, 50]; // under the umbrella
    const chair: [number, number, number, number] = [250, 290, 40, 60];
    const ev = run(r, 0, 700, 10, (t) => {
      const n = t / 10;
      // The umbrella is found as a chair now and then, and at times as both (NMS is per class).
      const top = n % 7 === 3 ? [det('chair', umbrella, 0.5)] : n % 5 === 1 ? [det('umbrella', umbrella), det('chair', umbrella, 0.4)] : [det('umbrella', umbrella)];
      return [...top, det('dining table', table, 0.6), det('chair', chair, 0.5), ...(n % 5 !== 0 ? [det('person', person)] : [])];
    });
    expect(ev.filter((e) => e.state === 'new').map((e) => e.class)).toEqual(['umbrella']);
    expect(r.active()).toHaveLength(1);
    // The umbrella is folded away; the table and chair hold the stall's violation: no end yet.
    const later = run(r, 710, 1000, 10, (t) => [det('dining table', table, 0.6), det('chair', chair, 0.5), ...((t / 10) % 5 !== 0 ? [det('person', person)] : [])]);
    expect(later.filter((e) => e.state === 'new' || e.state === 'end')).toEqual([]);
    // Everything gone: one end, of the one violation.
    const gone = run(r, 1010, 1400, 10, () => []);
    expect(gone.filter((e) => e.state === 'end').map((e) => e.id)).toEqual([ev.find((e) => e.state === 'new')!.id]);
  });

  it('raises nothing for a stall with nobody at it', () => {
    const r = rules([vz]);
    expect(run(r, 0, 600, 10, () => [det('umbrella', umbrella), det('person', [20, 300, 40, 110])])).toEqual([]);
  });
});

describe('zone checks', () => {
  it('refuses a polygon outside the image, naming camera and zone', () => {
    expect(() => compileZones('cam-9', [zone({ polygon: [[0, 0], [900, 0], [900, 100], [0, 0]] })], COCO_CLASSES, [640, 480])).toThrow(ZoneInvalidError);
    expect(() => compileZones('cam-9', [zone({ polygon: [[0, 0], [900, 0], [900, 100], [0, 0]] })], COCO_CLASSES, [640, 480])).toThrow(/camera cam-9 zone z1: polygon point \[900, 0\] lies outside the 640x480 image/);
  });

  it('refuses a class the model does not know', () => {
    expect(() => compileZones('cam-9', [zone({ classes: ['tuk-tuk'] })], COCO_CLASSES)).toThrow(/no class "tuk-tuk"/);
  });
});

describe('dense samples (video rate)', () => {
  it('times a car that drives in, parks and drives off, while cars in its lane pass by', () => {
    const r = rules([zone({ dwell_s: 60 })]);
    const fps = 25;
    const out: Violation[] = [];
    for (let f = 0; f < 150 * fps; f++) {
      const t = f / fps;
      const dets: Detection[] = [];
      // Drives in along y=250 at 300 px/s (a box 120 px wide: about 16 km/h) until t=20 s, parks
      // at x=300 until t=110 s, then drives off.
      const x = t < 20 ? 300 - (20 - t) * 300 : t < 110 ? 300 : 300 + (t - 110) * 300;
      if (x > -100 && x < 640) dets.push(det('car', [x + ((f % 5) - 2), 250, 120, 80]));
      // Lane traffic: same size and lane, 12 px per frame, one car every 8 s.
      for (let k = 0; k < 3; k++) {
        const px = ((f * 12 + k * 8 * fps * 12) % 2400) - 300;
        if (px > -100 && px < 640 && Math.abs(px - x) > 130) dets.push(det('car', [px, 252, 118, 78]));
      }
      out.push(...r.observe('cam-1', Math.round(t * 1000), dets));
    }
    out.push(...r.flush());
    const news = out.filter((v) => v.state === 'new');
    expect(news).toHaveLength(1);
    const end = out.find((v) => v.state === 'end')!;
    if (process.env['DEBUG_DWELL']) console.log(JSON.stringify(out.map(({ boxes: _b, ...v }) => v)));
    expect(news[0]!.firstSeenMs).toBeGreaterThanOrEqual(19_000);
    expect(news[0]!.firstSeenMs).toBeLessThanOrEqual(22_000);
    expect(end.lastSeenMs).toBeGreaterThanOrEqual(110_000);
    expect(end.lastSeenMs).toBeLessThanOrEqual(112_000);
  });
});
