/**
 * Dome traffic: the region detector on a real highway dome camera's traffic, as the dome check of
 * issue 19 scores it (`gridwatch detect --reference`), where the check's own recordings are not here.
 *
 *   npm run bench -- dome-traffic [--data ../shared/data/roadtrack-dev] [--per-camera 2] [--samples 60] [--keep DIR]
 *
 * RoadTrack's development split holds YOLO11m's boxes over real dome cameras (640×540, 10 fps), the
 * very reference the dome check uses, but not the video. So the traffic is real (where each
 * vehicle is, its size, how it moves, how many there are a frame, which stand still) and its look
 * is borrowed: each box YOLO11m drew is filled with a real vehicle photographed from above or
 * behind (vtest.avi's van seen by a surveillance camera, the car in OpenCV's licenseplate_motion.jpg,
 * the pickup in darknet's dog.jpg; mirrored on the road's right half), the patch whose shape is
 * nearest the box's stretched to it, nearer vehicles drawn over farther ones, on vtest.avi's
 * empty plaza (the per-pixel median of its frames, below its parked van). The frames, one a
 * second, are encoded as H.264 as a camera would send them. A box more than half hidden by nearer
 * ones is neither drawn nor counted.
 *
 * `--per-camera` sequences of each camera (N and P in turns, evenly spaced by name, among those
 * with `--samples` seconds of footage) run through each configuration as one stream in order,
 * zone over the whole frame, as `gridwatch detect --regions auto` does: today's whole frame
 * (NanoDet-g int8), the region detector on NanoDet-g int8 (the default) and on YOLOv5s with
 * NanoDet-g's second opinion, int8 (as a worker runs it) and fp32. Scored per sample on all vehicle classes as one kind: recall by the
 * reference box's size, vehicle boxes the reference lacks per 10 frames (the check's bar: at most
 * one), and, apart from how any model sees the borrowed look, `inside_a_crop`: the share of the
 * reference's boxes that lay wholly inside a crop (not the whole frame), by size. Last stdout
 * line: one JSON object. DOME_TRAFFIC_DEBUG=1 logs each false vehicle box with the reference's boxes.
 * `--keep DIR` keeps each sequence's recording (`DIR/SEQ.mp4`) and the boxes it shows as a
 * MOTChallenge reference (`DIR/SEQ.det.txt`), for the dome check itself: `gridwatch detect
 * DIR/SEQ.mp4 --fps 1 --precision int8 --regions auto --reference DIR/SEQ.det.txt`.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { boxIou, Detector, detectorOptions, ensureDefaultModel, ensureInt8Model, ensureYolov5s, readImage, readVideo, ReferenceCheck, RegionDetector, RegionSequence, type CheckSummary, type Detection } from '../detectors/index.ts';
import { VEHICLE_CLASSES } from '../config/index.ts';
import { cut, DOG, resize, VTEST, type ObjectPatch } from './lib/small-objects.ts';
import { readRoadtrack, type RoadSequence } from './lib/roadtrack.ts';
import { tempDir } from '../test/harness.ts';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '../shared/data/roadtrack-dev' },
    'per-camera': { type: 'string', default: '2' },
    samples: { type: 'string', default: '60' },
    keep: { type: 'string' },
    'data-dir': { type: 'string', default: process.env['GRIDWATCH_DATA_DIR'] ?? './data' },
  },
});
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const W = 640, H = 540, FPS = 10;
const samples = Number(args.samples), perCamera = Number(args['per-camera']);
if (!(Number.isInteger(samples) && samples > 0 && Number.isInteger(perCamera) && perCamera > 0)) throw new Error('--samples and --per-camera must be whole numbers above 0');
const dataDir = args['data-dir']!;
const VEHICLES = new Set<string>(VEHICLE_CLASSES);
/** Reference boxes under this are not counted, as Ultralytics predicts at 0.25 by default. */
const MIN_REFERENCE_SCORE = 0.25;
const LICENSE_PLATE = '/usr/share/doc/opencv-doc/examples/data/licenseplate_motion.jpg';

ensureDefaultModel(dataDir);
ensureYolov5s(dataDir);
await ensureInt8Model(dataDir, undefined, 'yolov5s');
const load = (type: 'nanodet' | 'yolov5', precision: 'int8' | 'fp32') => Detector.load(detectorOptions({ type, score_threshold: 0.3, iou_threshold: 0.5, precision }, dataDir, 1));

// The sequences: per camera, evenly spaced by name, N and P in turns.
const { sequences: all } = readRoadtrack(args.data!);
const long = (s: RoadSequence): boolean => s.dets.last - s.dets.first + 1 >= samples * FPS && [...s.dets.frames.values()].some((d) => d.length);
const chosen: RoadSequence[] = [];
for (const camera of [...new Set(all.map((s) => s.camera))].sort()) {
  for (let i = 0; i < perCamera; i++) {
    const pool = all.filter((s) => s.camera === camera && s.kind === (i % 2 ? 'P' : 'N') && long(s));
    const pick = pool[Math.floor(((Math.floor(i / 2) + 0.5) / Math.ceil(perCamera / 2)) * pool.length)];
    if (pick) chosen.push(pick);
  }
}
log(`sequences: ${chosen.map((s) => s.name).join(', ')}`);

// The borrowed look: real vehicles YOLOv5s fp32 finds at full size, and their mirror images.
const yolov5fp32 = await load('yolov5', 'fp32');
const patches: ObjectPatch[] = [];
const vehiclesIn = async (f: { width: number; height: number; rgb: Uint8Array }, source: string, keep: (d: Detection) => boolean): Promise<void> => {
  for (const d of (await yolov5fp32.detect(f)).detections) {
    if (!VEHICLES.has(d.label) || d.score < 0.5 || !keep(d)) continue;
    const p = cut(f, d.box);
    patches.push({ label: d.label, source, score: d.score, box: d.box, ...p }, { label: d.label, source: `${source} mirrored`, score: d.score, box: d.box, ...mirror(p) });
  }
};
await vehiclesIn(await readImage(DOG), 'dog.jpg', () => true);
await vehiclesIn(await readImage(LICENSE_PLATE), 'licenseplate_motion.jpg', () => true);
let plaza: { width: number; height: number; rgb: Uint8Array } | undefined;
const plazaFrames: Uint8Array[] = [];
for await (const f of readVideo(VTEST, 25 / 79, 25)) {
  // The van parked at the plaza's far edge (the car beside it is cut by the picture's edge).
  if (!plaza) await vehiclesIn(f, 'vtest.avi', (d) => d.box[0] + d.box[2] < f.width - 2);
  plaza ??= f;
  plazaFrames.push(f.rgb);
}
if (patches.length < 2) throw new Error(`expected real vehicles in ${DOG}, ${LICENSE_PLATE} and ${VTEST}; YOLOv5s found ${patches.length / 2}`);
log(`vehicles: ${patches.filter((p) => !p.source.endsWith('mirrored')).map((p) => `${p.label} ${p.width}x${p.height} (${p.source})`).join(', ')}`);

// The empty plaza below its parked vehicles, at the dome's 640×540: the first cut of it in which
// no configuration sees a vehicle over ten seconds of the empty backdrop, so that a backdrop
// that shows one to everybody does not count as false boxes.
const median = new Uint8Array(plaza!.rgb.length);
const vals = new Uint8Array(plazaFrames.length);
for (let i = 0; i < median.length; i++) {
  for (let k = 0; k < plazaFrames.length; k++) vals[k] = plazaFrames[k]![i]!;
  vals.sort();
  median[i] = vals[vals.length >> 1]!;
}
const nanodet = await load('nanodet', 'int8');
const yolov5 = await load('yolov5', 'int8');
const configs = [
  { name: 'whole_frame_today', regions: new RegionDetector(nanodet), mode: 'whole' as const },
  { name: 'region_nanodet', regions: new RegionDetector(nanodet), mode: 'auto' as const },
  { name: 'region_yolov5s', regions: new RegionDetector(yolov5, nanodet), mode: 'auto' as const },
  { name: 'region_yolov5s_fp32', regions: new RegionDetector(yolov5fp32, nanodet), mode: 'auto' as const },
];
/** As `gridwatch detect --regions auto` runs a camera: one zone over the whole frame. */
const SETTINGS = { maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: 0, y: 0, w: W, h: H }] };
const dir = tempDir('gw-dome-traffic-');
const top = 110, bgH = plaza!.height - top, bgW = Math.round((bgH * W) / H);
let background: { width: number; height: number; rgb: Uint8Array } | undefined;
for (const left of [0, plaza!.width - bgW, (plaza!.width - bgW) >> 1]) {
  const candidate = await resize(cut({ width: plaza!.width, height: plaza!.height, rgb: median }, [left, top, bgW, bgH]), W, H, 'cubic');
  // Ten seconds of the empty backdrop through each configuration, as the stream will be.
  const video = encode('backdrop', Array.from({ length: 10 }, () => candidate.rgb));
  const seen: string[] = (await yolov5fp32.detect(candidate)).detections.filter((d) => VEHICLES.has(d.label)).map((d) => `${d.label} ${d.score} (YOLOv5s fp32, whole frame)`);
  for (const c of configs) {
    const sequence = new RegionSequence(c.regions, { mode: c.mode, ...SETTINGS });
    for await (const f of readVideo(video, 1)) seen.push(...(await sequence.next(f)).detections.filter((d) => VEHICLES.has(d.label)).map((d) => `${d.label} ${d.score} ${d.box.map(Math.round).join(',')} (${c.name})`));
  }
  if (!seen.length) { background = candidate; log(`background: vtest.avi's plaza from x ${left}, y ${top}, ${bgW}x${bgH}`); break; }
  log(`background from x ${left}: ${[...new Set(seen)].slice(0, 4).join('; ')}; trying another`);
}
if (!background) throw new Error('every cut of the plaza shows a vehicle to one of the models');

function mirror(p: { width: number; height: number; rgb: Uint8Array }): { width: number; height: number; rgb: Uint8Array } {
  const rgb = new Uint8Array(p.rgb.length);
  for (let y = 0; y < p.height; y++) for (let x = 0; x < p.width; x++) rgb.set(p.rgb.subarray((y * p.width + x) * 3, (y * p.width + x) * 3 + 3), (y * p.width + p.width - 1 - x) * 3);
  return { width: p.width, height: p.height, rgb };
}

/** Frames one a second as a camera's H.264 stream; the file's path. */
function encode(name: string, frames: readonly Uint8Array[]): string {
  const video = join(dir, `${name}.mp4`);
  const enc = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', '1', '-i', '-', '-c:v', 'libx264', '-crf', '23', '-g', '10', '-pix_fmt', 'yuv420p', video], { input: Buffer.concat(frames), maxBuffer: 1 << 20 });
  if (enc.status !== 0) throw new Error(`ffmpeg could not encode ${name}: ${enc.stderr.toString().trim()}`);
  return video;
}

/** The recording and the boxes it shows, as `gridwatch detect --reference` reads them (frames from 1, COCO class numbers). */
function keepRecording(into: string, name: string, video: string, frames: ReadonlyMap<number, readonly Detection[]>): void {
  mkdirSync(into, { recursive: true });
  copyFileSync(video, join(into, `${name}.mp4`));
  const lines = [...frames].flatMap(([k, ds]) => ds.map((d) => [k, -1, ...d.box, d.score, d.classId].join(',')));
  writeFileSync(join(into, `${name}.det.txt`), lines.map((l) => `${l}\n`).join(''));
}

type Box = [number, number, number, number];
const overlap = (a: Box, b: Box): number => Math.max(0, Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]));

/** One sample's picture and the reference boxes it shows (more than half visible). */
async function sampleFrame(boxes: readonly Detection[]): Promise<{ rgb: Uint8Array; shown: Detection[] }> {
  const rgb = background!.rgb.slice();
  const inFrame = boxes
    .filter((d) => VEHICLES.has(d.label) && d.score >= MIN_REFERENCE_SCORE)
    .map((d) => {
      const x = Math.max(0, Math.round(d.box[0])), y = Math.max(0, Math.round(d.box[1]));
      const box: Box = [x, y, Math.min(W, Math.round(d.box[0] + d.box[2])) - x, Math.min(H, Math.round(d.box[1] + d.box[3])) - y];
      return { ...d, box };
    })
    .filter((d) => d.box[2] >= 2 && d.box[3] >= 2)
    .sort((a, b) => (a.box[1] + a.box[3]) - (b.box[1] + b.box[3]));
  const shown = inFrame.filter((d, i) => inFrame.slice(i + 1).reduce((s, n) => s + overlap(d.box, n.box), 0) <= 0.5 * d.box[2] * d.box[3]);
  for (const d of shown) {
    const [x, y, w, h] = d.box;
    const right = x + w / 2 > W / 2;
    const shape = Math.log(w / h);
    const patch = patches.filter((p) => p.source.endsWith('mirrored') === right)
      .reduce((a, b) => (Math.abs(Math.log(b.width / b.height) - shape) < Math.abs(Math.log(a.width / a.height) - shape) ? b : a));
    const small = await resize(patch, w, h);
    for (let r = 0; r < h; r++) rgb.set(small.rgb.subarray(r * w * 3, (r + 1) * w * 3), ((y + r) * W + x) * 3);
  }
  return { rgb, shown };
}

interface Tally { summaries: CheckSummary[]; inside: number[]; boxes: number[]; runs: number; frames: number; cpuMs: number }
const tallies = Object.fromEntries(configs.map((c) => [c.name, { summaries: [], inside: [0, 0, 0, 0], boxes: [0, 0, 0, 0], runs: 0, frames: 0, cpuMs: 0 } as Tally]));
const BAND_EDGES = [12, 24, 48];
const bandOf = (b: readonly number[]): number => BAND_EDGES.filter((e) => Math.max(b[2]!, b[3]!) >= e).length;
const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let shownBoxes = 0, drawnFrames = 0;

for (const seq of chosen) {
  // The stream: one frame a second, each the reference frame shown at that second.
  const frames = new Map<number, Detection[]>();
  const raw: Uint8Array[] = [];
  for (let k = 0; k < samples; k++) {
    const { rgb, shown } = await sampleFrame(seq.dets.frames.get(seq.dets.first + k * FPS) ?? []);
    frames.set(k + 1, shown);
    raw.push(rgb);
    shownBoxes += shown.length;
  }
  drawnFrames += samples;
  const video = encode(seq.name, raw);
  if (args.keep) keepRecording(args.keep, seq.name, video, frames);
  const reference = { frames, first: 1, last: samples };
  for (const c of configs) {
    const t = tallies[c.name]!;
    const check = new ReferenceCheck(reference, { fps: 1, first: 1, classes: VEHICLES, minScore: 0 });
    const sequence = new RegionSequence(c.regions, { mode: c.mode, ...SETTINGS });
    for await (const f of readVideo(video, 1, samples)) {
      const c0 = cpu();
      const r = await sequence.next(f);
      t.cpuMs += cpu() - c0;
      t.runs += r.inferences;
      t.frames++;
      const scored = check.frame(f.timeMs, r.detections);
      const shown = frames.get(1 + Math.round(f.timeMs / 1000)) ?? [];
      if (process.env['DOME_TRAFFIC_DEBUG'] && scored.falseBoxes) {
        for (const d of r.detections.filter((x) => VEHICLES.has(x.label))) {
          const best = Math.max(0, ...shown.map((s) => boxIou(d.box, s.box)));
          if (best < 0.5) log(`${seq.name} ${c.name} @${Math.round(f.timeMs / 1000)}s false ${d.label} ${d.score} ${d.box.map(Math.round).join(',')}, best IoU ${best.toFixed(2)} with ${JSON.stringify(shown.map((s) => s.box))}`);
        }
      }
      for (const d of shown) {
        const [x, y, w, h] = d.box;
        const band = bandOf(d.box);
        t.boxes[band]!++;
        if (r.crops.some((k) => k.why !== 'whole' && x >= k.x && y >= k.y && x + w <= k.x + k.w && y + h <= k.y + k.h)) t.inside[band]!++;
      }
    }
    t.summaries.push(check.summary());
    const s = check.summary();
    log(`${seq.name} ${c.name}: recall ${s.recall} of ${s.reference_boxes}, ${s.false_boxes_per_10_frames} false per 10 frames`);
  }
}
await nanodet.release();
await yolov5.release();
await yolov5fp32.release();
rmSync(dir, { recursive: true, force: true });

const r3 = (v: number): number => Math.round(v * 1000) / 1000;
const BANDS = ['<12', '12-24', '24-48', '>48'];
const results = Object.fromEntries(configs.map((c) => {
  const t = tallies[c.name]!;
  const sum = (f: (s: CheckSummary) => number): number => t.summaries.reduce((a, s) => a + f(s), 0);
  const boxes = sum((s) => s.reference_boxes), found = sum((s) => s.found), falses = sum((s) => s.false_boxes);
  const out = {
    recall: r3(found / Math.max(1, boxes)),
    by_size: Object.fromEntries(BANDS.map((b) => { const n = sum((s) => s.by_size[b]!.boxes), f = sum((s) => s.by_size[b]!.found); return [b, { found: f, boxes: n, recall: r3(f / Math.max(1, n)) }]; })),
    false_vehicle_boxes_per_10_frames: r3((falses * 10) / Math.max(1, t.frames)),
    inside_a_crop: Object.fromEntries(BANDS.map((b, i) => [b, r3(t.inside[i]! / Math.max(1, t.boxes[i]!))])),
    per_sequence_recall: Object.fromEntries(chosen.map((s, i) => [s.name, t.summaries[i]!.recall])),
    model_runs_per_frame: Math.round((t.runs / Math.max(1, t.frames)) * 100) / 100,
    cpu_ms_per_frame: Math.round(t.cpuMs / Math.max(1, t.frames)),
  };
  log(`${c.name}: recall ${out.recall} (${BANDS.map((b) => `${b} ${out.by_size[b]!.recall}`).join(', ')}), ${out.false_vehicle_boxes_per_10_frames} false vehicle boxes per 10 frames, inside a crop ${BANDS.map((b) => out.inside_a_crop[b]).join(' / ')}, ${out.model_runs_per_frame} model runs a frame`);
  return [c.name, out];
}));
// The dome check's bars, for the default (the region detector on NanoDet-g, as the engine runs a camera).
const byDefault = results['region_nanodet']!, today = results['whole_frame_today']!;
const headline = {
  recall: byDefault.recall, false_vehicle_boxes_per_10_frames: byDefault.false_vehicle_boxes_per_10_frames,
  today_recall: today.recall, today_false_vehicle_boxes_per_10_frames: today.false_vehicle_boxes_per_10_frames,
  recall_vs_today: Math.round((byDefault.recall / Math.max(0.001, today.recall)) * 100) / 100,
  meets_dome_bars: byDefault.recall >= 0.7 && byDefault.false_vehicle_boxes_per_10_frames <= 1,
};
process.stdout.write(`${JSON.stringify({ bench: 'dome-traffic', ...headline, data: args.data, sequences: chosen.map((s) => s.name), samples_per_sequence: samples, frame: `${W}x${H}`, fps: 1, reference: 'YOLO11m det.txt (RoadTrack), boxes more than half visible', reference_boxes: shownBoxes, frames: drawnFrames, vehicles: patches.filter((p) => !p.source.endsWith('mirrored')).map((p) => `${p.label} ${p.width}x${p.height} ${p.source}`), ...results })}\n`);
