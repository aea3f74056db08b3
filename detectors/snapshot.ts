import sharp from 'sharp';

/** The latest sampled frame of a camera as a small JPEG (for the console's camera wall and zone editor). */
export interface FrameSnapshot {
  readonly cameraId: string;
  /** capture time of the sample, ms since the epoch */
  readonly captureTimeMs: number;
  readonly jpeg: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface SnapshotCounts {
  /** JPEGs made */
  made: number;
  /** samples skipped because the camera's previous JPEG was still being made */
  skipped: number;
  errors: number;
}

/**
 * Makes a small JPEG of each camera's sample, off the main thread: sharp resizes and encodes in
 * libuv's thread pool, the main thread only hands over the pixels. At most one JPEG per camera is
 * in the making; a sample that comes while one is (a slow pool, a burst) is skipped and counted,
 * so a backlog never builds. The pixels are only read, so the detectors and the evidence keep
 * using the same buffer.
 */
export class FrameSnapshots {
  readonly #widthPx: number;
  readonly #quality: number;
  readonly #onSnapshot: (s: FrameSnapshot) => void;
  readonly #busy = new Set<string>();
  readonly counts: SnapshotCounts = { made: 0, skipped: 0, errors: 0 };

  constructor(opts: { widthPx: number; quality?: number; onSnapshot: (s: FrameSnapshot) => void }) {
    this.#widthPx = opts.widthPx;
    this.#quality = opts.quality ?? 70;
    this.#onSnapshot = opts.onSnapshot;
  }

  /** Offers one sample's pixels (RGB, `width`×`height`); returns false when it was skipped. */
  offer(cameraId: string, captureTimeMs: number, width: number, height: number, rgb: Uint8Array): boolean {
    if (this.#busy.has(cameraId)) {
      this.counts.skipped++;
      return false;
    }
    this.#busy.add(cameraId);
    const w = Math.min(width, this.#widthPx);
    const h = Math.max(1, Math.round((height * w) / width));
    const input = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
    sharp(input, { raw: { width, height, channels: 3 } }).resize(w, h).jpeg({ quality: this.#quality }).toBuffer()
      .then((jpeg) => {
        this.counts.made++;
        this.#busy.delete(cameraId);
        this.#onSnapshot({ cameraId, captureTimeMs, jpeg: new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength), width: w, height: h });
      })
      .catch(() => {
        this.counts.errors++;
        this.#busy.delete(cameraId);
      });
    return true;
  }
}
