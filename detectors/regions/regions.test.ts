import { beforeAll, describe, expect, it } from 'vitest';
import { boxIou as iou, Detector, detectorOptions, ensureDefaultModel, readImage, type Detection, type RgbFrame } from '../index.ts';
import { keptFromCrop, mergeDetections, planCrops, RegionDetector, SECOND_LOOK_MIN_SCALE, SECOND_OPINION_MIN_SCORE, toFrame, WELL_FOUND_PX, type CropDetection, type Rect, type RegionSettings } from './index.ts';
import { cut as cutOut, place, plazaBackground, type ObjectPatch } from '../../benchmarks/lib/small-objects.ts';
import { contains, overlaps } from './plan.ts';

const DATA = process.env['GRIDWATCH_DATA_DIR'] ?? './data';
const VEHICLES = new Set(['car', 'truck', 'bus', 'motorcycle']);

describe('region crops: plan and merge', () => {
  it('keeps `whole` to one look at the whole frame, as before', () => {
    const settings: RegionSettings = { mode: 'whole', maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: 0, y: 0, w: 1920, h: 1080 }] };
    const { crops } = planCrops({ width: 1920, height: 1080, inputSize: 416, settings, changes: [{ x: 100, y: 100, w: 20, h: 20 }], tracked: [], tileCursor: 0 });
    expect(crops).toEqual([{ x: 0, y: 0, w: 1920, h: 1080, why: 'whole', scale: 416 / 1920 }]);
  });

  it('crops around a small change at the scale that brings it to WELL_FOUND_PX, and tiles zones in turns within the budget', () => {
    const settings: RegionSettings = { mode: 'auto', maxCrops: 3, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: 0, y: 500, w: 1920, h: 400 }] };
    const { crops, zoneTiles, tilesVisited } = planCrops({ width: 1920, height: 1080, inputSize: 416, settings, changes: [{ x: 1000, y: 600, w: 16, h: 20 }], tracked: [], tileCursor: 5 });
    expect(crops).toHaveLength(4);
    const change = crops.find((c) => c.why === 'change')!;
    expect(change.scale).toBeCloseTo(WELL_FOUND_PX / 20, 1);
    expect(change.x).toBeLessThanOrEqual(1000);
    expect(change.x + change.w).toBeGreaterThanOrEqual(1016);
    expect(crops.filter((c) => c.why === 'zone')).toHaveLength(2);
    expect(zoneTiles).toBeGreaterThan(20);
    expect(tilesVisited).toBe(2);
  });

  it('defers the changes a full crop budget leaves out, and crops them first at the next sample', () => {
    const settings: RegionSettings = { mode: 'auto', maxCrops: 2, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [] };
    // Four small changes far apart: each needs a crop of its own, the budget holds two.
    const changes = [0, 1, 2, 3].map((k) => ({ x: 100 + k * 450, y: 500, w: 16, h: 20 }));
    const first = planCrops({ width: 1920, height: 1080, inputSize: 416, settings, changes, tracked: [], tileCursor: 0 });
    expect(first.crops.filter((c) => c.why === 'change')).toHaveLength(2);
    expect(first.left).toHaveLength(2);
    expect(first.left.every((r) => !first.crops.some((c) => c.why !== 'whole' && contains(c, r)))).toBe(true);
    // Next sample: a new change arrives, and the two that waited go first.
    const waited = first.left.map((r) => ({ ...r, age: 1 }));
    const next = planCrops({ width: 1920, height: 1080, inputSize: 416, settings, changes: [{ x: 900, y: 100, w: 16, h: 20 }], tracked: [], tileCursor: 0, deferred: waited });
    expect(waited.every((r) => next.crops.some((c) => c.why === 'change' && contains(c, r)))).toBe(true);
    expect(next.left).toEqual([{ x: 900, y: 100, w: 16, h: 20, age: 0 }]);
  });

  it('crops around objects and changes in a zone, not around those outside every zone', () => {
    const zone = { x: 0, y: 400, w: 1920, h: 500 };
    const settings: RegionSettings = { mode: 'auto', maxCrops: 8, minObjectPx: 40, cropVehicleMinScore: 0.5, zones: [zone] };
    // A car parked in the background above the zone, a walker in it, a change across its edge.
    const parked = { x: 1800, y: 20, w: 60, h: 40 }, walker = { x: 900, y: 600, w: 14, h: 30 }, edge = { x: 300, y: 390, w: 20, h: 20 };
    const { crops } = planCrops({ width: 1920, height: 1080, inputSize: 416, settings, changes: [edge], tracked: [parked, walker], tileCursor: 0 });
    const holds = (r: Rect): boolean => crops.some((c) => c.why !== 'whole' && contains(c, r));
    expect(crops.filter((c) => c.why === 'track')).toHaveLength(1);
    expect(holds(walker)).toBe(true);
    expect(crops.filter((c) => c.why === 'change')).toHaveLength(1);
    expect(holds(parked)).toBe(false);
    // A camera without zones looks everywhere.
    const open = planCrops({ width: 1920, height: 1080, inputSize: 416, settings: { ...settings, zones: [] }, changes: [], tracked: [parked], tileCursor: 0 });
    expect(open.crops.filter((c) => c.why === 'track')).toHaveLength(1);
  });

  it('merges a vehicle that two tiles cut into one box, across vehicle classes', () => {
    const left = { x: 0, y: 0, w: 208, h: 208, why: 'zone' as const, scale: 2 };
    const right = { x: 156, y: 0, w: 208, h: 208, why: 'zone' as const, scale: 2 };
    const car = (box: Detection['box'], label: string, score: number): Detection => ({ classId: 2, label, score, box });
    // The car spans x 120..260: the left tile sees 120..208 (cut), the right 156..260 (cut).
    const all: CropDetection[] = [
      ...toFrame([car([120, 50, 88, 40], 'car', 0.6)], left, 1920, 1080),
      ...toFrame([car([0, 51, 104, 39], 'truck', 0.5)], right, 1920, 1080),
    ];
    expect(all.map((d) => d.cut)).toEqual([true, true]);
    const merged = mergeDetections(all, 0.5, 100);
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ label: 'car', score: 0.6, box: [120, 50, 140, 40] });
    // A box that is whole in one tile wins over the piece another tile cut.
    const whole = toFrame([car([120 - 156 + 156, 50, 140, 40], 'car', 0.4)], { x: 100, y: 0, w: 208, h: 208, why: 'zone', scale: 2 }, 1920, 1080);
    expect(mergeDetections([...all, ...whole.map((d) => ({ ...d, box: [120, 50, 140, 40] as Detection['box'] }))], 0.5, 100)).toMatchObject([{ box: [120, 50, 140, 40] }]);
    // Two people side by side, neither cut, stay two.
    const people = toFrame([{ classId: 0, label: 'person', score: 0.7, box: [10, 10, 20, 60] }, { classId: 0, label: 'person', score: 0.6, box: [32, 10, 20, 60] }], left, 1920, 1080);
    expect(mergeDetections(people, 0.5, 100)).toHaveLength(2);
  });

  it('takes one thing that two crops name differently as one, but keeps a rider and a bicycle apart', () => {
    const crop = { x: 400, y: 300, w: 208, h: 208, why: 'change' as const, scale: 2 };
    const det = (label: string, score: number, box: Detection['box']): Detection => ({ classId: 0, label, score, box });
    const stone = toFrame([det('person', 0.45, [50, 50, 30, 40]), det('truck', 0.55, [51, 49, 30, 42])], crop, 1920, 1080);
    expect(mergeDetections(stone, 0.5, 100)).toMatchObject([{ label: 'truck', score: 0.55 }]);
    // A rider's box is taller than the bicycle's: IoU about 0.5.
    const rider = toFrame([det('person', 0.8, [50, 20, 30, 70]), det('bicycle', 0.6, [45, 55, 40, 35])], crop, 1920, 1080);
    expect(mergeDetections(rider, 0.5, 100).map((d) => d.label)).toEqual(['person', 'bicycle']);
  });

  it('keeps vehicles found in crops only from the least score, and boxes only from 0.8 of the smallest object size; the whole frame\'s as the model gives them', () => {
    const crop = { x: 400, y: 300, w: 208, h: 208, why: 'zone' as const, scale: 2 };
    const whole = { x: 0, y: 0, w: 1920, h: 1080, why: 'whole' as const, scale: 416 / 1920 };
    const [truck] = toFrame([{ classId: 7, label: 'truck', score: 0.42, box: [50, 50, 30, 20] }], crop, 1920, 1080);
    const [person] = toFrame([{ classId: 0, label: 'person', score: 0.42, box: [50, 50, 10, 30] }], crop, 1920, 1080);
    const camera = { cropVehicleMinScore: 0.5, minObjectPx: 12 };
    expect(keptFromCrop(truck!, crop, camera)).toBe(false);
    expect(keptFromCrop({ ...truck!, score: 0.5 }, crop, camera)).toBe(true);
    expect(keptFromCrop(truck!, whole, camera)).toBe(true);
    expect(keptFromCrop(person!, crop, camera)).toBe(true);
    // Boxes under 0.8 × min_object_px (9.6 px here) found in a crop are dropped; the whole frame's are kept.
    const tiny = { ...person!, box: [450, 350, 4, 9] as Detection['box'] };
    expect(keptFromCrop(tiny, crop, camera)).toBe(false);
    expect(keptFromCrop({ ...tiny, box: [450, 350, 4, 10] }, crop, camera)).toBe(true);
    expect(keptFromCrop(tiny, whole, camera)).toBe(true);
  });
});

describe('region detector with NanoDet-g 416', () => {
  let detector: Detector;
  let bg: RgbFrame;
  /** The walker of darknet's person.jpg, as found at full size (score 0.74), to paste into the plaza. */
  let person: ObjectPatch;
  beforeAll(async () => {
    const photo = await readImage('/usr/share/darknet/data/person.jpg');
    person = { label: 'person', source: 'person.jpg', score: 0.74, box: [187, 100, 92, 276], ...cutOut(photo, [187, 100, 92, 276]) };
    ensureDefaultModel(DATA);
    detector = await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5 }, DATA, 1));
    bg = await plazaBackground(1920, 1080);
  }, 120_000);

  it('finds a distant person that the whole frame squeezed into the model misses', async () => {
    const frame = { width: 1920, height: 1080, rgb: bg.rgb.slice() };
    const placed = await place(frame, person, 36, 1300, 700);
    const found = (dets: Detection[]): boolean => dets.some((d) => d.label === 'person' && iou(d.box, placed.box) >= 0.5);
    const whole = await detector.detect(frame);
    expect(found(whole.detections)).toBe(false);
    const regions = new RegionDetector(detector);
    const settings: RegionSettings = { mode: 'zones', maxCrops: 64, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: 1200, y: 600, w: 300, h: 250 }] };
    const r = await regions.detect(frame, { settings, tracked: [], tileCursor: 0 });
    expect(r.inferences).toBeGreaterThan(1);
    expect(found(r.detections)).toBe(true);
    // `whole` is today's detector: one inference, the same detections.
    const w = await regions.detect(frame, { settings: { ...settings, mode: 'whole' }, tracked: [], tileCursor: 0 });
    expect(w.inferences).toBe(1);
    expect(w.detections).toEqual(whole.detections);
  }, 60_000);

  it('looks again, mirrored, where a crop cut for a small object found nothing, and counts the look', async () => {
    const frame = { width: 1920, height: 1080, rgb: bg.rgb.slice() };
    const placed = await place(frame, person, 20, 1300, 700);
    const [x, y, w, h] = placed.box;
    // Changes that waited for a crop: the small walker, a patch of empty plaza beside it (one crop
    // holds both) and one far from it. Both crops show nothing on an empty patch: both get a second
    // look, and the mirrored look at the walker's crop sees the walker too.
    const waiting = [{ x, y, w, h, age: 1 }, { x: x + 40, y, w: 16, h: 16, age: 1 }, { x: 500, y: 700, w: 16, h: 16, age: 1 }];
    const settings: RegionSettings = { mode: 'auto', maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [] };
    const r = await new RegionDetector(detector).detect(frame, { settings, tracked: [], tileCursor: 0, deferred: waiting });
    const small = r.crops.filter((c) => c.why !== 'whole' && c.scale >= SECOND_LOOK_MIN_SCALE);
    expect(small.length).toBe(2);
    expect(r.inferences).toBe(r.crops.length + 2);
    // The walker once, where it is: the mirrored look's box is mirrored back onto the first look's and merges
    // with it; none where a box left unmirrored would lie (the walker's place reflected in its crop).
    const walker = r.detections.filter((d) => d.label === 'person' && iou(d.box, placed.box) >= 0.5);
    expect(walker).toHaveLength(1);
    const crop = small.find((c) => c.x <= x && x + w <= c.x + c.w)!;
    const reflected = [crop.x + crop.w - (x - crop.x) - w, y, w, h];
    expect(r.detections.filter((d) => iou(d.box, reflected) >= 0.3)).toEqual([]);
  }, 60_000);

  it('looks closer, at twice the scale, where a crop cut for a larger object found nothing, and keeps only what lies in that region', async () => {
    const frame = { width: 1920, height: 1080, rgb: bg.rgb.slice() };
    const placed = await place(frame, person, 18, 400, 800);
    const [x, y, w, h] = placed.box;
    // A change of WELL_FOUND_PX around an 18 px walker: its crop is cut at scale 1, where the walker is 18 px.
    const side = WELL_FOUND_PX;
    const region = { x: Math.round(x + w / 2 - side / 2), y: Math.round(y + h / 2 - side / 2), w: side, h: side, age: 1 };
    const settings: RegionSettings = { mode: 'auto', maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [] };
    const r = await new RegionDetector(detector).detect(frame, { settings, tracked: [], tileCursor: 0, deferred: [region] });
    expect(r.crops).toHaveLength(2);
    const crop = r.crops[1]!;
    expect(crop.scale).toBe(1);
    const walker = (dets: Detection[], dx = 0, dy = 0): Detection[] => dets.filter((d) => d.label === 'person' && iou([d.box[0] + dx, d.box[1] + dy, d.box[2], d.box[3]], placed.box) >= 0.5);
    const first = (await detector.detect(cutOut(frame, [crop.x, crop.y, crop.w, crop.h]))).detections;
    expect(walker(first, crop.x, crop.y)).toEqual([]);
    expect(r.inferences).toBe(3);
    expect(walker(r.detections)).toHaveLength(1);
    // Everything else it kept the whole frame or the first crop found: the closer look adds only what lies in the region.
    const whole = (await detector.detect(frame)).detections;
    const known = [...whole, ...first.map((d) => ({ ...d, box: [d.box[0] + crop.x, d.box[1] + crop.y, d.box[2], d.box[3]] as Detection['box'] }))];
    const added = r.detections.filter((d) => !known.some((k) => k.label === d.label && iou(k.box, d.box) >= 0.5));
    expect(added.length).toBeGreaterThan(0);
    for (const d of added) expect(overlaps(region, { x: d.box[0], y: d.box[1], w: d.box[2], h: d.box[3] })).toBe(true);
  }, 60_000);

  it('asks the second-opinion model where a crop found nothing, keeps its boxes from 0.4 in that region, and counts the look; not when the camera says no', async () => {
    const frame = { width: 1920, height: 1080, rgb: bg.rgb.slice() };
    const placed = await place(frame, person, 36, 1300, 700);
    // A second walker in the same crop, where no change or object called for a look.
    const other = await place(frame, person, 36, 1420, 700);
    const [x, y, w, h] = placed.box;
    // The region model here misses the walker: the same network, held to a score of 0.99.
    const strict = await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: 0.99, iou_threshold: 0.5 }, DATA, 1));
    try {
      const regions = new RegionDetector(strict, detector);
      const settings: RegionSettings = { mode: 'auto', maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [] };
      const job = { settings, tracked: [], tileCursor: 0, deferred: [{ x, y, w, h, age: 1 }] };
      const walker = (dets: Detection[]): Detection[] => dets.filter((d) => d.label === 'person' && iou(d.box, placed.box) >= 0.5);
      const asked = await regions.detect(frame, job);
      // The whole frame and one crop (scaled under 2: no mirrored look), and the second opinion on that crop.
      expect(asked.crops).toHaveLength(2);
      expect(asked.inferences).toBe(3);
      expect(walker(asked.detections)).toHaveLength(1);
      // The second opinion answers for the region it was asked about, not for the rest of the crop.
      const crop = asked.crops[1]!;
      expect(other.box[0] >= crop.x && other.box[0] + other.box[2] <= crop.x + crop.w).toBe(true);
      expect((await detector.detect(cutOut(frame, [crop.x, crop.y, crop.w, crop.h]))).detections.some((d) => d.label === 'person' && d.box[0] + crop.x > x + w)).toBe(true);
      expect(asked.detections.filter((d) => iou(d.box, other.box) >= 0.3)).toEqual([]);
      expect(walker(asked.detections)[0]!.score).toBeGreaterThanOrEqual(SECOND_OPINION_MIN_SCORE);
      // Without it: the crop, then a closer look, as strict as the first.
      const alone = await regions.detect(frame, { ...job, settings: { ...settings, secondOpinion: false } });
      expect(alone.inferences).toBe(3);
      expect(walker(alone.detections)).toEqual([]);
    } finally {
      await strict.release();
    }
  }, 60_000);

  it('does not take the clutter of an empty plaza, upscaled in zone tiles, for a vehicle', async () => {
    const zone = { x: 0, y: 300, w: 1920, h: 780 };
    const inZone = (d: Detection): boolean => VEHICLES.has(d.label) && d.box[1] >= zone.y;
    const settings: RegionSettings = { mode: 'zones', maxCrops: 64, minObjectPx: 12, cropVehicleMinScore: 0, zones: [zone] };
    const regions = new RegionDetector(detector);
    // Every crop vehicle kept: upscaled, the plaza's clutter passes for a bus (0.44 here).
    const all = await regions.detect(bg, { settings, tracked: [], tileCursor: 0 });
    expect(all.detections.filter(inZone).length).toBeGreaterThan(0);
    expect(all.detections.filter(inZone).every((d) => d.score < 0.5)).toBe(true);
    const kept = await regions.detect(bg, { settings: { ...settings, cropVehicleMinScore: 0.5 }, tracked: [], tileCursor: 0 });
    expect(kept.detections.filter(inZone)).toEqual([]);
  }, 60_000);

  it('gives one detection for a pickup that a tile edge cuts', async () => {
    const photo = await readImage('/usr/share/darknet/data/dog.jpg');
    const truck = { label: 'truck', source: 'dog.jpg', score: 0.36, box: [465, 86, 229, 80] as [number, number, number, number], ...cutOut(photo, [465, 86, 229, 80]) };
    const frame = { width: 1920, height: 1080, rgb: bg.rgb.slice() };
    // Tiles of 416 px (scale 1) over the zone, 312 px apart: the first ends at x 416, the second starts at 312.
    const placed = await place(frame, truck, 180, 330, 520);
    const settings: RegionSettings = { mode: 'zones', maxCrops: 8, minObjectPx: 40, cropVehicleMinScore: 0.5, zones: [{ x: 0, y: 400, w: 800, h: 416 }] };
    const { crops } = planCrops({ width: 1920, height: 1080, inputSize: 416, settings, changes: [], tracked: [], tileCursor: 0 });
    const pieces: CropDetection[] = [];
    for (const c of crops.filter((c) => c.why === 'zone')) {
      const input = cutOut(frame, [c.x, c.y, c.w, c.h]);
      pieces.push(...toFrame((await detector.detect(input)).detections, c, 1920, 1080));
    }
    const onTruck = (dets: Detection[]): Detection[] => dets.filter((d) => VEHICLES.has(d.label) && iou(d.box, placed.box) >= 0.1);
    // Without the merge the tiles see it more than once, once cut by the first tile's edge.
    expect(onTruck(pieces).length).toBeGreaterThanOrEqual(2);
    expect((onTruck(pieces) as CropDetection[]).some((d) => d.cut)).toBe(true);
    const r = await new RegionDetector(detector).detect(frame, { settings, tracked: [], tileCursor: 0 });
    const seen = onTruck(r.detections);
    expect(seen).toHaveLength(1);
    expect(iou(seen[0]!.box, placed.box)).toBeGreaterThan(0.5);
  }, 60_000);
});
