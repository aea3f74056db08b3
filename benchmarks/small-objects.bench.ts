/**
 * Small objects: the region detector (whole frame + full-resolution crops around zones, changes
 * and tracked objects) against today's whole-frame detector (the frame decoded at 640×360 and
 * squeezed into the model's input), side by side on the same scenes.
 *
 *   npm run bench -- small-objects [--samples 60] [--objects 6] [--max-crops 8] [--min-object-px 12] [--regions auto|zones] [--seed 1] [--precision fp32|int8] [--wide-input on|off] [--model nanodet-g-416|yolov5s] [--second-opinion on|off] [--size-sweep]
 *
 * Scenes: the objects NanoDet-g finds at full size in darknet's dog.jpg and person.jpg and in
 * frames of vtest.avi, shrunk so that their longer side is 12–96 px (one third in each band:
 * 12–24, 24–48, 48–96) and placed in a zone over the road and paths of vtest.avi's empty plaza
 * (the per-pixel median of its frames) scaled to 1920×1080, then JPEG-compressed (quality 85).
 * Samples come in clips of four, one a second: the objects of a clip stay, drifting up to a
 * third of their size per sample (walking people; a third of them stand still), and the next
 * clip has new ones. Scored per object and sample: found = a detection of its kind at IoU ≥ 0.5,
 * kinds as the rules take them (size-sweep.ts: the parking rule's vehicles are one, the non-motor
 * rule's bicycles and motorcycles another; `recall_same_label` asks for the very label); false = a
 * detection in the zone matching no object.
 * `--precision fp32|int8` and `--wide-input on|off` pick the model (defaults: int8 and on, as the engine's);
 * `--model yolov5s` runs the region detector on YOLOv5s instead (at `--precision` too), beside today's
 * NanoDet-g whole frame (`--size-sweep` then measures YOLOv5s), with NanoDet-g's second opinion on
 * crops that show nothing (region-detector.ts SECOND_OPINION_MIN_SCORE; `--second-opinion off`: without).
 * `--size-sweep` first measures recall by object size in model-input pixels (plan.ts WELL_FOUND_PX).
 * CPU ms are process CPU time around each sample's detection, one onnxruntime thread.
 * To see why objects are missed: SMALL_OBJECTS_DEBUG=B (band 0, 1 or 2) logs each region-detector
 * miss in that band, with the crops it lay inside (or the sample's crops) and the nearest detection; SMALL_OBJECTS_DEBUG_FP=1
 * logs its false detections.
 * Last stdout line: one JSON object.
 */
import { parseArgs } from 'node:util';
import { boxIou as iou, Detector, detectorOptions, ensureDefaultModel, ensureInt8Model, ensureYolov5s, RegionDetector, RegionSequence, type Crop, type Detection, type RegionSettings, type RgbFrame } from '../detectors/index.ts';
import { collectObjects, ios, jpegRoundTrip, place, plazaBackground, resize, type ObjectPatch, type PlacedObject } from './lib/small-objects.ts';
import { seededRandom as rng } from '../core/index.ts';
import { kindsOf, sameKind, sizeSweep } from './lib/size-sweep.ts';

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '80' },
    objects: { type: 'string', default: '6' },
    'max-crops': { type: 'string', default: '8' },
    'min-object-px': { type: 'string', default: '12' },
    'crop-vehicle-min-score': { type: 'string', default: '0.5' },
    regions: { type: 'string', default: 'auto' },
    seed: { type: 'string', default: '1' },
    'size-sweep': { type: 'boolean', default: false },
    precision: { type: 'string', default: 'int8' },
    'wide-input': { type: 'string', default: 'on' },
    model: { type: 'string', default: 'nanodet-g-416' },
    'second-opinion': { type: 'string', default: 'on' },
    'data-dir': { type: 'string', default: process.env['GRIDWATCH_DATA_DIR'] ?? './data' },
  },
});
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const W = 1920, H = 1080;
const TODAY = { width: 640, height: 360 };
/** The road and paths of the plaza, where objects are placed and false detections counted. */
const ZONE = { x: 0, y: 260, w: 1920, h: 740 };
const BANDS = [[12, 24], [24, 48], [48, 96]] as const;
const CLIP = 4;

// Set-up.
ensureDefaultModel(args['data-dir']!);
if (!['fp32', 'int8'].includes(args.precision!) || !['on', 'off'].includes(args['wide-input']!)) throw new Error('--precision fp32|int8, --wide-input on|off');
if (!['nanodet-g-416', 'yolov5s'].includes(args.model!)) throw new Error('--model nanodet-g-416|yolov5s');
if (!['on', 'off'].includes(args['second-opinion']!)) throw new Error('--second-opinion on|off');
// Today's detector: the engine's default model on the whole 640×360 frame.
const detector = await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5, precision: args.precision as 'fp32' | 'int8', wide_input: args['wide-input'] === 'on' }, args['data-dir']!, 1));
// The region detector's model: the same, or YOLOv5s (square and 416×256, at the same precision).
if (args.model === 'yolov5s') {
  ensureYolov5s(args['data-dir']!);
  if (args.precision === 'int8') await ensureInt8Model(args['data-dir']!, undefined, 'yolov5s');
}
const regionModel = args.model === 'yolov5s' ? await Detector.load(detectorOptions({ type: 'yolov5', score_threshold: 0.3, iou_threshold: 0.5, precision: args.precision as 'fp32' | 'int8', wide_input: args['wide-input'] === 'on' }, args['data-dir']!, 1)) : detector;
// With YOLOv5s, NanoDet-g gives its second opinion on crops that show nothing, as in a worker with detectors.region_model.
const regions = new RegionDetector(regionModel, regionModel !== detector && args['second-opinion'] === 'on' ? detector : undefined);
const detectWhole = async (f: RgbFrame): Promise<Detection[]> => (await regionModel.detect(f)).detections;
// The objects are collected by the fp32 model on its square input whatever is measured, so that
// runs with other settings place the same objects.
const reference = await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5, wide_input: false }, args['data-dir']!, 1));
const objects = dedupe(await collectObjects(async (f) => (await reference.detect(f)).detections, { minScore: 0.35 }));
await reference.release();
const bg = await plazaBackground(W, H);
const labels = [...new Set(objects.map((o) => o.label))];
const sources = [...new Set(objects.map((o) => o.source.split('@')[0]!))];
/** The kinds placed: false detections are counted among these (a cone called a vase is no false person). */
const LOOKED_FOR = kindsOf(objects.map((o) => o.label));
log(`objects: ${objects.length} (${labels.map((l) => `${l} ${objects.filter((o) => o.label === l).length}`).join(', ')}); background ${W}x${H}`);

let sweep: { size: number; recall: number; n: number }[] | undefined;
if (args['size-sweep']) {
  sweep = await sizeSweep(detectWhole, bg, objects, detector.adapter.inputSize, [8, 12, 16, 20, 24, 32, 40, 48, 64, 96], 2);
  log(`recall by size at the model's input: ${sweep.map((s) => `${s.size}px ${s.recall}`).join(', ')}`);
}

/**
 * One patch per object: a box lying mostly (≥ 80%) inside a better-scored box of the same picture
 * is the same object under a second label (truck and car, horse and cow) or a part of it (the
 * bicycle's handlebars, called a bench), not an object of its own.
 */
function dedupe(list: ObjectPatch[]): ObjectPatch[] {
  const sorted = [...list].sort((a, b) => b.score - a.score);
  return sorted.filter((o, i) => !sorted.slice(0, i).some((p) => p.source === o.source && ios(p.box, o.box) >= 0.8));
}

interface Scene { frame: RgbFrame; placed: PlacedObject[]; band: number[] }

/** Builds the scenes: clips of CLIP samples with the same objects drifting. */
async function scenes(n: number, perFrame: number, seed: number): Promise<Scene[]> {
  const r = rng(seed);
  const out: Scene[] = [];
  let clip: { obj: ObjectPatch; size: number; band: number; x: number; y: number; vx: number; vy: number }[] = [];
  for (let s = 0; s < n; s++) {
    if (s % CLIP === 0) {
      clip = [];
      for (let k = 0; k < perFrame; k++) {
        // A source first (dog.jpg, person.jpg, vtest.avi), then one of its objects, so the many vtest walkers do not crowd out the rest.
        const source = sources[Math.floor(r() * sources.length)]!;
        const pool = objects.filter((o) => o.source.split('@')[0] === source);
        const obj = pool[Math.floor(r() * pool.length)]!;
        const band = (s / CLIP * perFrame + k) % BANDS.length;
        const [lo, hi] = BANDS[band]!;
        const size = Math.round(lo + r() * (hi - lo));
        const still = r() < 1 / 3;
        for (let tries = 0; tries < 50; tries++) {
          const x = ZONE.x + 20 + r() * (ZONE.w - size - 40), y = ZONE.y + 20 + r() * (ZONE.h - size - 40);
          if (clip.some((c) => Math.abs(c.x - x) < (c.size + size) && Math.abs(c.y - y) < (c.size + size))) continue;
          const v = still ? 0 : size / 3;
          clip.push({ obj, size, band, x, y, vx: (r() * 2 - 1) * v, vy: (r() * 2 - 1) * v });
          break;
        }
      }
    }
    const frame: RgbFrame = { width: W, height: H, rgb: bg.rgb.slice() };
    const placed: PlacedObject[] = [];
    const band: number[] = [];
    for (const c of clip) {
      const x = Math.round(Math.max(ZONE.x, Math.min(ZONE.x + ZONE.w - c.size, c.x + c.vx * (s % CLIP))));
      const y = Math.round(Math.max(ZONE.y, Math.min(ZONE.y + ZONE.h - c.size, c.y + c.vy * (s % CLIP))));
      placed.push(await place(frame, c.obj, c.size, x, y));
      band.push(c.band);
    }
    out.push({ frame: await jpegRoundTrip(frame), placed, band });
  }
  return out;
}

const nSamples = Number(args.samples);
const all = await scenes(nSamples, Number(args.objects), Number(args.seed));
// Today's pipeline decodes at 640×360; that resize is set-up, not detection.
const small = await Promise.all(all.map((s) => resize(s.frame, TODAY.width, TODAY.height, 'cubic')));
log(`${all.length} samples of ${args.objects} objects built`);

const settings: RegionSettings = { mode: args.regions as RegionSettings['mode'], maxCrops: Number(args['max-crops']), minObjectPx: Number(args['min-object-px']), cropVehicleMinScore: Number(args['crop-vehicle-min-score']), zones: [ZONE] };

interface Tally { byLabel: Record<string, [number, number][]>; found: number[]; foundExact: number[]; total: number[]; covered: number[]; falseLabels: Record<string, number>; falses: number; falsesAny: number; falseVehicles: number; inferences: number; cpuMs: number[] }
const tally = (): Tally => ({ byLabel: {}, found: [0, 0, 0], foundExact: [0, 0, 0], total: [0, 0, 0], covered: [0, 0, 0], falseLabels: {}, falses: 0, falsesAny: 0, falseVehicles: 0, inferences: 0, cpuMs: [] });
const today = tally(), region = tally();
const VEHICLES = new Set(['car', 'truck', 'bus', 'motorcycle']);

function score(t: Tally, s: Scene, dets: Detection[], crops: Crop[] = []): void {
  const used = new Set<number>();
  s.placed.forEach((p, i) => {
    t.total[s.band[i]!]!++;
    const [x, y, w, h] = p.box;
    if (crops.some((c) => c.why !== 'whole' && x >= c.x && y >= c.y && x + w <= c.x + c.w && y + h <= c.y + c.h)) t.covered[s.band[i]!]!++;
    const j = dets.findIndex((d, k) => !used.has(k) && sameKind(d.label, p.label) && iou(d.box, p.box) >= 0.5);
    const per = (t.byLabel[p.label] ??= [[0, 0], [0, 0], [0, 0]])[s.band[i]!]!;
    per[1]++;
    if (j >= 0) { used.add(j); t.found[s.band[i]!]!++; per[0]++; if (dets[j]!.label === p.label) t.foundExact[s.band[i]!]!++; }
    else if (process.env['SMALL_OBJECTS_DEBUG'] && crops.length && s.band[i] === Number(process.env['SMALL_OBJECTS_DEBUG'])) {
      const best = dets.map((d) => ({ d, o: iou(d.box, p.box) })).sort((a, b) => b.o - a.o)[0];
      const inCrop = crops.filter((c) => c.why !== 'whole' && x >= c.x && y >= c.y && x + w <= c.x + c.w && y + h <= c.y + c.h).map((c) => `${c.why}×${c.scale.toFixed(1)}`);
      const cropList = inCrop.length ? inCrop.join(' ') : `no crop (the sample's: ${crops.filter((c) => c.why !== 'whole').map((c) => `${c.why} ${c.x},${c.y} ${c.w}px`).join('; ')})`;
      log(`miss ${p.label} ${p.box.join(',')} in ${cropList}; best ${best ? `${best.d.label} ${best.d.score} ${best.d.box.map(Math.round).join(',')} iou ${best.o.toFixed(2)}` : '-'}`);
    }
  });
  dets.forEach((d, k) => {
    // A detection on a placed object under the wrong kind is that object's miss, not a false detection.
    if (used.has(k) || s.placed.some((p) => iou(d.box, p.box) >= 0.5 && !(VEHICLES.has(d.label) && !VEHICLES.has(p.label)))) return;
    const cx = d.box[0] + d.box[2] / 2, cy = d.box[1] + d.box[3] / 2;
    if (cx < ZONE.x || cy < ZONE.y || cx > ZONE.x + ZONE.w || cy > ZONE.y + ZONE.h) return;
    t.falsesAny++;
    if (!LOOKED_FOR.has(d.label)) return;
    t.falses++;
    if (process.env['SMALL_OBJECTS_DEBUG_FP'] && crops.length) log(`false ${d.label} ${d.score} ${d.box.map(Math.round).join(',')}`);
    const key = `${d.label}:${Math.max(d.box[2], d.box[3]) < 24 ? 'small' : Math.max(d.box[2], d.box[3]) < 96 ? 'mid' : 'large'}`;
    t.falseLabels[key] = (t.falseLabels[key] ?? 0) + 1;
    if (VEHICLES.has(d.label)) t.falseVehicles++;
  });
}

const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
// The engine follows the classes its zones use; here, the kinds placed.
const sequence = new RegionSequence(regions, settings, (d) => LOOKED_FOR.has(d.label));
for (let i = 0; i < all.length; i++) {
  const s = all[i]!;
  let c0 = cpu();
  const t = await detector.detect(small[i]!);
  const k = W / TODAY.width;
  const todayDets = t.detections.map((d) => ({ ...d, box: [d.box[0] * k, d.box[1] * k, d.box[2] * k, d.box[3] * k] as Detection['box'] }));
  today.cpuMs.push(cpu() - c0);
  today.inferences++;
  score(today, s, todayDets);

  c0 = cpu();
  const r = await sequence.next(s.frame);
  region.cpuMs.push(cpu() - c0);
  region.inferences += r.inferences;
  score(region, s, r.detections, r.crops);
  if ((i + 1) % 10 === 0) log(`${i + 1}/${all.length} samples`);
}

const rate = (t: Tally, b: number, found = t.found): number => Math.round((found[b]! / Math.max(1, t.total[b]!)) * 1000) / 1000;
const med = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return Math.round(s[s.length >> 1]! * 10) / 10; };
const summary = (t: Tally) => ({
  recall_12_24: rate(t, 0), recall_24_48: rate(t, 1), recall_48_96: rate(t, 2),
  recall_same_label: [0, 1, 2].map((b) => rate(t, b, t.foundExact)),
  false_per_frame: Math.round((t.falses / all.length) * 1000) / 1000,
  false_any_class_per_frame: Math.round((t.falsesAny / all.length) * 1000) / 1000,
  false_vehicles_per_frame: Math.round((t.falseVehicles / all.length) * 1000) / 1000,
  objects_inside_a_crop: t.covered.map((c, i) => Math.round((c / Math.max(1, t.total[i]!)) * 100) / 100),
  false_by_label: t.falseLabels,
  found_by_label: Object.fromEntries(Object.entries(t.byLabel).map(([l, b]) => [l, b.map(([f, n]) => `${f}/${n}`).join(' ')])),
  inferences_per_sample: Math.round((t.inferences / all.length) * 100) / 100,
  cpu_ms_per_sample: Math.round(t.cpuMs.reduce((a, b) => a + b, 0) / all.length), cpu_ms_median: med(t.cpuMs),
});
const a = summary(region), b = summary(today);
const ratio = (x: number, y: number): number | null => (y > 0 ? Math.round((x / y) * 100) / 100 : null);
const result = {
  bench: 'small-objects', samples: all.length, objects: all.reduce((n, s) => n + s.placed.length, 0), frame: `${W}x${H}`, today_frame: `${TODAY.width}x${TODAY.height}`,
  regions: settings.mode, max_crops: settings.maxCrops, min_object_px: settings.minObjectPx, crop_vehicle_min_score: settings.cropVehicleMinScore, model: regionModel.name, second_opinion: regionModel !== detector && args['second-opinion'] === 'on' ? detector.name : null, today_model: detector.name, precision: args.precision, wide_input: args['wide-input'] === 'on',
  objects_per_band: region.total,
  region: a, whole_frame_today: b,
  recall_ratio_12_24: ratio(a.recall_12_24, b.recall_12_24), recall_ratio_24_48: ratio(a.recall_24_48, b.recall_24_48),
  meets_targets: a.recall_24_48 >= 0.7 && a.recall_12_24 >= 0.4 && a.recall_24_48 >= 3 * b.recall_24_48 && a.recall_12_24 >= 3 * b.recall_12_24 && a.false_per_frame <= b.false_per_frame,
  ...(sweep ? { size_sweep: sweep } : {}),
  note: 'CPU ms on a shared 2-core machine; compare the two columns of one run only',
};
await detector.release();
if (regionModel !== detector) await regionModel.release();
process.stdout.write(`${JSON.stringify(result)}\n`);
