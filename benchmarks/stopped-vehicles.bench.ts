/**
 * Stopped vehicles on real dome-camera tracks: gridwatch's parking rule (through `replay`, the
 * code the engine runs) and the data set's naive IoU baseline, side by side, both scored with the
 * data set's protocol (see ../shared/data/roadtrack-dev/README.md). Prints one JSON object last.
 *   npm run bench -- stopped-vehicles [--data DIR] [--homography] [--every N] [--dwell-s S] [--by-camera]
 * --every N feeds every Nth frame (10 fps / N samples a second); the dwell then grows to at least
 * three sample periods, as a zone for that rate would be configured.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { replayDetections } from '../detectors/index.ts';
import { Value } from 'typebox/value';
import type { ZoneT } from '../config/index.ts';
import { Zone } from '../config/index.ts';
import { iouBaseline } from './lib/iou-baseline.ts';
import { readRoadtrack, scoreProtocol, type FlaggedBoxes, type RoadSequence } from './lib/roadtrack.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(import.meta.dirname, '..', '..', 'shared', 'data', 'roadtrack-dev') },
    homography: { type: 'boolean', default: false },
    every: { type: 'string', default: '1' },
    'dwell-s': { type: 'string', default: '3' },
    'max-speed-kmh': { type: 'string' },
    'by-camera': { type: 'boolean', default: false },
  },
});
const FPS = 10;
const every = Number(values.every);
if (!(Number.isInteger(every) && every >= 1)) throw new Error(`--every must be a whole number >= 1; got ${values.every}`);
if (!existsSync(join(values.data, 'cameras.json'))) throw new Error(`--data ${values.data}: no cameras.json there (expected the layout of roadtrack-dev)`);
const dwellS = Math.max(Number(values['dwell-s']), (3 * every) / FPS);

const t0 = performance.now();
const { cameras, sequences } = readRoadtrack(values.data);
const loadS = (performance.now() - t0) / 1000;

const rule: { seq: RoadSequence; flagged: FlaggedBoxes[] }[] = [];
const base: { seq: RoadSequence; flagged: FlaggedBoxes[] }[] = [];
let ruleS = 0, samples = 0;
for (const seq of sequences) {
  const cam = cameras[seq.camera]!;
  const [w, h] = cam.image_size;
  const zone = {
    id: 'road', type: 'no_parking', polygon: [[0, 0], [w, 0], [w, h], [0, h], [0, 0]], dwell_s: dwellS,
    ...(values['max-speed-kmh'] ? { max_speed_kmh: Number(values['max-speed-kmh']) } : {}),
  };
  const scene = { zones: [withDefaults(zone)], imageSize: cam.image_size, homography: values.homography ? cam.homography : undefined };
  const t1 = performance.now();
  const vs = replayDetections(seq.dets, scene, FPS, every);
  ruleS += (performance.now() - t1) / 1000;
  if (Number.isFinite(seq.dets.first)) samples += Math.floor((seq.dets.last - seq.dets.first) / every) + 1;
  rule.push({ seq, flagged: vs.map((v) => v.boxes) });
  base.push({ seq, flagged: iouBaseline(seq.dets, { windowFrames: dwellS * FPS, every, fps: FPS }) });
}

const sampled = (seq: RoadSequence, frame: number): boolean => (frame - seq.dets.first) % every === 0;
if (values['by-camera']) {
  for (const id of Object.keys(cameras)) {
    const r = scoreProtocol(rule.filter((x) => x.seq.camera === id), sampled);
    const b = scoreProtocol(base.filter((x) => x.seq.camera === id), sampled);
    process.stderr.write(`${id}: gridwatch ${JSON.stringify(r)}\n${id}: baseline ${JSON.stringify(b)}\n`);
  }
}
const score = scoreProtocol(rule, sampled);
const baseline = scoreProtocol(base, sampled);
console.log(JSON.stringify({
  data: values.data,
  sequences: sequences.length,
  homography: values.homography,
  every,
  dwell_s: dwellS,
  ...score,
  samples_per_s: Math.round(samples / ruleS),
  load_s: Math.round(loadS * 10) / 10,
  baseline,
  f1_vs_baseline: Math.round((score.f1 / (baseline.f1 || 1)) * 1000) / 1000,
}));

/** The zone as a city config would hold it: the schema's defaults, and no minimum box size (these vehicles are 8–35 px). */
function withDefaults(z: Record<string, unknown>): ZoneT {
  return Value.Default(Zone, { min_box_px: 0, ...z }) as ZoneT;
}
