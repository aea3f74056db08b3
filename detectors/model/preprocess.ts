/** A decoded frame: packed RGB, 3 bytes per pixel, row-major. */
export interface RgbFrame {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface Normalisation {
  /** Channel order of the model's input planes. */
  order: 'rgb' | 'bgr';
  /** Per-plane mean and std in 0..255 units, in the model's channel order: (v - mean) / std. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Raw pixel value of letterbox padding. */
  pad: number;
}

/** Maps model-input pixels back to frame pixels: frame = (input - pad) / scale. */
export interface InputTransform {
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
}

interface Plan {
  key: string;
  transform: InputTransform;
  cw: number;
  ch: number;
  x0: Int32Array;
  x1: Int32Array;
  fx: Float32Array;
  y0: Int32Array;
  y1: Int32Array;
  fy: Float32Array;
}

/**
 * Bilinear resize (letterbox or stretch) and normalisation into a preallocated NCHW float
 * plane set, in one pass. The sampling tables are built once per frame size.
 */
export class Preprocessor {
  /** The model input, pixels. */
  readonly width: number;
  readonly height: number;
  readonly mode: 'letterbox' | 'stretch';
  readonly norm: Normalisation;
  readonly input: Float32Array;
  #plan: Plan | undefined;

  constructor(width: number, height: number, mode: 'letterbox' | 'stretch', norm: Normalisation) {
    this.width = width;
    this.height = height;
    this.mode = mode;
    this.norm = norm;
    this.input = new Float32Array(3 * width * height);
  }

  #planFor(w: number, h: number): Plan {
    const key = `${w}x${h}`;
    if (this.#plan?.key === key) return this.#plan;
    const { width: iw, height: ih } = this;
    let scaleX = iw / w;
    let scaleY = ih / h;
    if (this.mode === 'letterbox') scaleX = scaleY = Math.min(scaleX, scaleY);
    const cw = Math.min(iw, Math.round(w * scaleX));
    const ch = Math.min(ih, Math.round(h * scaleY));
    const padX = Math.floor((iw - cw) / 2);
    const padY = Math.floor((ih - ch) / 2);
    const axis = (n: number, src: number, scale: number): [Int32Array, Int32Array, Float32Array] => {
      const a = new Int32Array(n);
      const b = new Int32Array(n);
      const f = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = Math.min(src - 1, Math.max(0, (i + 0.5) / scale - 0.5));
        a[i] = Math.floor(v);
        b[i] = Math.min(src - 1, a[i]! + 1);
        f[i] = v - a[i]!;
      }
      return [a, b, f];
    };
    const [x0, x1, fx] = axis(cw, w, scaleX);
    const [y0, y1, fy] = axis(ch, h, scaleY);
    this.#plan = { key, transform: { scaleX, scaleY, padX, padY }, cw, ch, x0, x1, fx, y0, y1, fy };
    return this.#plan;
  }

  /** Fills `this.input` from the frame; returns how to map boxes back. */
  run(frame: RgbFrame): InputTransform {
    const { width: w, height: h, rgb } = frame;
    const p = this.#planFor(w, h);
    const s = this.width;
    const plane = s * this.height;
    const out = this.input;
    const bgr = this.norm.order === 'bgr';
    // Channel c of the model reads source channel src[c].
    const src0 = bgr ? 2 : 0;
    const src2 = bgr ? 0 : 2;
    const [m0, m1, m2] = this.norm.mean;
    const i0 = 1 / this.norm.std[0];
    const i1 = 1 / this.norm.std[1];
    const i2 = 1 / this.norm.std[2];
    if (p.cw < s || p.ch < this.height) {
      out.fill((this.norm.pad - m0) * i0, 0, plane);
      out.fill((this.norm.pad - m1) * i1, plane, 2 * plane);
      out.fill((this.norm.pad - m2) * i2, 2 * plane, 3 * plane);
    }
    const stride = w * 3;
    for (let oy = 0; oy < p.ch; oy++) {
      const r0 = p.y0[oy]! * stride;
      const r1 = p.y1[oy]! * stride;
      const fy = p.fy[oy]!;
      let o = (oy + p.transform.padY) * s + p.transform.padX;
      for (let ox = 0; ox < p.cw; ox++, o++) {
        const c0 = p.x0[ox]! * 3;
        const c1 = p.x1[ox]! * 3;
        const fx = p.fx[ox]!;
        const a = r0 + c0, b = r0 + c1, c = r1 + c0, d = r1 + c1;
        const wa = (1 - fx) * (1 - fy), wb = fx * (1 - fy), wc = (1 - fx) * fy, wd = fx * fy;
        const v0 = rgb[a + src0]! * wa + rgb[b + src0]! * wb + rgb[c + src0]! * wc + rgb[d + src0]! * wd;
        const v1 = rgb[a + 1]! * wa + rgb[b + 1]! * wb + rgb[c + 1]! * wc + rgb[d + 1]! * wd;
        const v2 = rgb[a + src2]! * wa + rgb[b + src2]! * wb + rgb[c + src2]! * wc + rgb[d + src2]! * wd;
        out[o] = (v0 - m0) * i0;
        out[o + plane] = (v1 - m1) * i1;
        out[o + 2 * plane] = (v2 - m2) * i2;
      }
    }
    return p.transform;
  }
}
