const Q_HORIZON_S = 5;
const SPARSE_Q_S = 1;

/**
 * A constant-velocity Kalman filter on a plane: state [x, y, vx, vy], position measurements with a
 * full 2×2 covariance. Plain numbers in a Float64Array so that it persists as JSON and costs no
 * allocation per step.
 */
export class PlaneKalman {
  /** x, y, vx, vy. */
  readonly s = new Float64Array(4);
  /** 4×4 covariance, row-major. */
  readonly p = new Float64Array(16);
  /** White-acceleration spectral density, (m/s²)²·s. */
  readonly #q: number;

  constructor(x: number, y: number, r: readonly number[], opts: { q: number; speedSigma: number }) {
    this.#q = opts.q;
    this.s[0] = x;
    this.s[1] = y;
    this.p[0] = r[0]!; this.p[1] = r[1]!; this.p[4] = r[2]!; this.p[5] = r[3]!;
    this.p[10] = this.p[15] = opts.speedSigma ** 2;
  }

  /** Moves the state `dt` seconds ahead. */
  predict(dt: number): void {
    if (dt <= 0) return;
    const s = this.s, p = this.p;
    s[0]! += dt * s[2]!;
    s[1]! += dt * s[3]!;
    // P = F P Fᵀ + Q with F = [[I, dt·I], [0, I]].
    for (let i = 0; i < 4; i++) { // rows 0,1 += dt × rows 2,3
      p[i]! += dt * p[8 + i]!;
      p[4 + i]! += dt * p[12 + i]!;
    }
    for (let r = 0; r < 4; r++) { // cols 0,1 += dt × cols 2,3
      p[r * 4]! += dt * p[r * 4 + 2]!;
      p[r * 4 + 1]! += dt * p[r * 4 + 3]!;
    }
    // A gap of a few seconds is a vehicle the detector missed: its speed may have changed, and the
    // noise says so. Samples further apart are a sparsely sampled camera: then the filter judges
    // the average speed between sightings, which is what parking is about, and a vehicle found
    // where it was 10 s ago has stood there, not driven off and come back.
    const h = dt <= Q_HORIZON_S ? dt : SPARSE_Q_S;
    const q = this.#q, q11 = (q * h ** 3) / 3, q12 = (q * h * h) / 2, q22 = q * h;
    p[0]! += q11; p[5]! += q11; p[10]! += q22; p[15]! += q22;
    p[2]! += q12; p[8]! += q12; p[7]! += q12; p[13]! += q12;
  }

  /** Folds in a position measurement with covariance r [xx, xy, yx, yy]. */
  update(x: number, y: number, r: readonly number[]): void {
    const s = this.s, p = this.p;
    // S = H P Hᵀ + R (top-left 2×2 of P plus R); K = P Hᵀ S⁻¹ (first two columns of P times S⁻¹).
    const s00 = p[0]! + r[0]!, s01 = p[1]! + r[1]!, s10 = p[4]! + r[2]!, s11 = p[5]! + r[3]!;
    const det = s00 * s11 - s01 * s10;
    if (!(Math.abs(det) > 1e-12)) return;
    const i00 = s11 / det, i01 = -s01 / det, i10 = -s10 / det, i11 = s00 / det;
    const k = new Float64Array(8);
    for (let row = 0; row < 4; row++) {
      const a = p[row * 4]!, b = p[row * 4 + 1]!;
      k[row * 2] = a * i00 + b * i10;
      k[row * 2 + 1] = a * i01 + b * i11;
    }
    const ex = x - s[0]!, ey = y - s[1]!;
    for (let row = 0; row < 4; row++) s[row]! += k[row * 2]! * ex + k[row * 2 + 1]! * ey;
    // P = (I − K H) P: subtract K times the first two rows of P.
    const r0 = p.slice(0, 4), r1 = p.slice(4, 8);
    for (let row = 0; row < 4; row++) {
      for (let c = 0; c < 4; c++) p[row * 4 + c]! -= k[row * 2]! * r0[c]! + k[row * 2 + 1]! * r1[c]!;
    }
  }

  speed(): number {
    return Math.hypot(this.s[2]!, this.s[3]!);
  }

  /** Standard deviation of the speed estimate (both velocity axes together), m/s. */
  speedSigma(): number {
    return Math.sqrt(Math.max(0, this.p[10]!) + Math.max(0, this.p[15]!));
  }

  toJSON(): number[] {
    return [...this.s, ...this.p];
  }

  static fromJSON(v: readonly number[], opts: { q: number; speedSigma: number }): PlaneKalman | null {
    if (v.length !== 20 || !v.every(Number.isFinite)) return null;
    const k = new PlaneKalman(0, 0, [1, 0, 0, 1], opts);
    k.s.set(v.slice(0, 4));
    k.p.set(v.slice(4));
    return k;
  }
}
