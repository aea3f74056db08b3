import { Worker } from 'node:worker_threads';
import type { Counter, Logger } from '../../core/index.ts';
import type { CameraSample } from '../../domain/index.ts';
import { InferenceError } from '../errors.ts';
import type { DetectorOptions } from '../model/detector.ts';
import type { RegionJob } from '../regions/index.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const WORKER_URL = new URL('./detector-worker.mjs', import.meta.url);

/** A sample's outcome as its worker sends it back. */
export type WorkerResult = Extract<FromWorker, { type: 'result' }>;

export type WorkerState = 'booting' | 'warming' | 'idle' | 'busy' | 'down';

export interface WorkerStatus {
  id: number;
  state: WorkerState;
  /** Restarts within the restart window. */
  restarts: number;
  jobs: number;
}

export interface WorkersOptions {
  detector: DetectorOptions;
  /** The model for samples with region crops, when it is another one. */
  regionDetector?: DetectorOptions | undefined;
  /** Worker threads to keep. */
  count: number;
  warmupRuns: number;
  inferTimeoutMs: number;
  maxRestarts: number;
  restartWindowS: number;
  log: Logger;
  /** Counts restarts; null without a metrics registry. */
  restartsMetric: Counter | null;
  /** A sample came back inferred; its worker is idle already. */
  onResult: (sample: CameraSample, result: WorkerResult) => void;
  /** A sample handed to a worker could not be inferred (bad frame, worker crashed or stuck). */
  onFailure: (sample: CameraSample, err: InferenceError) => void;
  /** A worker became idle or went down for good: the pool may hand out work again, or be drained. */
  onIdle: () => void;
}

interface WorkerSlot {
  id: number;
  worker: Worker | null;
  state: WorkerState;
  job: { id: number; sample: CameraSample; startedMs: number } | null;
  restarts: number[];
  jobs: number;
  onReady: ((err?: Error) => void) | null;
}

/**
 * The detector pool's worker threads: each loads and warms up the model before it takes a
 * sample; a crashed worker is replaced and a stuck one (past `inferTimeoutMs`) terminated and
 * replaced, up to `maxRestarts` in `restartWindowS`. Which sample goes next is the pool's call.
 */
export class DetectorWorkers {
  readonly #opts: WorkersOptions;
  readonly #slots: WorkerSlot[] = [];
  #model: { name: string; version: string } | null = null;
  #regionModel: { name: string; version: string } | null = null;
  #nextJob = 1;
  #watchdog: NodeJS.Timeout | null = null;
  #restarts = 0;
  #windingDown = false;

  constructor(opts: WorkersOptions) {
    this.#opts = opts;
  }

  /** Starts every worker and resolves when each has loaded and warmed up its model. */
  async start(): Promise<void> {
    this.#windingDown = false;
    await Promise.all(Array.from({ length: this.#opts.count }, (_, id) => this.#spawn(this.#slotFor(id))));
    this.#watchdog = setInterval(() => this.#checkStuck(), Math.min(1000, this.#opts.inferTimeoutMs / 4));
    this.#watchdog.unref();
  }

  #slotFor(id: number): WorkerSlot {
    const slot: WorkerSlot = { id, worker: null, state: 'booting', job: null, restarts: [], jobs: 0, onReady: null };
    this.#slots[id] = slot;
    return slot;
  }

  #spawn(slot: WorkerSlot): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const worker = new Worker(WORKER_URL);
      slot.worker = worker;
      slot.state = 'booting';
      slot.onReady = (err) => (err ? reject(err) : resolve());
      worker.on('message', (msg: FromWorker) => this.#onMessage(slot, worker, msg));
      worker.on('error', (err) => this.#onWorkerGone(slot, worker, `crashed: ${err.message}`));
      worker.on('exit', (code) => this.#onWorkerGone(slot, worker, `exited with code ${code}`));
    });
  }

  #post(worker: Worker, msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    worker.postMessage(msg, transfer);
  }

  #onMessage(slot: WorkerSlot, worker: Worker, msg: FromWorker): void {
    if (slot.worker !== worker) return;
    switch (msg.type) {
      case 'boot':
        slot.state = 'warming';
        this.#post(worker, { type: 'init', options: this.#opts.detector, regionOptions: this.#opts.regionDetector, warmupRuns: this.#opts.warmupRuns });
        return;
      case 'ready':
        this.#model = { name: msg.name, version: msg.version };
        this.#regionModel = msg.region ?? null;
        slot.state = 'idle';
        slot.onReady?.();
        slot.onReady = null;
        this.#opts.log.debug({ worker: slot.id, warmupMs: Math.round(msg.warmupMs) }, 'detector worker ready');
        this.#opts.onIdle();
        return;
      case 'result': {
        const job = slot.job;
        slot.job = null;
        slot.state = 'idle';
        slot.jobs++;
        if (job && job.id === msg.job) this.#opts.onResult(job.sample, msg);
        this.#opts.onIdle();
        return;
      }
      case 'error': {
        if (msg.job === null) {
          // The model failed to load: that is fatal for the pool.
          const err = new InferenceError(`detector worker ${slot.id}: ${msg.message}`, { details: { code: msg.code } });
          slot.state = 'down';
          void worker.terminate();
          slot.onReady?.(err);
          slot.onReady = null;
          return;
        }
        const job = slot.job;
        slot.job = null;
        slot.state = 'idle';
        if (job) this.#opts.onFailure(job.sample, new InferenceError(`camera ${job.sample.cameraId}: ${msg.message}`, { details: { cameraId: job.sample.cameraId, code: msg.code } }));
        this.#opts.onIdle();
      }
    }
  }

  #onWorkerGone(slot: WorkerSlot, worker: Worker, why: string): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    // Stopping: a replacement would only be ended again.
    if (this.#windingDown) {
      slot.state = 'down';
      return;
    }
    if (slot.onReady) {
      slot.state = 'down';
      slot.onReady(new InferenceError(`detector worker ${slot.id} ${why} while loading the model`));
      slot.onReady = null;
      return;
    }
    this.#restart(slot, why);
  }

  /** Replaces a worker; the sample it held fails, others keep their queues. */
  #restart(slot: WorkerSlot, why: string): void {
    const job = slot.job;
    slot.job = null;
    const old = slot.worker;
    slot.worker = null;
    if (old) void old.terminate();
    if (job) this.#opts.onFailure(job.sample, new InferenceError(`camera ${job.sample.cameraId}: detector worker ${slot.id} ${why}`, { details: { cameraId: job.sample.cameraId } }));
    const now = Date.now();
    slot.restarts = slot.restarts.filter((t) => now - t < this.#opts.restartWindowS * 1000);
    if (slot.restarts.length >= this.#opts.maxRestarts) {
      slot.state = 'down';
      this.#opts.log.error({ worker: slot.id, why, restarts: slot.restarts.length }, 'detector worker stays down: restart cap reached');
      this.#opts.onIdle();
      return;
    }
    slot.restarts.push(now);
    this.#restarts++;
    this.#opts.restartsMetric?.inc();
    this.#opts.log.warn({ worker: slot.id, why }, 'restarting detector worker');
    this.#spawn(slot).catch((err: unknown) => {
      slot.state = 'down';
      this.#opts.log.error({ worker: slot.id, err: String(err) }, 'detector worker failed to restart');
    });
  }

  #checkStuck(): void {
    const now = performance.now();
    for (const slot of this.#slots) {
      if (slot.state === 'busy' && slot.job && now - slot.job.startedMs > this.#opts.inferTimeoutMs) {
        this.#restart(slot, `was stuck for more than ${this.#opts.inferTimeoutMs} ms`);
      }
    }
  }

  /** True when a worker can take a sample now. */
  get idle(): boolean {
    return this.#slots.some((s) => s.state === 'idle' && s.worker !== null);
  }

  /** True while a worker holds a sample. */
  get busy(): boolean {
    return this.#slots.some((s) => s.state === 'busy');
  }

  /** Worker threads the pool runs, down ones included. */
  get size(): number {
    return this.#opts.count;
  }

  /** Workers that are down: past the restart cap, failed to load the model, or ended. */
  get down(): number {
    return this.#slots.filter((s) => s.state === 'down').length;
  }

  /** Restarts over every worker, since the pool was made. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The model the workers loaded; null until one is ready. */
  get model(): { name: string; version: string } | null {
    return this.#model;
  }

  /** The region cameras' model, when it is another one; null until one is ready, or without one. */
  get regionModel(): { name: string; version: string } | null {
    return this.#regionModel;
  }

  /** Hands a sample to the first idle worker; the caller checks `idle` first. */
  infer(sample: CameraSample, regions: RegionJob | undefined): void {
    const slot = this.#slots.find((s) => s.state === 'idle' && s.worker !== null)!;
    const id = this.#nextJob++;
    slot.state = 'busy';
    slot.job = { id, sample, startedMs: performance.now() };
    let rgb = sample.rgb;
    // Transfer whole ArrayBuffers; copy views into larger buffers; share SharedArrayBuffers as they are.
    let transfer: ArrayBuffer[] = [];
    if (rgb.buffer instanceof ArrayBuffer) {
      if (rgb.byteOffset !== 0 || rgb.byteLength !== rgb.buffer.byteLength) rgb = rgb.slice();
      transfer = [rgb.buffer as ArrayBuffer];
    }
    this.#post(slot.worker!, { type: 'infer', job: id, width: sample.width, height: sample.height, rgb, regions }, transfer);
  }

  /** Test hook: makes worker `id` block its thread for `ms` (as a hung native call would) or crash. */
  debugWorker(id: number, what: { stall: number } | 'crash'): void {
    const w = this.#slots[id]?.worker;
    if (!w) return;
    this.#post(w, what === 'crash' ? { type: 'crash' } : { type: 'stall', ms: what.stall });
  }

  status(): WorkerStatus[] {
    return this.#slots.map((s) => ({ id: s.id, state: s.state, restarts: s.restarts.length, jobs: s.jobs }));
  }

  /**
   * The pool is stopping: from here a worker that exits stays down. The watchdog still replaces
   * a stuck one until `stop()`, so that a hung sample does not hold up the drain.
   */
  windDown(): void {
    this.#windingDown = true;
  }

  /** Ends every worker, whatever it is doing: the pool drains first. */
  async stop(): Promise<void> {
    this.windDown();
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
    await Promise.all(this.#slots.map(async (slot) => {
      const worker = slot.worker;
      slot.worker = null;
      slot.state = 'down';
      if (worker) await worker.terminate();
    }));
  }
}
