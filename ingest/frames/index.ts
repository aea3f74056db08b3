import { Worker } from 'node:worker_threads';
import type { FromIo, ToIo } from './protocol.ts';

export interface DecoderIoHandlers {
  /** Each whole frame, in the order ffmpeg wrote them. */
  onFrame: (rgb: Uint8Array) => void;
  /** The output socket is connected: frames can come. */
  onConnected?: () => void;
  /** One write() has gone into the input socket whole. */
  onWritten?: () => void;
  /** A socket failed or closed; nothing more is written or read. `connected`: the output had been. */
  onError: (message: string, connected: boolean) => void;
}

const IO_URL = new URL('./io-worker.mjs', import.meta.url);

/**
 * The keyframe decoders' input and output, on a thread of its own (io.worker.ts), one for the
 * process: a busy main thread no longer holds ffmpeg back, and frames arrive whole, one message
 * each. The thread does not keep the process alive.
 */
class DecoderIo {
  #worker: Worker | undefined;
  readonly #handlers = new Map<number, DecoderIoHandlers>();
  #nextId = 1;

  /** Connects to a decoder's sockets (ffmpeg listens on both); returns a handle for write() and close(). */
  open(inputPath: string, outputPath: string, frameBytes: number, connectWithinMs: number, handlers: DecoderIoHandlers): number {
    const id = this.#nextId++;
    this.#handlers.set(id, handlers);
    this.#post({ type: 'open', id, inputPath, outputPath, frameBytes, connectWithinMs });
    return id;
  }

  /** Writes to the decoder's input, in order; the bytes are copied. */
  write(id: number, ...data: Uint8Array[]): void {
    if (this.#handlers.has(id)) this.#post({ type: 'write', id, data });
  }

  close(id: number): void {
    if (!this.#handlers.delete(id)) return;
    this.#post({ type: 'close', id });
  }

  /**
   * Starts the thread now rather than at the first decode: loading it takes about 0.4 s here,
   * and more on a loaded machine, which a node's first samples (or a node taking cameras over)
   * would otherwise wait for.
   */
  warm(): void {
    this.#thread();
  }

  #post(m: ToIo): void {
    this.#thread().postMessage(m);
  }

  #thread(): Worker {
    if (!this.#worker) {
      const w = new Worker(IO_URL);
      w.on('message', (r: FromIo) => this.#onMessage(r));
      // The thread died (it should not): every decoder fails, and restarts on its next keyframe.
      w.on('error', (err) => this.#lost(w, `decoder I/O thread failed: ${err.message}`));
      w.on('exit', (code) => this.#lost(w, `decoder I/O thread exited (${code})`));
      w.unref(); // after the listeners: a 'message' listener refs the thread again
      this.#worker = w;
    }
    return this.#worker;
  }

  #onMessage(r: FromIo): void {
    const h = this.#handlers.get(r.id);
    if (!h) return; // closed meanwhile
    if (r.type === 'frame') h.onFrame(r.rgb);
    else if (r.type === 'connected') h.onConnected?.();
    else if (r.type === 'written') h.onWritten?.();
    else { this.#handlers.delete(r.id); h.onError(r.message, r.connected); }
  }

  #lost(w: Worker, message: string): void {
    if (this.#worker !== w) return;
    this.#worker = undefined;
    const all = [...this.#handlers.values()];
    this.#handlers.clear();
    for (const h of all) h.onError(message, false);
  }
}

/** The process's decoder I/O thread. */
export const decoderIo = new DecoderIo();
