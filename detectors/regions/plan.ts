/**
 * Where the detector looks in a sample: the whole frame scaled down (as before), and crops of
 * the frame at full resolution, each scaled so that the objects it is meant for reach the size
 * the model finds well.
 */

export type RegionsMode = 'whole' | 'zones' | 'auto';

/** A rectangle in frame pixels. */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Crop extends Rect {
  why: 'whole' | 'zone' | 'change' | 'track';
  /** Model-input pixels per frame pixel (≥ 1 for crops; the whole frame is scaled down). */
  scale: number;
}

/** A camera's region settings, in the frame's pixels. */
export interface RegionSettings {
  mode: RegionsMode;
  /** Crops per sample besides the whole frame. */
  maxCrops: number;
  /** Longer side, in frame pixels, of the smallest objects zone tiles are cut for. */
  minObjectPx: number;
  /** Bounding boxes of the camera's zones, in frame pixels. */
  zones: Rect[];
  /** Least score of a vehicle found in a crop; the whole frame keeps the model's threshold. */
  cropVehicleMinScore: number;
  /** Whether a crop that shows nothing where it should asks the second-opinion model too, when there is one (default: yes). */
  secondOpinion?: boolean;
}

/**
 * The size (longer side, model-input pixels) from which the models find objects well; crops are
 * scaled up to bring their objects to it. Pasted into real backgrounds and run as they are
 * (`npm run bench -- small-objects --size-sweep`), NanoDet-g 416 finds 46% of the objects at 16 px,
 * 73% at 24, 84% at 32, 88% at 40, 91% at 48 and 95% at 64. 56 rather than 40, on a dome camera's
 * traffic (`bench dome-traffic`): NanoDet-g recall 0.81 → 0.86 (12–24 px 0.78 → 0.85), false vehicle
 * boxes 0.56 → 0.36 per 10 frames, 12.4 → 13.0 model runs a frame; YOLOv5s 0.92 → 0.93, 5.8 → 3.8.
 * Elsewhere about even: shrunk-footage within 3 of 469 people, small-objects seeds 1–3 NanoDet-g
 * within ±0.08 a band either way, YOLOv5s 0–0.06 lower a band (24–48 px 0.70–0.725 still).
 */
export const WELL_FOUND_PX = 56;
/** Upscaling further only blurs: a 12 px object at 3× is 36 px of interpolated pixels. */
export const MAX_UPSCALE = 3;
/** Share of a zone tile's side that neighbouring tiles overlap, so an object cut by one tile's edge is whole in the next. */
export const TILE_OVERLAP = 0.25;

const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));

/** A square crop of side `side` centred on (cx, cy), moved inside the frame. */
export function square(cx: number, cy: number, side: number, width: number, height: number): Rect {
  const s = Math.round(Math.min(side, width, height));
  return { x: Math.round(clamp(cx - s / 2, 0, width - s)), y: Math.round(clamp(cy - s / 2, 0, height - s)), w: s, h: s };
}

export const overlaps = (a: Rect, b: Rect): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** Whether `r`, grown by `margin` on every side, lies inside `outer`. */
export const contains = (outer: Rect, r: Rect, margin = 0): boolean =>
  r.x - margin >= outer.x && r.y - margin >= outer.y && r.x + r.w + margin <= outer.x + outer.w && r.y + r.h + margin <= outer.y + outer.h;

/** Square tiles of side `side` covering `r` (inside the frame), overlapping by TILE_OVERLAP. */
export function tiles(r: Rect, side: number, width: number, height: number): Rect[] {
  const s = Math.round(Math.min(side, width, height));
  const axis = (start: number, len: number, frame: number): number[] => {
    const lo = clamp(start, 0, frame), hi = clamp(start + len, 0, frame);
    if (hi - lo <= s) return [clamp(Math.round((lo + hi) / 2 - s / 2), 0, frame - s)];
    const step = s * (1 - TILE_OVERLAP);
    const n = Math.ceil((hi - lo - s) / step) + 1;
    const pitch = (hi - lo - s) / (n - 1);
    return Array.from({ length: n }, (_, i) => Math.round(lo + i * pitch));
  };
  const out: Rect[] = [];
  for (const y of axis(r.y, r.h, height)) for (const x of axis(r.x, r.w, width)) out.push({ x, y, w: s, h: s });
  return out;
}

/** A change region an earlier sample's crop budget left without a crop, and how many samples it has waited. */
export interface DeferredRegion extends Rect {
  age: number;
}

/** Samples a change region may wait for a crop before it is given up. */
export const MAX_DEFERRED_SAMPLES = 3;

/** A region to crop: `age` is how many samples a deferred change has waited (0 for the others). */
interface Region { r: Rect; why: 'track' | 'change'; scale: number; side: number; deferred: boolean; age: number }

/**
 * Tracked objects, changes and deferred changes that need a crop, smallest objects first. Where
 * the camera has zones, only those overlapping one: every rule looks inside its zone, and an
 * object held outside them (a car parked in the background) would take a crop every sample.
 * Small-objects seeds 11–13 (120 samples), 24–48 px: 0.70 / 0.69 / 0.73 → 0.71 / 0.72 / 0.75.
 */
function cropRegions(p: PlanInput, wholeScale: number): Region[] {
  const { width, height, inputSize } = p;
  const regions: Region[] = [];
  for (const [list, why, deferred] of [[p.tracked, 'track', false], [p.changes, 'change', false], [p.deferred ?? [], 'change', true]] as const) {
    for (const r of list) {
      if (p.settings.zones.length && !p.settings.zones.some((z) => overlaps(z, r))) continue;
      const size = Math.max(r.w, r.h, 1);
      // Objects the whole frame already shows at a good size need no crop.
      if (size * wholeScale >= WELL_FOUND_PX * 1.5) continue;
      const scale = clamp(WELL_FOUND_PX / size, 1, MAX_UPSCALE);
      regions.push({ r, why, scale, side: Math.min(inputSize / scale, width, height), deferred, age: deferred ? (r as DeferredRegion).age : 0 });
    }
  }
  return regions.sort((a, b) => b.scale - a.scale);
}

/**
 * Crops around tracked objects and changes: smallest objects first, each crop placed to hold as
 * many other regions as fit in it at its scale (a larger object in a crop scaled for a smaller
 * one is seen all the better, as long as it fits), then crops holding more regions before others.
 */
function clusterCrops(p: PlanInput, regions: Region[]): Crop[] {
  const { width, height, inputSize, settings } = p;
  const done = new Uint8Array(regions.length);
  const out: { crop: Crop; members: number; waited: number }[] = [];
  for (let i = 0; i < regions.length; i++) {
    if (done[i]) continue;
    const seed = regions[i]!;
    // A region larger than one crop at its scale (several objects, or one near and large): tiles
    // over it at the scale its smallest objects would need.
    const margin = Math.max(seed.r.w, seed.r.h) * 0.25;
    if (Math.max(seed.r.w, seed.r.h) + 2 * margin > seed.side) {
      done[i] = 1;
      for (const t of tiles(seed.r, inputSize / clamp(WELL_FOUND_PX / settings.minObjectPx, 1, MAX_UPSCALE), width, height)) out.push({ crop: { ...t, why: seed.why, scale: inputSize / t.w }, members: 1, waited: seed.deferred ? 1 : 0 });
      continue;
    }
    let x0 = seed.r.x - margin, y0 = seed.r.y - margin, x1 = seed.r.x + seed.r.w + margin, y1 = seed.r.y + seed.r.h + margin;
    let members = 1;
    let waited = seed.deferred ? 1 : 0;
    done[i] = 1;
    for (let j = i + 1; j < regions.length; j++) {
      if (done[j]) continue;
      const r = regions[j]!.r;
      const m = Math.max(r.w, r.h) * 0.25;
      const nx0 = Math.min(x0, r.x - m), ny0 = Math.min(y0, r.y - m), nx1 = Math.max(x1, r.x + r.w + m), ny1 = Math.max(y1, r.y + r.h + m);
      if (nx1 - nx0 > seed.side || ny1 - ny0 > seed.side) continue;
      x0 = nx0; y0 = ny0; x1 = nx1; y1 = ny1;
      done[j] = 1;
      members++;
      if (regions[j]!.deferred) waited++;
    }
    const sq = square((x0 + x1) / 2, (y0 + y1) / 2, seed.side, width, height);
    out.push({ crop: { ...sq, why: seed.why, scale: inputSize / sq.w }, members, waited });
  }
  // Crops for regions that waited first (an earlier sample's budget left them out), then those
  // holding more regions; stable: among equals, the smaller objects' first.
  return out.map((c, k) => ({ ...c, k })).sort((a, b) => b.waited - a.waited || b.members - a.members || a.k - b.k).map((c) => c.crop);
}

export interface PlanInput {
  width: number;
  height: number;
  /** The model's input side. */
  inputSize: number;
  settings: RegionSettings;
  /** Where the picture changed since the camera's last sample (frame pixels). */
  changes: readonly Rect[];
  /** Objects seen at the camera's last inferred sample (frame pixels). */
  tracked: readonly Rect[];
  /** Which zone tile to start from: zones with more tiles than the budget are covered over several samples. */
  tileCursor: number;
  /** Change regions earlier samples' budgets left without a crop (`left` of their plans); they go first. */
  deferred?: readonly DeferredRegion[];
}

/**
 * The crops of one sample: the whole frame first; in `auto`, one crop around each tracked object
 * and each change in a zone (smallest objects first, as they gain most), each scaled to bring its
 * object to WELL_FOUND_PX; then, in `zones` and `auto`, the zones' tiles at the scale `minObjectPx` needs,
 * from `tileCursor` on, while the budget lasts. A region already inside a chosen crop at a
 * scale at least 0.75 of its own gets no crop of its own.
 */
export function planCrops(p: PlanInput): { crops: Crop[]; zoneTiles: number; tilesVisited: number; left: DeferredRegion[] } {
  const { width, height, inputSize, settings } = p;
  const whole: Crop = { x: 0, y: 0, w: width, h: height, why: 'whole', scale: inputSize / Math.max(width, height) };
  if (settings.mode === 'whole' || settings.maxCrops <= 0) return { crops: [whole], zoneTiles: 0, tilesVisited: 0, left: [] };
  const crops: Crop[] = [whole];
  const budget = settings.maxCrops;
  const covered = (r: Rect, scale: number, margin: number): boolean => crops.some((c) => c.why !== 'whole' && c.scale >= scale * 0.75 && contains(c, r, margin));
  const add = (c: Crop): void => { if (crops.length <= budget) crops.push(c); };

  let changes: Region[] = [];
  if (settings.mode === 'auto') {
    const regions = cropRegions(p, whole.scale);
    for (const c of clusterCrops(p, regions)) add(c);
    changes = regions.filter((g) => g.why === 'change');
  }

  const zoneScale = clamp(WELL_FOUND_PX / settings.minObjectPx, 1, MAX_UPSCALE);
  const zoneTiles = settings.zones.flatMap((z) => tiles(z, inputSize / zoneScale, width, height));
  let i = 0;
  for (; i < zoneTiles.length && crops.length <= budget; i++) {
    const t = zoneTiles[(p.tileCursor + i) % zoneTiles.length]!;
    if (!covered(t, inputSize / t.w, 0)) add({ ...t, why: 'zone', scale: inputSize / t.w });
  }
  // Changes no crop took, for the camera's next samples (RegionJob.deferred).
  return { crops, zoneTiles: zoneTiles.length, tilesVisited: i, left: changes.filter((g) => !covered(g.r, g.scale, 0)).map((g) => ({ x: g.r.x, y: g.r.y, w: g.r.w, h: g.r.h, age: g.age })) };
}
