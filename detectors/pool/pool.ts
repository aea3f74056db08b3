import { availableParallelism } from 'node:os';
import { silentLogger, type ComponentHealth, type Logger, type Registry } from '../../core/index.ts';
import { InferenceError } from '../errors.ts';
import type { DetectorOptions } from '../model/detector.ts';
import type { SampleResult } from '../types.ts';
import type { CameraSample } from '../../domain/index.ts';
import type { RegionSettings } from '../regions/index.ts';
import { cameraStatus, keepRegionState, newCameraState, poolMetrics, regionJob, Ring, unchanged, type CameraState, type CameraStatus, type PoolMetrics } from './camera-queue.ts';
import { DetectorWorkers, type WorkerResult, type WorkerStatus } from './workers.ts';

const STAGE = 'detectors';

export interface PoolOptions {
  detector: DetectorOptions;
  /** The model region cameras' samples (whole frame and crops) run on, when not `detector` (`detectors.region_model`). */
  regionDetector?: DetectorOptions | undefined;
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
  workers: WorkerStatus[];
  model: { name: string; version: string } | null;
  /** The region cameras' model, when it is another one. */
  regionModel: { name: string; version: string } | null;
  restarts: number;
  /** Share of samples not inferred thanks to change gating, 0..1. */
  gatingSaved: number;
  cameras: Record<string, CameraStatus>;
}

/**
 * Runs detectors in worker threads. Each camera has a bounded queue that drops its oldest
 * sample when full; cameras are served round-robin; a watchdog restarts stuck or crashed
 * workers up to a cap. The main thread only gates, queues and routes.
 */
export class DetectorPool {
  readonly #opts: PoolOptions;
  readonly #log: Logger;
  readonly #workers: DetectorWorkers;
  readonly #cameras = new Map<string, CameraState>();
  readonly #ready: CameraState[] = [];
  #state: PoolStatus['state'] = 'stopped';
  readonly #times = new Ring(4096);
  #totals = { received: 0, inferred: 0, inferences: 0, gated: 0, dropped: 0, errors: 0 };
  #idleWaiters: (() => void)[] = [];
  readonly #m: PoolMetrics;
  constructor(opts: PoolOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? silentLogger();
    this.#m = poolMetrics(opts.metrics);
    this.#workers = new DetectorWorkers({
      detector: opts.detector,
      regionDetector: opts.regionDetector,
      count: opts.workers ?? availableParallelism(),
      warmupRuns: opts.warmupRuns,
      inferTimeoutMs: opts.inferTimeoutMs,
      maxRestarts: opts.maxRestarts,
      restartWindowS: opts.restartWindowS,
      log: this.#log,
      restartsMetric: this.#m.restarts,
      onResult: (sample, result) => this.#finish(sample, result),
      onFailure: (sample, err) => this.#fail(sample, err),
      onIdle: () => this.#pump(),
    });
  }

  /** Starts the workers and resolves when every one has loaded and warmed up its model. */
  async start(): Promise<void> {
    if (this.#state !== 'stopped') return;
    this.#state = 'starting';
    try {
      await this.#workers.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.#state = 'ready';
    this.#log.info({ workers: this.#workers.size, model: this.#workers.model, ...(this.#workers.regionModel ? { regionModel: this.#workers.regionModel } : {}) }, 'detector pool ready');
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
    while (this.#ready.length > 0 && this.#workers.idle) {
      const c = this.#ready.shift()!;
      const sample = c.queue.shift()!;
      c.depth?.set(c.queue.length);
      if (c.queue.length > 0) this.#ready.push(c); else c.scheduled = false;
      c.inflight++;
      const settings = this.#opts.regionsFor?.(sample.cameraId, sample.width, sample.height);
      const workers = this.#workers.size;
      const share = workers / Math.max(workers, this.#ready.length + (this.#opts.upstreamBacklog?.() ?? 0));
      this.#workers.infer(sample, regionJob(c, settings, share));
    }
    if (this.#idleWaiters.length > 0 && this.#ready.length === 0 && !this.#workers.busy) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  /** A sample back from its worker: keep the camera's region state, count it and hand it on. */
  #finish(sample: CameraSample, result: WorkerResult): void {
    const { detections, inferenceMs: ms, inferences, rgb } = result;
    const c = this.#camera(sample.cameraId);
    keepRegionState(c, sample.captureTimeMs, result);
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
    if (this.#ready.length === 0 && !this.#workers.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Test hook: makes worker `id` block its thread for `ms` (as a hung native call would) or crash. */
  debugWorker(id: number, what: { stall: number } | 'crash'): void {
    this.#workers.debugWorker(id, what);
  }

  /** Stops accepting, drains what is queued and in flight, then ends the workers. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    if (this.#state === 'ready') {
      this.#state = 'stopping';
      this.#workers.windDown();
      const timeout = (): Promise<void> => new Promise<void>((r) => setTimeout(r, this.#opts.inferTimeoutMs).unref());
      await Promise.race([this.drain(), timeout()]);
      // Still behind: the queued samples are dropped, counted, and the jobs in flight finish. A worker
      // terminated inside onnxruntime's run aborts the process (a `Napi::Error`, after 1,000 cameras).
      for (const c of this.#ready.splice(0)) {
        c.scheduled = false;
        for (let n = c.queue.splice(0).length; n > 0; n--) this.#dropped(c, 'shutdown');
        c.depth?.set(0);
      }
      await Promise.race([this.drain(), timeout()]);
    }
    this.#state = 'stopping';
    await this.#workers.stop();
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
      state: this.#state,
      model: this.#workers.model,
      regionModel: this.#workers.regionModel,
      workers: this.#workers.status(),
      queued,
      ...this.#totals,
      restarts: this.#workers.restarts,
      gatingSaved: this.#totals.received === 0 ? 0 : this.#totals.gated / this.#totals.received,
      p50Ms: this.#times.percentile(0.5),
      p99Ms: this.#times.percentile(0.99),
      cameras,
    };
  }

  /** For the health registry: down when no worker runs, degraded when some are down. */
  health(): ComponentHealth {
    if (this.#state !== 'ready') return { state: 'down', reason: `pool ${this.#state}` };
    const down = this.#workers.down;
    const workers = this.#workers.size;
    if (down === workers) return { state: 'down', reason: 'every detector worker is down' };
    if (down > 0) return { state: 'degraded', reason: `${down} of ${workers} detector workers down` };
    return { state: 'up' };
  }
}
