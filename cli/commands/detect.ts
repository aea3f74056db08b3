import type { Command } from 'commander';
import { VEHICLE_CLASSES } from '../../config/index.ts';

const VIDEO = /\.(avi|mp4|mkv|mov|webm|ts|h264|h265|hevc|m4v)$/i;

function positive(v: string): number {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`expected a positive number, got ${JSON.stringify(v)}`);
  return n;
}

/** `gridwatch detect FILE`: runs the detector on an image or a video, prints JSON detections. */
export function registerDetect(program: Command): void {
  program
    .command('detect')
    .description('run the detector on an image or a video and print JSON detections (one line per frame for videos)')
    .argument('<file>', 'image (JPEG, PNG…) or video')
    .option('--data-dir <dir>', 'data folder (holds the converted model)', process.env['GRIDWATCH_DATA_DIR'] ?? './data')
    .option('--model <file.onnx>', 'another ONNX model')
    .option('--type <type>', 'adapter: nanodet, yolov8 or yolov5', 'nanodet')
    .option('--score <s>', 'score threshold', positive, 0.3)
    .option('--fps <f>', 'frames per second to sample from a video', positive, 1)
    .option('--max-frames <n>', 'at most this many video frames', positive, 1000)
    .option('--precision <p>', 'fp32 or int8 (the built-in models; the engine runs int8)', 'fp32')
    .option('--regions <mode>', 'whole (the frame squeezed into the model input), zones (plus full-resolution tiles over --zone) or auto (plus crops around changes and objects of the previous frame, as the engine does)', 'whole')
    .option('--zone <x,y,w,h>', 'a zone\'s bounding box in frame pixels, for --regions zones|auto (repeat for more; default: the whole frame)', zoneBox, [])
    .option('--max-crops <n>', 'crops per frame besides the whole frame', positive, 8)
    .option('--min-object-px <n>', 'longer side of the smallest objects zone tiles are cut for', positive, 12)
    .option('--crop-vehicle-min-score <s>', 'least score of a vehicle found in a crop', (v) => Number(v), 0.5)
    .option('--second-opinion <model>', 'nanodet or none: the model also asked where a region crop shows nothing (default: nanodet with --type yolov5 and --regions zones|auto, as a worker with detectors.region_model does; otherwise none)')
    .option('--reference <det.txt>', 'score each frame against another detector\'s boxes over the same video (MOTChallenge: frame,id,left,top,width,height,conf,class, COCO classes), and print a summary line last')
    .option('--reference-fps <f>', 'the reference\'s frame rate (default: the video\'s)', positive)
    .option('--reference-first-frame <n>', 'the reference\'s number for the video\'s first frame', (v) => Number(v), 1)
    .option('--reference-min-score <s>', 'reference boxes scored under this are left out (Ultralytics predicts at 0.25)', (v) => Number(v), 0.25)
    .option('--classes <list>', 'the classes --reference checks, one kind (default: the vehicles)', (v) => v.split(',').map((c) => c.trim()).filter(Boolean))
    .action(async (file: string, opts: DetectOptions) => {
      const { Detector, detectorOptions, readImage, readVideo, RegionDetector, RegionSequence } = await import('../../detectors/index.ts');
      if (opts.reference && !VIDEO.test(file)) throw new Error('--reference scores a video; this is an image');
      const check = opts.reference ? await referenceCheck(file, opts) : undefined;
      if (!['nanodet', 'yolov8', 'yolov5'].includes(opts.type)) throw new Error(`unknown --type ${opts.type}`);
      if (!['fp32', 'int8'].includes(opts.precision)) throw new Error(`unknown --precision ${opts.precision}: fp32 or int8`);
      if (!['whole', 'zones', 'auto'].includes(opts.regions)) throw new Error(`unknown --regions ${opts.regions}: whole, zones or auto`);
      // As a worker with detectors.region_model { type: yolov5 }: NanoDet-g's second opinion on region crops that show nothing.
      const opinion = opts.secondOpinion ?? (opts.type === 'yolov5' && !opts.model && opts.regions !== 'whole' ? 'nanodet' : 'none');
      if (!['nanodet', 'none'].includes(opinion)) throw new Error(`unknown --second-opinion ${opinion}: nanodet or none`);
      const detector = await Detector.load(detectorOptions({ type: opts.type as 'nanodet', path: opts.model, score_threshold: opts.score, iou_threshold: 0.5, precision: opts.precision as 'fp32' }, opts.dataDir));
      const second = opinion === 'nanodet' ? await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: opts.score, iou_threshold: 0.5, precision: opts.precision as 'fp32' }, opts.dataDir)) : undefined;
      const model = { name: detector.name, version: detector.version, ...(second ? { second_opinion: { name: second.name, version: second.version } } : {}) };
      const line = (o: unknown): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
      const regions = new RegionDetector(detector, second);
      // One stream in order, as the pool runs a camera: changes and objects carry from frame to frame.
      const sequence = (width: number, height: number) => new RegionSequence(regions, {
        mode: opts.regions as 'whole', maxCrops: opts.maxCrops, minObjectPx: opts.minObjectPx, cropVehicleMinScore: opts.cropVehicleMinScore,
        zones: opts.zone.length ? opts.zone : [{ x: 0, y: 0, w: width, h: height }],
      });
      try {
        if (VIDEO.test(file)) {
          let seq: InstanceType<typeof RegionSequence> | undefined;
          for await (const f of readVideo(file, opts.fps, opts.maxFrames)) {
            seq ??= sequence(f.width, f.height);
            const r = await seq.next(f);
            const scored = check?.frame(f.timeMs, r.detections);
            line({ file, frame: f.index, time_ms: Math.round(f.timeMs), width: f.width, height: f.height, model, inferences: r.inferences, detections: r.detections.map(out), ...(scored ? { reference: { frame: scored.referenceFrame, boxes: scored.reference, found: scored.found, false_boxes: scored.falseBoxes } } : {}) });
          }
          if (check) {
            const summary = check.summary();
            line({ file, summary: { ...summary, reference: opts.reference, classes: opts.classes ?? [...VEHICLE_CLASSES], model } });
            const bands = Object.entries(summary.by_size).filter(([, b]) => b.boxes).map(([k, b]) => `${k} px ${b.found}/${b.boxes}`).join(', ');
            process.stderr.write(`against ${opts.reference}: found ${summary.found} of ${summary.reference_boxes} boxes (recall ${summary.recall}; ${bands || 'none'}; mean IoU ${summary.mean_iou}), ${summary.false_boxes} false boxes over ${summary.frames} frames (${summary.false_boxes_per_10_frames} per 10 frames)\n`);
          }
        } else {
          const img = await readImage(file);
          const r = await sequence(img.width, img.height).next(img);
          line({ file, width: img.width, height: img.height, model, inference_ms: Math.round(r.inferenceMs), inferences: r.inferences, detections: r.detections.map(out) });
        }
      } finally {
        await detector.release();
        await second?.release();
      }
    });
}

interface DetectOptions {
  dataDir: string; model?: string; type: string; score: number; fps: number; maxFrames: number; precision: string;
  regions: string; zone: Box[]; maxCrops: number; minObjectPx: number; cropVehicleMinScore: number; secondOpinion?: string;
  reference?: string; referenceFps?: number; referenceFirstFrame: number; referenceMinScore: number; classes?: string[];
}

/** The check against `--reference`: its boxes read, its frame rate probed unless given, the classes known. */
async function referenceCheck(file: string, opts: DetectOptions) {
  const { COCO_CLASSES, ReferenceCheck, probeVideo, readMot } = await import('../../detectors/index.ts');
  const classes = opts.classes ?? [...VEHICLE_CLASSES];
  const unknown = classes.filter((c) => !COCO_CLASSES.includes(c));
  if (unknown.length || !classes.length) throw new Error(`--classes: ${unknown.length ? `${unknown.map((c) => JSON.stringify(c)).join(', ')} not COCO classes` : 'none given'}`);
  if (!Number.isInteger(opts.referenceFirstFrame)) throw new Error(`--reference-first-frame must be a whole number; got ${opts.referenceFirstFrame}`);
  if (!(opts.referenceMinScore >= 0)) throw new Error(`--reference-min-score must be 0 or more; got ${opts.referenceMinScore}`);
  const fps = opts.referenceFps ?? (await probeVideo(file)).fps;
  if (!(fps > 0)) throw new Error(`${file}: no frame rate to match --reference's frames by; give --reference-fps`);
  return new ReferenceCheck(readMot(opts.reference!), { fps, first: opts.referenceFirstFrame, classes: new Set(classes), minScore: opts.referenceMinScore });
}
interface Box { x: number; y: number; w: number; h: number }

/** `x,y,w,h` (frame pixels), collected over repeats. */
function zoneBox(v: string, prev: Box[]): Box[] {
  const n = v.split(',').map(Number);
  if (n.length !== 4 || !n.every((x) => Number.isFinite(x) && x >= 0) || n[2]! <= 0 || n[3]! <= 0) throw new Error(`--zone ${JSON.stringify(v)}: expected x,y,w,h in frame pixels, w and h above 0`);
  return [...prev, { x: n[0]!, y: n[1]!, w: n[2]!, h: n[3]! }];
}

function out(d: { label: string; classId: number; score: number; box: number[] }): Record<string, unknown> {
  return { class: d.label, class_id: d.classId, score: d.score, box: d.box };
}
