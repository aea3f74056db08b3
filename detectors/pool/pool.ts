import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { silentLogger, type ComponentHealth, type Logger, type Registry } from '../../core/index.ts';
import { InferenceError } from '../errors.ts';
import type { DetectorOptions } from '../model/detector.ts';
import type { Detection, SampleResult } from '../types.ts';
import type { CameraSample } from '../../domain/index.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import type { RegionSettings } from '../regions/index.ts';
import { cameraStatus, keepRegionState, newCameraState, poolMetrics, regionJob, Ring, unchanged, type CameraState, type CameraStatus, type PoolMetrics } from './camera-queue.ts';

const WORKER_URL = new URL('./detector-worker.mjs', import.meta.url), STAGE = 'detectors';

export interface PoolOptions {
  detector: DetectorOptions;
  /** Worker threads; as many as cores when absent. */
  workers?: number;
  queuePerCamera: number;
  /** Share of changed thumbnail cells below which a sample is not inferred; 0 turns gating off. */
  gateThreshold: number;
  /** Re-infer a camera at least this often (capture time), changed or not. */
  reverifyS: number;
  inferTimeoutMs: number;
  maxRestarts: number;
  restartWindowS: number;
  warmupRuns: number;
  /** A camera's region settings for frames of this size (zones in frame pixels); null: whole frame only. Cache it. */
  regionsFor?: (cameraId: string, width: number, height: number) => (RegionSettings & { trackClasses?: ReadonlySet<string> }) | null;
  /** Samples not here yet (keyframes waiting for a decoder) count as waiting when crops are shared out: extra crops would take the decoders' CPU. */
  upstreamBacklog?: () => number;
  /** Every sample's outcome, inferred or gated, in capture order per camera. `rgb` is the sample's pixels. */
  onResult: (result: SampleResult & { rgb: Uint8Array }) => void;
  /** A sample that could not be inferred (bad frame, worker crash); other cameras go on. */
  onError?: (cameraId: string, err: InferenceError) => void;
  metrics?: Registry;
  log?: Logger;
}

/** The pool's totals (the same counts as each camera's, summed) and its workers. */
export interface PoolStatus extends CameraStatus {
  state: 'stopped' | 'starting' | 'ready' | 'stopping';
  workers: { id: number; state: WorkerSlot['state']; restarts: number; jobs: number }[];
  model: { name: string; version: string } | null;
  restarts: number;
  /** Share of samples not inferred thanks to change gating, 0..1. */
  gatingSaved: number;
  cameras: Record<string, CameraStatus>;
}

interface WorkerSlot {
  id: number;
  worker: Worker | null;
  state: 'booting' | 'warming' | 'idle' | 'busy' | 'down';
  job: { id: number; sample: CameraSample; startedMs: number } | null;
  restarts: number[];
  jobs: number;
  onReady: ((err?: Error) => void) | null;
}

/**
 * Runs detectors in worker threads. Each camera has a bounded queue that drops its oldest
 * sample when full; cameras are served round-robin; a watchdog restarts stuck or crashed
 * workers up to a cap. The main thread only gates, queues and routes.
 */
export class DetectorPool {
  readonly #opts: PoolOptions;
  readonly #log: Logger;
  readonly #size: number;
  readonly #cameras = new Map<string, CameraState>();
  readonly #ready: CameraState[] = [];
  readonly #slots: WorkerSlot[] = [];
  #state: PoolStatus['state'] = 'stopped';
  #model: { name: string; version: string } | null = null;
  #nextJob = 1;
  #watchdog: NodeJS.Timeout | null = null;
  readonly #times = new Ring(4096);
  #totals = { received: 0, inferred: 0, inferences: 0, gated: 0, dropped: 0, errors: 0, restarts: 0 };
  #idleWaiters: (() => void)[] = [];
  readonly #m: PoolMetrics;
  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? silentLogger();
    this.#size = opts.workers ?? availableParallelism();
    this.#m = poolMetrics(opts.metrics);
  }

  /** Starts the workers and resolves when every one has loaded and warmed up its model. */
  async start(): Promise<void> {
    if (this.#state !== 'stopped') return;
    this.#state = 'starting';
    try {
      await Promise.all(Array.from({ length: this.#size }, (_, id) => this.#spawn(this.#slotFor(id))));
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#state = 'ready';
    this.#watchdog = setInterval(() => this.#checkStuck(), Math.min(1000, this.#opts.inferTimeoutMs / 4));
    this.#watchdog.unref();
    this.#log.info({ workers: this.#size, model: this.#model }, 'detector pool ready');
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
        this.#post(worker, { type: 'init', options: this.#opts.detector, warmupRuns: this.#opts.warmupRuns });
        return;
      case 'ready':
        this.#model = { name: msg.name, version: msg.version };
        slot.state = 'idle';
        slot.onReady?.();
        slot.onReady = null;
        this.#log.debug({ worker: slot.id, warmupMs: Math.round(msg.warmupMs) }, 'detector worker ready');
        this.#pump();
        return;
      case 'result': {
        const job = slot.job;
        slot.job = null;
        slot.state = 'idle';
        slot.jobs++;
        if (job && job.id === msg.job) {
          keepRegionState(this.#camera(job.sample.cameraId), job.sample.captureTimeMs, msg);
          this.#finish(job.sample, msg.detections, msg.inferenceMs, msg.inferences, msg.rgb);
        }
        this.#pump();
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
        if (job) this.#fail(job.sample, new InferenceError(`camera ${job.sample.cameraId}: ${msg.message}`, { details: { cameraId: job.sample.cameraId, code: msg.code } }));
        this.#pump();
      }
    }
  }

  #onWorkerGone(slot: WorkerSlot, worker: Worker, why: string): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    if (this.#state === 'stopping' || this.#state === 'stopped') { slot.state = 'down'; return; }
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
    if (job) this.#fail(job.sample, new InferenceError(`camera ${job.sample.cameraId}: detector worker ${slot.id} ${why}`, { details: { cameraId: job.sample.cameraId } }));
    const now = Date.now();
    slot.restarts = slot.restarts.filter((t) => now - t < this.#opts.restartWindowS * 1000);
    if (slot.restarts.length >= this.#opts.maxRestarts) {
      slot.state = 'down';
      this.#log.error({ worker: slot.id, why, restarts: slot.restarts.length }, 'detector worker stays down: restart cap reached');
      this.#pump();
      return;
    }
    slot.restarts.push(now);
    this.#totals.restarts++;
    this.#m.restarts?.inc();
    this.#log.warn({ worker: slot.id, why }, 'restarting detector worker');
    this.#spawn(slot).catch((err: unknown) => {
      slot.state = 'down';
      this.#log.error({ worker: slot.id, err: String(err) }, 'detector worker failed to restart');
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

  #camera(id: string): CameraState {
    let c = this.#cameras.get(id);
    if (!c) this.#cameras.set(id, (c = newCameraState(id, this.#m)));
    return c;
  }

  /**
   * Hands a sample to the pool; never blocks. The pool owns `sample.rgb` from here on (its
   * buffer is transferred to a worker). Returns false when the sample was refused (stopped pool,
   * bad size) or an older sample of the camera was dropped to make room.
   */
  submit(sample: CameraSample): boolean {
    if (this.#state !== 'ready') return false;
    const c = this.#camera(sample.cameraId);
    c.received++;
    this.#totals.received++;
    this.#m.stage?.received.inc({ stage: STAGE });
    if (!Number.isInteger(sample.width) || !Number.isInteger(sample.height) || sample.width < 1 || sample.height < 1 || sample.rgb.length !== sample.width * sample.height * 3) {
      this.#fail(sample, new InferenceError(`camera ${sample.cameraId}: frame of ${sample.width}x${sample.height} has ${sample.rgb.length} bytes, expected ${sample.width * sample.height * 3}`, { details: { cameraId: sample.cameraId } }), false);
      return false;
    }
    if (this.#opts.gateThreshold > 0 && unchanged(c, sample, this.#opts.gateThreshold, this.#opts.reverifyS * 1000)) {
      c.gated++;
      this.#totals.gated++;
      this.#m.gated?.inc();
      this.#m.saved?.set(this.#totals.gated / this.#totals.received);
      if (c.queue.length === 0 && c.inflight === 0) { this.#emitGated(c, sample); return true; }
      if (c.deferred.length >= this.#opts.queuePerCamera) { c.deferred.shift(); this.#dropped(c); c.deferred.push(sample); return false; }
      c.deferred.push(sample);
      return true;
    }
    c.lastInferCaptureMs = sample.captureTimeMs;
    let ok = true;
    if (c.queue.length >= this.#opts.queuePerCamera) {
      c.queue.shift();
      this.#dropped(c);
      ok = false;
    }
    c.queue.push(sample);
    c.depth?.set(c.queue.length);
    if (!c.scheduled) { c.scheduled = true; this.#ready.push(c); }
    this.#pump();
    return ok;
  }

  #dropped(c: CameraState, reason: 'queue_full' | 'shutdown' = 'queue_full'): void {
    c.dropped++;
    this.#totals.dropped++;
    c.drops?.inc();
    this.#m.stage?.dropped.inc({ stage: STAGE, reason });
  }

  #emitGated(c: CameraState, sample: CameraSample): void {
    this.#m.stage?.sent.inc({ stage: STAGE });
    this.#opts.onResult({ cameraId: sample.cameraId, captureTimeMs: sample.captureTimeMs, width: sample.width, height: sample.height, detections: c.lastDetections, inferred: false, inferenceMs: 0, inferences: 0, rgb: sample.rgb });
  }

  /** After a camera's sample comes back: release gated samples that waited behind it. */
  #settle(c: CameraState): void {
    c.inflight--;
    if (c.inflight === 0 && c.queue.length === 0) for (const s of c.deferred.splice(0)) this.#emitGated(c, s);
  }

  /** Gives idle workers the oldest sample of the next camera in the round. */
  #pump(): void {
    for (const slot of this.#slots) {
      if (this.#ready.length === 0) break;
      if (slot.state !== 'idle' || !slot.worker) continue;
      const c = this.#ready.shift()!;
      const sample = c.queue.shift()!;
      c.depth?.set(c.queue.length);
      if (c.queue.length > 0) this.#ready.push(c); else c.scheduled = false;
      const id = this.#nextJob++;
      c.inflight++;
      slot.state = 'busy';
      slot.job = { id, sample, startedMs: performance.now() };
      let rgb = sample.rgb;
      // Transfer whole ArrayBuffers; copy views into larger buffers; share SharedArrayBuffers as they are.
      let transfer: ArrayBuffer[] = [];
      if (rgb.buffer instanceof ArrayBuffer) {
        if (rgb.byteOffset !== 0 || rgb.byteLength !== rgb.buffer.byteLength) rgb = rgb.slice();
        transfer = [rgb.buffer as ArrayBuffer];
      }
      this.#post(slot.worker, { type: 'infer', job: id, width: sample.width, height: sample.height, rgb, regions: regionJob(c, this.#opts.regionsFor?.(sample.cameraId, sample.width, sample.height), this.#slots.length / Math.max(this.#slots.length, this.#ready.length + (this.#opts.upstreamBacklog?.() ?? 0))) }, transfer);
    }
    if (this.#idleWaiters.length > 0 && this.#ready.length === 0 && this.#slots.every((s) => s.state !== 'busy')) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #finish(sample: CameraSample, detections: Detection[], ms: number, inferences: number, rgb: Uint8Array): void {
    const c = this.#camera(sample.cameraId);
    c.inferred++;
    c.inferences += inferences;
    this.#totals.inferences += inferences;
    this.#m.perSample?.observe(inferences);
    c.lastDetections = detections;
    c.times.push(ms);
    this.#times.push(ms);
    this.#totals.inferred++;
    this.#m.inference?.observe(ms);
    this.#m.saved?.set(this.#totals.gated / Math.max(1, this.#totals.received));
    this.#m.stage?.sent.inc({ stage: STAGE });
    this.#opts.onResult({ cameraId: sample.cameraId, captureTimeMs: sample.captureTimeMs, width: sample.width, height: sample.height, detections, inferred: true, inferenceMs: ms, inferences, rgb });
    this.#settle(c);
  }

  #fail(sample: CameraSample, err: InferenceError, dispatched = true): void {
    const c = this.#camera(sample.cameraId);
    if (dispatched) this.#settle(c);
    c.errors++;
    this.#totals.errors++;
    this.#m.stage?.errors.inc({ stage: STAGE, code: err.code });
    this.#log.debug({ camera: sample.cameraId, err: err.message }, 'sample not inferred');
    this.#opts.onError?.(sample.cameraId, err);
  }

  /** Cameras with samples waiting for a worker (cheap: the decoders' back-pressure asks often). */
  get waiting(): number { return this.#ready.length; }

  /** Resolves when no sample is queued or in flight. */
  drain(): Promise<void> {
    if (this.#ready.length === 0 && this.#slots.every((s) => s.state !== 'busy')) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Test hook: makes worker `id` block its thread for `ms` (as a hung native call would) or crash. */
  debugWorker(id: number, what: { stall: number } | 'crash'): void {
    const w = this.#slots[id]?.worker;
    if (w) this.#post(w, what === 'crash' ? { type: 'crash' } : { type: 'stall', ms: what.stall });
  }

  /** Stops accepting, drains what is queued and in flight, then ends the workers. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    if (this.#state === 'ready') {
      this.#state = 'stopping';
      const timeout = (): Promise<void> => new Promise<void>((r) => setTimeout(r, this.#opts.inferTimeoutMs).unref());
      await Promise.race([this.drain(), timeout()]);
      // Still behind: the queued samples are dropped, counted, and the jobs in flight finish. A worker
      // terminated inside onnxruntime's run aborts the process (a `Napi::Error`, after 1,000 cameras).
      for (const c of this.#ready.splice(0)) {
        for (let n = c.queue.splice(0).length; n > 0; n--) this.#dropped(c, 'shutdown');
        (c.scheduled = false), c.depth?.set(0);
      }
      await Promise.race([this.drain(), timeout()]);
    }
    this.#state = 'stopping';
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
    await Promise.all(this.#slots.map(async (s) => { const w = s.worker; s.worker = null; s.state = 'down'; if (w) await w.terminate(); }));
    this.#state = 'stopped';
  }

  status(): PoolStatus {
    const cameras: Record<string, CameraStatus> = {};
    let queued = 0;
    for (const c of this.#cameras.values()) {
      queued += c.queue.length;
      cameras[c.id] = cameraStatus(c);
    }
    return {
      state: this.#state, model: this.#model,
      workers: this.#slots.map((s) => ({ id: s.id, state: s.state, restarts: s.restarts.length, jobs: s.jobs })),
      queued,
      ...this.#totals,
      gatingSaved: this.#totals.received === 0 ? 0 : this.#totals.gated / this.#totals.received,
      p50Ms: this.#times.percentile(0.5),
      p99Ms: this.#times.percentile(0.99),
      cameras,
    };
  }

  /** For the health registry: down when no worker runs, degraded when some are down. */
  health(): ComponentHealth {
    const down = this.#slots.filter((s) => s.state === 'down').length;
    if (this.#state !== 'ready') return { state: 'down', reason: `pool ${this.#state}` };
    if (down === this.#slots.length) return { state: 'down', reason: 'every detector worker is down' };
    if (down > 0) return { state: 'degraded', reason: `${down} of ${this.#slots.length} detector workers down` };
    return { state: 'up' };
  }
}
