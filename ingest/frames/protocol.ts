/** Messages between the keyframe decoders (main thread) and the decoder I/O thread. */
export type ToIo =
  /**
   * Connect to a decoder's input and output sockets (ffmpeg listens on both), write what `write`
   * sends to the input, and read frames of `frameBytes` from the output.
   */
  | { type: 'open'; id: number; inputPath: string; outputPath: string; frameBytes: number; connectWithinMs: number }
  /** Keyframes for the decoder's input, in order (copied, not transferred: the decoder keeps the last). */
  | { type: 'write'; id: number; data: Uint8Array[] }
  | { type: 'close'; id: number };

export type FromIo =
  /** The output socket is connected: frames can come. */
  | { type: 'connected'; id: number }
  /** A `write` has gone into the input socket whole: ffmpeg has (nearly) all of it. */
  | { type: 'written'; id: number }
  /** One whole frame, its buffer transferred. */
  | { type: 'frame'; id: number; rgb: Uint8Array }
  /** A socket could not be opened, or failed; `connected` says whether the output had been. */
  | { type: 'error'; id: number; message: string; connected: boolean };
