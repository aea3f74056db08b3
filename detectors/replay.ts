import { readFileSync, statSync } from 'node:fs';
import { loadZones, VEHICLE_CLASSES, type ZoneT } from '../config/index.ts';
import { DetectionsFileError } from './errors.ts';
import { COCO_CLASSES } from './model/coco.ts';
import { DwellRules, type CameraGeometry, type Violation } from './rules/dwell.ts';
import { compileZones } from './rules/zones.ts';
import type { Detection } from './types.ts';

/** One violation as `gridwatch replay` prints it. */
export interface ReplayViolation {
  id: string;
  rule: string;
  zone: string;
  class: string;
  start_frame: number;
  end_frame: number;
  confirmed_frame: number;
  dwell_s: number;
  score: number;
  /** How many it counts: bicycles in the cluster, objects spilled out, people in the crowd or at the stall. */
  count?: number;
  /** With a city (`--city`): the category the rule raises and its codes. */
  category?: string;
  standard_code?: string;
  local_code?: string;
  boxes: [number, number, number, number, number][];
}

export interface ReplayOptions {
  detectionsFile: string;
  /** A zones file or a camera block: zones, and optionally image_size and homography. */
  zonesFile: string;
  fps: number;
  /** Class of lines without a class column (or with -1 there). */
  defaultClass?: string;
  /** Image size the zones must fit; the zones file's `image_size` when absent. */
  imageSize?: [number, number];
  /** Feed every Nth frame only, as a sampler that takes fps/N samples a second would (default 1). */
  every?: number;
  /** The category (and its codes) each rule's violations are filed under, from a city config. */
  codes?: ReplayCodes;
}

export type ReplayCodes = (rule: string) => { category: string; standard_code?: string; local_code?: string };

/** A detections file larger than this is refused: 256 MiB is some 37 hours of one camera at 10 fps and 5 boxes a frame. */
const MAX_MOT_BYTES = 256 << 20;

/** Detections by frame, as `readMot` returns them; `first` > `last` when there are none. */
export interface MotDetections {
  frames: Map<number, Detection[]>;
  first: number;
  last: number;
}

export interface ReplayScene {
  zones: ZoneT[];
  imageSize?: [number, number];
  homography?: CameraGeometry['homography'];
}

/**
 * Reads MOTChallenge text detections: `frame,id,left,top,width,height,conf[,class,...]`.
 * The id is not used (dwell follows positions), extra columns are ignored, the class is a COCO
 * index, and a line whose box is -1 marks a frame with nothing. Bad lines throw with file and line.
 */
export function readMot(file: string, defaultClass = 'car'): MotDetections {
  let text: string;
  try {
    const bytes = statSync(file).size;
    if (bytes > MAX_MOT_BYTES) throw new DetectionsFileError(file, 0, `${bytes} bytes is more than the ${MAX_MOT_BYTES} a detections file may hold`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof DetectionsFileError) throw err;
    throw new DetectionsFileError(file, 0, `cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const dflt = COCO_CLASSES.indexOf(defaultClass);
  if (dflt < 0) throw new DetectionsFileError(file, 0, `default class ${JSON.stringify(defaultClass)} is not a COCO class`);
  const frames = new Map<number, Detection[]>();
  let first = Infinity;
  let last = -Infinity;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const n = i + 1;
    const cols = line.split(/[,\s]+/);
    if (cols.length < 7) throw new DetectionsFileError(file, n, `expected frame,id,left,top,width,height,conf[,class]; got ${cols.length} column${cols.length === 1 ? '' : 's'}`);
    const v = cols.slice(0, 8).map(Number);
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new DetectionsFileError(file, n, `column ${bad + 1} (${['frame', 'id', 'left', 'top', 'width', 'height', 'conf', 'class'][bad]}) is not a number: ${JSON.stringify(cols[bad])}`);
    const [frame, , left, top, width, height, conf, cls] = v as [number, number, number, number, number, number, number, number | undefined];
    if (!Number.isInteger(frame) || frame < 0) throw new DetectionsFileError(file, n, `frame must be a whole number >= 0; got ${cols[0]}`);
    first = Math.min(first, frame);
    last = Math.max(last, frame);
    if (!frames.has(frame)) frames.set(frame, []);
    if (left === -1 && top === -1 && width === -1 && height === -1) continue; // a frame with nothing
    if (!(width > 0 && height > 0)) throw new DetectionsFileError(file, n, `width and height must be > 0; got ${cols[4]}, ${cols[5]}`);
    const classId = cls === undefined || cls === -1 ? dflt : cls;
    if (!Number.isInteger(classId) || classId < 0 || classId >= COCO_CLASSES.length) throw new DetectionsFileError(file, n, `class must be a COCO index 0..79; got ${cols[7]}`);
    frames.get(frame)!.push({ classId, label: COCO_CLASSES[classId]!, score: conf < 0 ? 1 : conf, box: [left, top, width, height] });
  }
  return { frames, first, last }; // a file with no lines: nothing was seen, first = Infinity
}

/** Runs the dwell rules over a detections file; returns every violation, in the order they ended. */
export function replay(opts: ReplayOptions): ReplayViolation[] {
  const scene = loadZones(opts.zonesFile);
  return replayDetections(readMot(opts.detectionsFile, opts.defaultClass), { ...scene, imageSize: opts.imageSize ?? scene.imageSize }, opts.fps, opts.every, opts.codes);
}

/**
 * The same rules the engine runs, over detections in memory. `boxes` hold the frames from the
 * confirmation on; `start_frame` is when the object stopped.
 */
export function replayDetections(dets: MotDetections, scene: ReplayScene, fps: number, every = 1, codes?: ReplayCodes): ReplayViolation[] {
  const rules = new DwellRules({ model: { name: 'replay', version: '1' }, keepHistory: true });
  rules.setZones('replay', compileZones('replay', scene.zones, COCO_CLASSES, scene.imageSize), { imageSize: scene.imageSize, homography: scene.homography });
  // Without a homography the parking rule fits its perspective plane on vehicle boxes: a replay
  // shows it the whole file first, as a camera that has run for a while would have seen them.
  if (!scene.homography) {
    const vehicles = new Set(scene.zones.filter((z) => z.type === 'no_parking').flatMap((z) => z.classes ?? VEHICLE_CLASSES));
    rules.calibrate('replay', [...dets.frames.values()].flatMap((ds) => ds.filter((d) => vehicles.has(d.label)).map((d) => d.box)));
  }
  const msPerFrame = 1000 / fps;
  const toFrame = (ms: number): number => Math.round(ms / msPerFrame);
  const out: ReplayViolation[] = [];
  const emit = (v: Violation): void => {
    if (v.state !== 'end') return;
    out.push({
      id: v.id, rule: v.rule, zone: v.zoneId, class: v.class,
      start_frame: toFrame(v.firstSeenMs), end_frame: toFrame(v.lastSeenMs), confirmed_frame: toFrame(v.confirmedMs),
      dwell_s: v.dwellS, score: v.score, ...(v.count !== null ? { count: v.count } : {}), ...codes?.(v.rule),
      boxes: (v.boxes ?? []).filter(([t]) => t >= v.confirmedMs).map(([t, l, tp, w, h]) => [toFrame(t), l, tp, w, h]),
    });
  };
  const empty: Detection[] = [];
  for (let f = dets.first; f <= dets.last; f += every) {
    for (const v of rules.observe('replay', f * msPerFrame, dets.frames.get(f) ?? empty)) emit(v);
  }
  for (const v of rules.flush()) emit(v);
  return out;
}
