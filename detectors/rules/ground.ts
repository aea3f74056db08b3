import { applyHomography, solveHomography } from '../../domain/index.ts';

/** A box's ground contact point in metres, with the variance of that point from box jitter. */
export interface GroundPoint {
  x: number;
  y: number;
  /** 2×2 measurement covariance, row-major [xx, xy, yx, yy], in m². */
  r: [number, number, number, number];
}

/**
 * Maps a box's bottom-centre to a plane in metres. With a camera homography the plane is the
 * road; without one it is a plane fitted from the vehicles themselves (see `PerspectiveFit`).
 */
export interface GroundModel {
  readonly kind: 'homography' | 'perspective';
  /** Null while the model cannot place the point yet (a perspective fit still learning). */
  project(box: readonly number[]): GroundPoint | null;
  /** Feeds one vehicle box seen in the camera (the perspective fit learns from them). */
  learn(box: readonly number[]): void;
}

/**
 * Pixel jitter of a box's bottom-centre: half a pixel plus a share of the box's size. Measured on
 * the stopped vehicles of RoadTrack's development split: median 0.4–0.5 px for boxes under 35 px.
 */
const JITTER_PX = 0.5;
const JITTER_SHARE = 0.03;

function jacobianCovariance(map: (x: number, y: number) => [number, number], x: number, y: number, sigmaPx: number): GroundPoint {
  const p = map(x, y);
  const px = map(x + 1, y);
  const py = map(x, y + 1);
  const a = px[0] - p[0], c = px[1] - p[1];
  const b = py[0] - p[0], d = py[1] - p[1];
  const s2 = sigmaPx * sigmaPx;
  // R = J · diag(s², s²) · Jᵀ with J = [[a, b], [c, d]].
  const xx = s2 * (a * a + b * b), xy = s2 * (a * c + b * d), yy = s2 * (c * c + d * d);
  return { x: p[0], y: p[1], r: [xx, xy, xy, yy] };
}

const sigmaOf = (box: readonly number[]): number => JITTER_PX + JITTER_SHARE * Math.sqrt(box[2]! * box[3]!);

/** Metres per degree of latitude and of longitude at a latitude (equirectangular, exact enough over a camera's view). */
function metresPerDegree(lat: number): [number, number] {
  return [110_540, 111_320 * Math.cos((lat * Math.PI) / 180)];
}

/** The camera's 4-point homography (image px → lat/lon), turned into image px → local metres. */
export function homographyGround(h: { image: readonly (readonly [number, number])[]; ground: readonly (readonly [number, number])[] }): GroundModel {
  const [lat0, lon0] = h.ground[0]!;
  const [mLat, mLon] = metresPerDegree(lat0!);
  const metres = h.ground.map(([lat, lon]) => [(lon! - lon0!) * mLon, (lat! - lat0!) * mLat] as [number, number]);
  const m = solveHomography(h.image, metres);
  const map = (x: number, y: number): [number, number] => applyHomography(m, x, y);
  return {
    kind: 'homography',
    project: (box) => jacobianCovariance(map, box[0]! + box[2]! / 2, box[1]! + box[3]!, sigmaOf(box)),
    learn: () => {},
  };
}

/** Width of a typical car in metres: the scale of the perspective fit. */
const CAR_WIDTH_M = 1.8;
/**
 * Focal length as a multiple of the image width that the perspective fit assumes (a horizontal
 * field of view of about 40°, a dome camera at moderate zoom). It sets how much vertical image
 * motion is foreshortened against sideways motion; at other zooms the speeds it gives are off by
 * the ratio of the focal lengths, which a `homography` removes.
 */
export const ASSUMED_FOCAL_PER_WIDTH = 1.4;
const FIT_MIN_BOXES = 200;

/**
 * Without a homography: on a flat road a vehicle's box width grows linearly with the row of its
 * bottom edge, w = a·(y − y0), where y0 is the horizon. Fitting that line on the vehicles the
 * camera sees gives a perspective plane: sideways, `w / CAR_WIDTH_M` pixels per metre; along the
 * road, that times `(y − y0) / f` (foreshortening). Motion is then judged in (approximate) metres
 * wherever the object is in the frame, instead of in pixels or box sizes.
 */
export class PerspectiveFit implements GroundModel {
  readonly kind = 'perspective' as const;
  #n = 0;
  #sy = 0;
  #sw = 0;
  #syy = 0;
  #syw = 0;
  #line: { a: number; y0: number } | null = null;
  readonly #focal: number;
  readonly #cx: number;

  constructor(imageSize: readonly [number, number]) {
    this.#focal = ASSUMED_FOCAL_PER_WIDTH * imageSize[0];
    this.#cx = imageSize[0] / 2;
  }

  learn(box: readonly number[]): void {
    const y = box[1]! + box[3]!;
    const w = box[2]!;
    this.#n++;
    this.#sy += y;
    this.#sw += w;
    this.#syy += y * y;
    this.#syw += y * w;
    if (this.#n >= FIT_MIN_BOXES && (this.#line === null || this.#n % 50 === 0)) this.#refit();
  }

  #refit(): void {
    const n = this.#n;
    const vy = this.#syy / n - (this.#sy / n) ** 2;
    if (vy <= 1) return;
    const a = (this.#syw / n - (this.#sy / n) * (this.#sw / n)) / vy;
    if (!(a > 0)) return;
    const y0 = this.#sy / n - this.#sw / n / a;
    this.#line = { a, y0 };
  }

  project(box: readonly number[]): GroundPoint | null {
    // Until the fit has enough boxes: the horizon at the top row, the scale from the boxes so far.
    const line = this.#line ?? (this.#sy > 0 ? { a: this.#sw / this.#sy, y0: 0 } : null);
    if (!line) return null;
    const x = box[0]! + box[2]! / 2;
    const y = box[1]! + box[3]!;
    // Below the fitted horizon only; a point at or above it has no place on the road.
    if (y - line.y0 < 1) return null;
    // Sideways: w/CAR_WIDTH_M px per metre at row v. Along the road: the depth f·W/w(v).
    const map = (u: number, v: number): [number, number] => {
      const w = line.a * Math.max(1e-3, v - line.y0);
      return [((u - this.#cx) * CAR_WIDTH_M) / w, (this.#focal * CAR_WIDTH_M) / w];
    };
    return jacobianCovariance(map, x, y, sigmaOf(box));
  }

  /** The fit, for snapshots. */
  state(): number[] {
    return [this.#n, this.#sy, this.#sw, this.#syy, this.#syw];
  }

  restore(s: readonly number[]): void {
    if (s.length !== 5 || !s.every(Number.isFinite)) return;
    [this.#n, this.#sy, this.#sw, this.#syy, this.#syw] = s as [number, number, number, number, number];
    if (this.#n >= FIT_MIN_BOXES) this.#refit();
  }
}
