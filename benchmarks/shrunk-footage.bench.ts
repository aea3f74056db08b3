/**
 * Shrunk footage: the region detector on real video whose objects are as small as a dome
 * camera's, against a bigger look at the same video, as the dome check of issue 19 is scored
 * (`gridwatch detect --reference`).
 *
 *   npm run bench -- shrunk-footage [--scale 0.333] [--frame 640x540] [--fps 1] [--max-frames 80]
 *
 * vtest.avi (768×576, 10 fps, people walking across a plaza) is shrunk by `--scale` (a third: its
 * walkers 9–40 px tall, most 15–30, as a highway dome's vehicles) into the middle of a grey
 * `--frame` (a dome's 640×540 substream) and encoded as H.264, so the detector decodes it as a
 * camera's stream. The reference is YOLOv5s fp32 on every frame of the original at full size, its
 * boxes shrunk the same way. Each configuration runs over the shrunk video at `--fps` (one stream
 * in order, changes and objects carried from sample to sample, the zone over the picture) and is
 * scored by ReferenceCheck on people: recall (IoU ≥ 0.5), by the reference box's size, and boxes
 * the reference does not have, per 10 frames. The configurations: today's whole frame (NanoDet-g
 * int8), the region detector on NanoDet-g (the default) and on YOLOv5s int8 with NanoDet-g's second
 * opinion (`detectors.region_model: { type: yolov5 }`). People, not vehicles: no vehicle footage
 * ships with Debian, but the reference finds the cars and vans parked along the plaza's far edge
 * (about two a frame, 20–40 px at a third), so `vehicles` scores them the same way, all vehicle
 * classes one kind, as the dome check does: recall, and vehicle boxes the reference lacks per 10
 * frames (the check's bar: one). Last stdout line: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Detector, detectorOptions, ensureDefaultModel, ensureInt8Model, ensureYolov5s, readVideo, ReferenceCheck, RegionDetector, RegionSequence, type CheckSummary, type Detection } from '../detectors/index.ts';
import { VEHICLE_CLASSES } from '../config/index.ts';
import { VTEST } from './lib/small-objects.ts';
import { tempDir } from '../test/harness.ts';

const { values: args } = parseArgs({
  options: {
    scale: { type: 'string', default: '0.333' },
    frame: { type: 'string', default: '640x540' },
    fps: { type: 'string', default: '1' },
    'max-frames': { type: 'string', default: '80' },
    'data-dir': { type: 'string', default: process.env['GRIDWATCH_DATA_DIR'] ?? './data' },
  },
});
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const scale = Number(args.scale);
const [W, H] = args.frame!.split('x').map(Number) as [number, number];
const SOURCE = { width: 768, height: 576, fps: 10 };
const w = Math.round(SOURCE.width * scale / 2) * 2, h = Math.round(SOURCE.height * scale / 2) * 2;
if (!(scale > 0 && scale <= 1) || !(w <= W && h <= H)) throw new Error(`--scale ${args.scale} must be in (0, 1] and the shrunk ${w}x${h} fit in --frame ${args.frame}`);
const x0 = Math.round((W - w) / 2 / 2) * 2, y0 = Math.round((H - h) / 2 / 2) * 2;
const kx = w / SOURCE.width, ky = h / SOURCE.height;
const dataDir = args['data-dir']!;

// The shrunk stream, as a camera's encoder would send it.
const video = join(tempDir('gw-shrunk-'), 'shrunk.mp4');
execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', VTEST, '-vf', `scale=${w}:${h}:flags=area,pad=${W}:${H}:${x0}:${y0}:color=gray`, '-c:v', 'libx264', '-crf', '18', '-pix_fmt', 'yuv420p', video]);
log(`${VTEST} shrunk to ${w}x${h} at ${x0},${y0} in ${W}x${H}`);

// The reference: YOLOv5s fp32 on every frame of the original at full size, boxes shrunk alike.
ensureDefaultModel(dataDir);
ensureYolov5s(dataDir);
await ensureInt8Model(dataDir, undefined, 'yolov5s');
const big = await Detector.load(detectorOptions({ type: 'yolov5', score_threshold: 0.3, iou_threshold: 0.5, precision: 'fp32' }, dataDir, 1));
const frames = new Map<number, Detection[]>();
const VEHICLES = new Set(VEHICLE_CLASSES);
/** Reference boxes under this are not counted, as Ultralytics predicts at 0.25 by default. */
const MIN_REFERENCE_SCORE = 0.25;
const vehicleBoxes = (dets: readonly Detection[]): number => dets.filter((d) => VEHICLES.has(d.label) && d.score >= MIN_REFERENCE_SCORE).length;
for await (const f of readVideo(VTEST, SOURCE.fps)) {
  const dets = (await big.detect(f)).detections.map((d) => ({ ...d, box: [d.box[0] * kx + x0, d.box[1] * ky + y0, d.box[2] * kx, d.box[3] * ky] as Detection['box'] }));
  frames.set(f.index + 1, dets);
}
await big.release();
const reference = { frames, first: 1, last: frames.size };
const referenceVehicles = [...frames.values()].reduce((a, d) => a + vehicleBoxes(d), 0);
log(`reference: YOLOv5s fp32 over ${frames.size} frames, ${referenceVehicles} vehicle boxes`);

const load = (type: 'nanodet' | 'yolov5', precision: 'int8' | 'fp32') => Detector.load(detectorOptions({ type, score_threshold: 0.3, iou_threshold: 0.5, precision }, dataDir, 1));
const nanodet = await load('nanodet', 'int8');
const yolov5 = await load('yolov5', 'int8');
const configs = [
  { name: 'whole_frame_today', regions: new RegionDetector(nanodet), mode: 'whole' as const },
  { name: 'region_nanodet', regions: new RegionDetector(nanodet), mode: 'auto' as const },
  { name: 'region_yolov5s', regions: new RegionDetector(yolov5, nanodet), mode: 'auto' as const },
];
const results: Record<string, CheckSummary & { model_runs_per_frame: number; vehicles: CheckSummary }> = {};
for (const c of configs) {
  const check = new ReferenceCheck(reference, { fps: SOURCE.fps, first: 1, classes: new Set(['person']), minScore: MIN_REFERENCE_SCORE });
  const vehicleCheck = new ReferenceCheck(reference, { fps: SOURCE.fps, first: 1, classes: VEHICLES, minScore: MIN_REFERENCE_SCORE });
  const sequence = new RegionSequence(c.regions, { mode: c.mode, maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: x0, y: y0, w, h }] });
  let runs = 0, n = 0;
  for await (const f of readVideo(video, Number(args.fps), Number(args['max-frames']))) {
    const r = await sequence.next(f);
    runs += r.inferences;
    n++;
    check.frame(f.timeMs, r.detections);
    vehicleCheck.frame(f.timeMs, r.detections);
  }
  const s = check.summary();
  const v = vehicleCheck.summary();
  results[c.name] = { ...s, model_runs_per_frame: Math.round((runs / Math.max(1, n)) * 100) / 100, vehicles: v };
  log(`${c.name}: people recall ${s.recall}, ${s.false_boxes_per_10_frames} false per 10 frames; vehicles recall ${v.recall} of ${v.reference_boxes}, ${v.false_boxes_per_10_frames} false per 10 frames; ${results[c.name]!.model_runs_per_frame} model runs a frame`);
}
await nanodet.release();
await yolov5.release();
rmSync(dirname(video), { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ bench: 'shrunk-footage', video: 'vtest.avi', shrunk: `${w}x${h}`, frame: `${W}x${H}`, fps: Number(args.fps), reference: 'yolov5s fp32, full size, every frame', reference_vehicle_boxes: referenceVehicles, classes: ['person'], vehicle_classes: VEHICLE_CLASSES, ...results })}\n`);
