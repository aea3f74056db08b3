import { describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { applyZoneTypeDefaults, Zone, type ZoneT } from '../../config/index.ts';
import { COCO_CLASSES } from '../model/coco.ts';
import type { Detection } from '../types.ts';
import { DwellRules, type Violation } from './dwell.ts';
import { sideOfLine } from './shopfront-spillover.ts';
import { compileZones } from './zones.ts';

const MODEL = { name: 'test-model', version: '1' };
const S = 1000;
const AREA: [number, number][] = [[0, 100], [640, 100], [640, 480], [0, 480], [0, 100]];

/** A zone as the city config would hold it: the type's defaults, then the schema's. */
function zone(over: Record<string, unknown>): ZoneT {
  const raw = [{ id: 'z1', polygon: AREA, ...over }];
  applyZoneTypeDefaults(raw);
  return Value.Default(Zone, raw[0]) as ZoneT;
}

function det(label: string, box: [number, number, number, number], score = 0.8): Detection {
  return { classId: COCO_CLASSES.indexOf(label), label, score, box };
}

function rules(zones: ZoneT[]): DwellRules {
  const r = new DwellRules({ model: MODEL });
  r.setZones('cam-1', compileZones('cam-1', zones, COCO_CLASSES, [640, 480]));
  return r;
}

function run(r: DwellRules, from: number, to: number, step: number, at: (t: number) => Detection[]): Violation[] {
  const out: Violation[] = [];
  for (let t = from; t <= to; t += step) out.push(...r.observe('cam-1', t * S, at(t)));
  return out;
}

const news = (vs: Violation[]) => vs.filter((v) => v.state === 'new');
/** `n` objects of a class in a row along the pavement, `gap` px apart, bottoms at `y`. */
const row = (label: string, n: number, x0: number, y: number, gap = 45, w = 40, h = 60): Detection[] => Array.from({ length: n }, (_, i) => det(label, [x0 + i * gap, y - h, w, h]));

describe('non_motor_parking', () => {
  it('counts a row of ten bicycles as one violation of ten, and ends it when they are taken away', () => {
    const r = rules([zone({ type: 'non_motor_parking', dwell_s: 300 })]);
    const ev = run(r, 0, 900, 10, (t) => (t <= 600 ? row('bicycle', 10, 20, 400) : []));
    expect(news(ev)).toHaveLength(1);
    expect(news(ev)[0]).toMatchObject({ rule: 'non_motor_parking', class: 'bicycle', count: 10, firstSeenMs: 0, confirmedMs: 300 * S, zoneId: 'z1' });
    expect(news(ev)[0]!.box).toEqual([20, 340, 445, 60]);
    expect(ev.find((v) => v.state === 'end')).toMatchObject({ id: news(ev)[0]!.id, endedMs: 600 * S });
    expect(new Set(ev.map((v) => v.id)).size).toBe(1);
  });

  it('makes one case per cluster: two groups far apart are two; a motorcycle joins the bicycles beside it', () => {
    const r = rules([zone({ type: 'non_motor_parking', dwell_s: 120 })]);
    const ev = run(r, 0, 200, 10, () => [...row('bicycle', 3, 20, 400), det('motorcycle', [155, 330, 50, 70]), ...row('bicycle', 2, 500, 300)]);
    expect(news(ev).map((v) => v.count).sort()).toEqual([2, 4]);
  });

  it('needs min_count objects, and their dwell: fewer, shorter or passing through raise nothing', () => {
    const few = rules([zone({ type: 'non_motor_parking', dwell_s: 120, min_count: 3 })]);
    expect(run(few, 0, 400, 10, () => row('bicycle', 2, 20, 400))).toEqual([]);
    const brief = rules([zone({ type: 'non_motor_parking', dwell_s: 300 })]);
    expect(run(brief, 0, 600, 10, (t) => (t < 250 ? row('bicycle', 4, 20, 400) : []))).toEqual([]);
    // A cyclist riding across at one sample a second: never at one place.
    const passing = rules([zone({ type: 'non_motor_parking', dwell_s: 30 })]);
    expect(run(passing, 0, 600, 1, (t) => [det('bicycle', [(t * 7) % 600, 340, 40, 60])])).toEqual([]);
    // Cars are not its business.
    const cars = rules([zone({ type: 'non_motor_parking', dwell_s: 60 })]);
    expect(run(cars, 0, 300, 10, () => [det('car', [100, 300, 120, 80])])).toEqual([]);
  });

  it('keeps its violation, count and id across a restart', () => {
    const a = rules([zone({ type: 'non_motor_parking', dwell_s: 120 })]);
    const first = news(run(a, 0, 200, 10, () => row('bicycle', 5, 20, 400)));
    expect(first).toHaveLength(1);
    const b = rules([zone({ type: 'non_motor_parking', dwell_s: 120 })]);
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    const after = run(b, 210, 500, 10, (t) => (t < 300 ? row('bicycle', 5, 20, 400) : []));
    expect(news(after)).toEqual([]);
    expect(after.find((v) => v.state === 'end')).toMatchObject({ id: first[0]!.id, count: 5 });
  });
});

describe('shopfront_spillover', () => {
  // The shops are along the top; the line runs left to right, so they are on its left hand.
  const shops = { type: 'shopfront_spillover', shop_line: [[0, 200], [320, 210], [640, 200]], dwell_s: 300 };

  it('tells which side of the shop line a point is on', () => {
    expect(sideOfLine([[0, 200], [640, 200]], [100, 300]).side).toBe(1);
    expect(sideOfLine([[0, 200], [640, 200]], [100, 150]).side).toBe(-1);
    expect(sideOfLine([[0, 200], [320, 210], [640, 200]], [700, 260])).toMatchObject({ side: 1 });
  });

  it('raises tables and chairs left beyond the shop line, without people, as one case with the count', () => {
    const r = rules([zone(shops)]);
    const out = [det('dining table', [100, 230, 90, 60]), det('chair', [195, 240, 35, 50]), det('chair', [60, 245, 35, 45]), det('umbrella', [110, 150, 80, 80])];
    const ev = run(r, 0, 700, 10, (t) => (t <= 500 ? out : []));
    expect(news(ev)).toHaveLength(1);
    expect(news(ev)[0]).toMatchObject({ rule: 'shopfront_spillover', count: 4, confirmedMs: 300 * S });
    expect(ev.filter((v) => v.state === 'end')).toHaveLength(1);
  });

  it('leaves alone what stands on the shops\' side, and what the shop_side says is the shop', () => {
    const inside = [det('chair', [100, 130, 35, 50]), det('dining table', [150, 120, 90, 60])];
    expect(run(rules([zone(shops)]), 0, 700, 10, () => inside)).toEqual([]);
    // The same furniture, with the shops said to be below the line: now it stands outside.
    expect(news(run(rules([zone({ ...shops, shop_side: 'right' })]), 0, 400, 10, () => inside))).toHaveLength(1);
  });
});

describe('mobile_vendor and road_vending', () => {
  const vendor = (x: number): Detection[] => [det('umbrella', [x, 300, 60, 60]), det('person', [x + 50, 250, 30, 110])];

  it('raises a vendor who stops a minute and moves along; road_vending does not, it is no fixed stall', () => {
    const r = rules([zone({ type: 'mobile_vendor', id: 'mv' }), zone({ type: 'road_occupation', id: 'ro', dwell_s: 300 })]);
    // Stands for 90 s, then wheels the stall along 4 px a second for a minute, then leaves.
    const x = (t: number) => (t < 90 ? 100 : 100 + (t - 90) * 4);
    const ev = run(r, 0, 300, 2, (t) => (t <= 150 ? vendor(x(t)) : []));
    expect(news(ev).map((v) => [v.rule, v.zoneId, v.class])).toEqual([['mobile_vendor', 'mv', 'umbrella']]);
    expect(news(ev)[0]).toMatchObject({ firstSeenMs: 0, count: 1 });
    expect(news(ev)[0]!.confirmedMs).toBeGreaterThanOrEqual(90 * S);
    expect(ev.find((v) => v.state === 'end')).toMatchObject({ id: news(ev)[0]!.id });
  });

  it('leaves a fixed stall to road_vending: it never moves, and stays long', () => {
    const r = rules([zone({ type: 'mobile_vendor', id: 'mv' }), zone({ type: 'road_occupation', id: 'ro', dwell_s: 300 })]);
    const ev = run(r, 0, 400, 10, () => vendor(100));
    expect(news(ev).map((v) => [v.rule, v.zoneId])).toEqual([['road_vending', 'ro']]);
  });

  it('needs people at the stall, and dwell_s: a cart pushed through quickly or left alone raises nothing', () => {
    const alone = rules([zone({ type: 'mobile_vendor' })]);
    expect(run(alone, 0, 300, 2, (t) => [det('umbrella', [100 + t * 2, 300, 60, 60])])).toEqual([]);
    const quick = rules([zone({ type: 'mobile_vendor' })]);
    expect(run(quick, 0, 300, 2, (t) => (t < 40 ? vendor(100 + t * 8) : []))).toEqual([]);
  });
});

describe('crowd_gathering', () => {
  const crowd = (n: number): Detection[] => Array.from({ length: n }, (_, i) => det('person', [40 + (i % 8) * 70, 200 + Math.floor(i / 8) * 120, 30, 100]));

  it('raises min_people there for dwell_s, through a sample or two that misses some, with the count', () => {
    const r = rules([zone({ type: 'crowd_gathering', min_people: 10, dwell_s: 300 })]);
    const ev = run(r, 0, 700, 10, (t) => (t > 500 ? crowd(3) : t % 100 === 50 ? crowd(7) : crowd(12)));
    expect(news(ev)).toHaveLength(1);
    expect(news(ev)[0]).toMatchObject({ rule: 'crowd_gathering', class: 'person', count: 12, firstSeenMs: 0, confirmedMs: 300 * S });
    expect(ev.find((v) => v.state === 'end')).toMatchObject({ id: news(ev)[0]!.id, endedMs: 500 * S });
  });

  it('is timing while a crowd gathers and while a raised one is gone, not while it stays', () => {
    const r = rules([zone({ type: 'crowd_gathering', min_people: 10, dwell_s: 300 })]);
    run(r, 0, 100, 10, () => crowd(12));
    expect(r.timing('cam-1')).toBe(true);
    run(r, 110, 400, 10, () => crowd(12));
    expect(r.active()).toHaveLength(1);
    expect(r.timing('cam-1')).toBe(false);
    r.observe('cam-1', 410 * S, crowd(3));
    expect(r.timing('cam-1')).toBe(true);
  });

  it('raises nothing for fewer people, or for a crowd that disperses before dwell_s', () => {
    expect(run(rules([zone({ type: 'crowd_gathering', min_people: 10, dwell_s: 300 })]), 0, 700, 10, () => crowd(9))).toEqual([]);
    expect(run(rules([zone({ type: 'crowd_gathering', min_people: 10, dwell_s: 300 })]), 0, 700, 10, (t) => (t < 200 || (t > 300 && t < 480) ? crowd(12) : []))).toEqual([]);
  });
});
