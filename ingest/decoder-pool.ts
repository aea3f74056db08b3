import { KeyframeDecoder, warmDecoders, type DecoderOptions, type DecoderStatus } from './decode.ts';
import type { VideoCodec } from './rtsp/depacketizer.ts';

const SPILL_AT = 3;
/** Keyframes with less time than this before they are late take the express decoder. */
const EXPRESS_SLACK_MS = 100;

export interface FrameSize {
  width: number;
  height: number;
}

/**
 * A few long-lived decoders per codec and output size (the default size, and each camera's own
 * when it is decoded at its resolution for region detection), started as the load needs them, and one express decoder
 * per codec for keyframes about to be late: it is nearly always idle, so such a keyframe is
 * decoded at once instead of waiting behind others in a busy decoder's pipe.
 */
export class DecoderPool {
  readonly #decoders: KeyframeDecoder[] = [];
  /** Per codec and output size. */
  readonly #express = new Map<string, KeyframeDecoder>();

  readonly #opts: DecoderOptions & { perCodec?: number };

  constructor(opts: DecoderOptions & { perCodec?: number }) {
    this.#opts = opts;
  }

  /** Readies what the first decode would otherwise wait for (see warmDecoders). */
  warm(): void {
    warmDecoders();
  }

  /**
   * `slackMs`: how long the frame may take before it is late; pushes are spent only when needed.
   * Keyframes go to the first decoder of their codec until it has a few in flight, and only then
   * to the next: a steady stream into one ffmpeg rarely needs a push, and a busy one spills over.
   * A keyframe with less than EXPRESS_SLACK_MS left goes to the express decoder.
   */
  decode(codec: VideoCodec, annexB: Uint8Array, slackMs?: number, size?: FrameSize): Promise<Uint8Array> {
    const width = size?.width ?? this.#opts.width, height = size?.height ?? this.#opts.height;
    const opts = { ...this.#opts, width, height };
    if (slackMs !== undefined && slackMs < EXPRESS_SLACK_MS) {
      const key = `${codec}|${width}x${height}`;
      let d = this.#express.get(key);
      if (!d) this.#express.set(key, (d = new KeyframeDecoder(codec, opts)));
      if (d.inFlight < SPILL_AT) return d.decode(annexB, slackMs);
    }
    let best: KeyframeDecoder | undefined;
    let count = 0;
    for (const d of this.#decoders) {
      if (d.codec !== codec || d.width !== width || d.height !== height) continue;
      count++;
      if (d.inFlight < SPILL_AT) return d.decode(annexB, slackMs);
      if (!best || d.inFlight < best.inFlight) best = d;
    }
    if (!best || count < (this.#opts.perCodec ?? 1)) {
      best = new KeyframeDecoder(codec, opts);
      this.#decoders.push(best);
    }
    return best.decode(annexB, slackMs);
  }

  get width(): number { return this.#opts.width; }
  get height(): number { return this.#opts.height; }

  status(): DecoderStatus[] {
    const express = new Set(this.#express.values());
    return this.#all().map((d) => ({ ...d.status(), express: express.has(d) }));
  }

  pids(): number[] {
    return this.#all().flatMap((d) => d.pids());
  }

  stop(): void {
    for (const d of this.#all()) d.stop();
  }

  #all(): KeyframeDecoder[] {
    return [...this.#decoders, ...this.#express.values()];
  }
}
