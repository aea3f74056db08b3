import sharp from 'sharp';
import { TokenBucket } from '../core/index.ts';

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
  /** samples not made into a JPEG because nobody is watching the camera and its last one is younger than the period, or the node's JPEGs a second are spent */
  rested: number;
  errors: number;
}

/**
 * Makes a small JPEG of a camera's sample, off the main thread: sharp resizes and encodes in
 * libuv's thread pool, the main thread only hands over the pixels. A camera gets one at most
 * every `periodMs` of capture time (longer on a node of many cameras: no more than `maxPerS` a
 * second over all of them, see #restMs), and one from every sample while `watched` says an operator
 * is looking at it (its wall tile or zone editor asked for the frame lately): on a node of 1,000
 * cameras, a JPEG of every sample took 0.16–0.19 cores (libvips' threads) for pictures nobody saw.
 * At most one JPEG per camera is in the making; a sample that comes while one is (a slow pool,
 * a burst) is skipped and counted, so a backlog never builds. The pixels are only read, so the
 * detectors and the evidence keep using the same buffer.
 */
export class FrameSnapshots {
  readonly #widthPx: number;
  readonly #quality: number;
  readonly #onSnapshot: (s: FrameSnapshot) => void;
  readonly #periodMs: number;
  readonly #maxPerS: number;
  readonly #watched: (cameraId: string) => boolean;
  readonly #busy = new Set<string>();
  /** Capture time of each camera's last JPEG begun. */
  readonly #last = new Map<string, number>();
  /** When each camera last offered a sample (wall clock), and how many did within SEEN_MS. */
  readonly #seen = new Map<string, number>();
  #cameras = 0;
  #countedAt = -Infinity;
  readonly counts: SnapshotCounts = { made: 0, skipped: 0, rested: 0, errors: 0 };

  /** The JPEGs a second unwatched cameras share (see offer()). */
  readonly #budget: TokenBucket;

  /** `clock`: milliseconds for the JPEGs-a-second budget (performance.now; tests step it). */
  constructor(opts: { widthPx: number; quality?: number; periodMs?: number; maxPerS?: number; watched?: (cameraId: string) => boolean; onSnapshot: (s: FrameSnapshot) => void; clock?: () => number }) {
    this.#widthPx = opts.widthPx;
    this.#quality = opts.quality ?? 70;
    this.#periodMs = opts.periodMs ?? 0;
    this.#maxPerS = opts.maxPerS ?? Infinity;
    this.#watched = opts.watched ?? (() => false);
    this.#onSnapshot = opts.onSnapshot;
    this.#budget = new TokenBucket(this.#maxPerS, opts.clock);
  }

  /** Offers one sample's pixels (RGB, `width`×`height`); returns false when no JPEG is made of it. */
  offer(cameraId: string, captureTimeMs: number, width: number, height: number, rgb: Uint8Array): boolean {
    this.#see(cameraId);
    const last = this.#last.get(cameraId);
    const watched = this.#watched(cameraId);
    if (last !== undefined && captureTimeMs >= last && captureTimeMs - last < this.#restMs() && !watched) {
      this.counts.rested++;
      return false;
    }
    if (this.#busy.has(cameraId)) {
      this.counts.skipped++;
      return false;
    }
    // The rests above keep unwatched cameras at `maxPerS` JPEGs a second on average; the budget
    // holds it in a burst: at a start every camera's first sample wants its first picture, and
    // 1,000 of them in the first period took a third of a core from decoding and detection. Each
    // waits its turn now, so the wall fills over `cameras / maxPerS` seconds; a camera an operator
    // opens, in the zone editor or on the map, is watched and gets one from its next sample.
    if (!watched && !this.#budget.take()) {
      this.counts.rested++;
      return false;
    }
    this.#busy.add(cameraId);
    this.#last.set(cameraId, captureTimeMs);
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

  /**
   * How long an unwatched camera's JPEG rests: the period, stretched so that the cameras seen
   * (each once per rest) make no more than `maxPerS` JPEGs a second. A JPEG costs about as much
   * CPU as decoding the keyframe (4.4 ms for 640×360 to 480 px here): at 1,000 cameras and 30 s,
   * 33 a second were 0.15 cores a loaded node's decoders lacked. Every camera is still refreshed,
   * in turn, once per rest.
   */
  #restMs(): number {
    return Math.max(this.#periodMs, (1000 * this.#cameras) / this.#maxPerS);
  }

  /** Counts the cameras offering samples now (one that moved to another node drops out after SEEN_MS). */
  #see(cameraId: string): void {
    const now = Date.now();
    this.#seen.set(cameraId, now);
    if (now - this.#countedAt < RECOUNT_MS && this.#seen.size <= this.#cameras) return;
    for (const [id, at] of this.#seen) if (now - at > SEEN_MS) this.#seen.delete(id);
    this.#cameras = this.#seen.size;
    this.#countedAt = now;
  }
}

const SEEN_MS = 5 * 60_000, RECOUNT_MS = 10_000;
