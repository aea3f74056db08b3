import type { ComponentHealth, HealthRegistry, Logger, Registry } from '../core/index.ts';
import { Counter, stageCounters, type StageCounters } from '../core/index.ts';
import type { CameraT, IngestT } from '../config/index.ts';
import { CameraFleet, type CameraStatus, type KeyframeSink } from './fleet.ts';
import { FfmpegCamera } from './ffmpeg-camera.ts';
import type { DecoderStatus } from './decode.ts';
import { DecoderPool, type FrameSize } from './decoder-pool.ts';
import { Sampler, type Sample, type SamplerOptions, type SamplerStats } from './sample.ts';
import { DecodeGate, type DecodeGateCameraStats, type DecodeGateOptions } from './decode-gate.ts';
import type { AccessUnit } from './rtsp/depacketizer.ts';

export interface CameraIngestOptions {
  config: IngestT;
  /**
   * The frame size the detector wants by default; every sample is scaled to it, except those of
   * cameras with region detection and an `image_size`: they come at that size, fitted within
   * `ingest.max_frame_width` × `max_frame_height`.
   */
  frameSize: FrameSize;
  onSample: (s: Sample) => void;
  log?: Logger | undefined;
  /**
   * Gating before decoding (`ingest.gate_before_decode`, in-process RTSP cameras): the
   * detectors' `reverify_s` and whether the rules are timing a camera. None when absent.
   * `timing` also puts such a camera's keyframes first in the decode queue, gate or not.
   */
  gate?: DecodeGateOptions | undefined;
  /** The detectors' back-pressure on decoding (SamplerOptions.downstream); none when absent. */
  downstream?: SamplerOptions['downstream'];
  /** Metrics and health go here when given (`stage` label `ingest`). */
  ctx?: { metrics: Registry; health: HealthRegistry } | undefined;
}

export interface CameraIngestStatus {
  cameras: CameraStatus[];
  sampler: SamplerStats;
  decoders: DecoderStatus[];
}

/** Keys of a camera that require a restart of its stream when they change. */
function streamKey(c: CameraT): string {
  return `${c.type}|${c.url}|${c.username ?? ''}|${c.password ?? ''}|${c.sample_period_s ?? ''}|${c.detect?.regions ?? ''}|${c.image_size?.join('x') ?? ''}`;
}

/**
 * The size a camera's samples are decoded at: its own resolution (`image_size`, fitted within the
 * maximum, even sides) when its detector cuts full-resolution regions, else the default size.
 */
export function cameraFrameSize(c: CameraT, config: IngestT, fallback: FrameSize): FrameSize {
  if (!c.image_size || (c.detect?.regions ?? 'whole') === 'whole') return fallback;
  const [w, h] = c.image_size;
  const k = Math.min(1, config.max_frame_width / w, config.max_frame_height / h);
  const even = (v: number): number => Math.max(2, 2 * Math.round((v * k) / 2));
  return { width: even(w), height: even(h) };
}

/**
 * Camera ingest as the engine uses it: the city's cameras in, samples out. `type: rtsp`
 * cameras go through the in-process client, fleet and sampler, with keyframes decoded by a
 * shared decoder pool; `type: ffmpeg` cameras get an ffmpeg process each. Both produce `Sample`.
 */
export class CameraIngest implements KeyframeSink {
  readonly fleet: CameraFleet;
  readonly sampler: Sampler;
  readonly decoders: DecoderPool;
  readonly #ffmpegCams = new Map<string, FfmpegCamera>();
  readonly #keys = new Map<string, string>();
  readonly #counters: StageCounters | undefined;
  readonly #gate: DecodeGate | undefined;
  #startedMs: number | undefined;

  readonly #opts: CameraIngestOptions;

  constructor(opts: CameraIngestOptions) {
    this.#opts = opts;
    const c = opts.config;
    this.decoders = new DecoderPool({ width: opts.frameSize.width, height: opts.frameSize.height, perCodec: c.decoders_per_codec, log: opts.log });
    this.#counters = opts.ctx ? stageCounters(opts.ctx.metrics) : undefined;
    this.#gate = opts.gate && c.gate_before_decode ? new DecodeGate(opts.gate) : undefined;
    this.sampler = new Sampler({
      gate: this.#gate && this.#countedGate(this.#gate),
      defaultPeriodS: c.sample_period_s, decodeBudgetPerS: c.decode_budget_per_s, decoder: this.decoders,
      // A few keyframes in flight keep each decoder busy; the rest wait in the sampler, where the
      // earliest deadline goes first.
      maxDecodesInFlight: 8 * c.decoders_per_codec,
      // Cameras the rules are timing (a dwell under way) go first: overload costs routine checks, not violations.
      urgent: opts.gate?.timing,
      // ...and so do cameras about to go reverify_s undecoded, so that every camera is seen that often.
      starvedAfterMs: opts.gate?.reverifyMs,
      downstream: opts.downstream,
      onSample: (s) => { this.#counters?.sent.inc({ stage: 'ingest' }); opts.onSample(s); },
      onDrop: (_id, reason) => { this.#counters?.dropped.inc({ stage: 'ingest', reason }); },
    });
    this.fleet = new CameraFleet({
      maxConnectsInFlight: c.max_connects_in_flight, stallTimeoutMs: c.stall_timeout_s * 1000,
      backoffInitialMs: c.backoff_initial_ms, backoffMaxMs: c.backoff_max_ms,
      connectTimeoutMs: c.connect_timeout_ms, requestTimeoutMs: c.connect_timeout_ms,
      sink: this, log: opts.log,
    });
    opts.ctx?.health.register('ingest', { health: () => this.health() });
  }

  onKeyframe(cameraId: string, au: AccessUnit): void {
    this.#counters?.received.inc({ stage: 'ingest' });
    this.sampler.offerKeyframe(cameraId, au);
  }

  /** The gate with per-camera counters: the share of decodes it saves is skipped / decided. */
  #countedGate(gate: DecodeGate): Pick<DecodeGate, 'decide'> {
    const r = this.#opts.ctx?.metrics;
    if (!r) return gate;
    // One pair per registry: an engine may build its ingest again on the same metrics.
    const decided = (r.getSingleMetric('gridwatch_ingest_gate_decided_total') as Counter<'camera'> | undefined) ?? new Counter({ name: 'gridwatch_ingest_gate_decided_total', help: 'Samples the gate before decoding decided on, per camera', labelNames: ['camera'], registers: [r] });
    const skipped = (r.getSingleMetric('gridwatch_ingest_decodes_skipped_total') as Counter<'camera'> | undefined) ?? new Counter({ name: 'gridwatch_ingest_decodes_skipped_total', help: 'Samples not decoded (nor inferred): the P-frames since the last one stayed in the camera\'s noise band', labelNames: ['camera'], registers: [r] });
    return { decide: (id, t, bytes) => {
      const decision = gate.decide(id, t, bytes);
      decided.inc({ camera: id });
      if (decision === 'skip') skipped.inc({ camera: id });
      return decision;
    } };
  }

  onDeltaSize(cameraId: string, bytes: number): void {
    this.#gate?.noteDelta(cameraId, bytes);
  }

  /** What the detectors did with a sample: inferred it, or found it unchanged (teaches the gate). */
  verdict(cameraId: string, captureTimeMs: number, inferred: boolean): void {
    this.#gate?.verdict(cameraId, captureTimeMs, inferred);
  }

  /** A camera's samples not decoded by the gate, of those it decided; undefined without one. */
  gateStats(cameraId: string): DecodeGateCameraStats | undefined {
    return this.#gate?.stats(cameraId);
  }

  start(): Promise<void> {
    this.#startedMs = Date.now();
    this.decoders.warm();
    this.fleet.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    for (const f of this.#ffmpegCams.values()) f.stop();
    this.#ffmpegCams.clear();
    await this.fleet.stop();
    this.sampler.stop();
    this.decoders.stop();
  }

  /**
   * Brings the running set to exactly these cameras (disabled ones are removed); no restart.
   * `atOnce`: cameras another node sampled until now (see addCamera).
   */
  async setCameras(cameras: Iterable<CameraT>, atOnce: ReadonlySet<string> = new Set()): Promise<void> {
    const wanted = new Map<string, CameraT>();
    for (const c of cameras) if (c.enabled) wanted.set(c.id, c);
    const removals: Promise<void>[] = [];
    for (const id of [...this.#keys.keys()]) {
      const c = wanted.get(id);
      if (!c || streamKey(c) !== this.#keys.get(id)) removals.push(this.removeCamera(id));
    }
    await Promise.all(removals);
    for (const c of wanted.values()) if (!this.#keys.has(c.id)) this.addCamera(c, atOnce.has(c.id));
  }

  /**
   * Starts a camera. Its first sample is taken at once (not at its random phase, up to a period
   * on) when another node sampled it until now (`handedOver`), or when it comes once ingest has
   * run a period (a dead node's camera taken over, a camera newly configured); the cameras of a
   * start keep random phases only, spread out.
   */
  addCamera(c: CameraT, handedOver = false): void {
    this.#keys.set(c.id, streamKey(c));
    const size = cameraFrameSize(c, this.#opts.config, this.#opts.frameSize);
    const atOnce = handedOver || (this.#startedMs !== undefined && Date.now() - this.#startedMs >= this.#opts.config.sample_period_s * 1000);
    this.sampler.add(c.id, c.sample_period_s, size, atOnce);
    const cam = { id: c.id, url: c.url, username: c.username, password: c.password };
    if (c.type === 'ffmpeg') {
      const cfg = this.#opts.config;
      const f = new FfmpegCamera(cam, {
        width: size.width, height: size.height,
        stallTimeoutMs: cfg.stall_timeout_s * 1000, backoffInitialMs: cfg.backoff_initial_ms, backoffMaxMs: cfg.backoff_max_ms,
        onFrame: (id, t, rgb) => { this.#counters?.received.inc({ stage: 'ingest' }); this.sampler.offerDecoded(id, t, size.width, size.height, rgb); },
        log: this.#opts.log,
      });
      this.#ffmpegCams.set(c.id, f);
      f.start();
    } else {
      this.fleet.add(cam);
    }
  }

  async removeCamera(id: string): Promise<void> {
    this.#keys.delete(id);
    this.sampler.remove(id);
    this.#gate?.remove(id);
    const f = this.#ffmpegCams.get(id);
    if (f) { f.stop(); this.#ffmpegCams.delete(id); }
    await this.fleet.remove(id);
  }

  /** One camera's connection state and counters; undefined when it is not ingested here. */
  cameraStatus(id: string): CameraStatus | undefined {
    return this.fleet.status(id) ?? this.#ffmpegCams.get(id)?.status();
  }

  status(): CameraIngestStatus {
    return { cameras: [...this.fleet.statuses(), ...[...this.#ffmpegCams.values()].map((f) => f.status())], sampler: this.sampler.stats(), decoders: this.decoders.status() };
  }

  /** Process ids of the ffmpeg children, for CPU and memory accounting. */
  pids(): { decoders: number[]; ffmpegCameras: number[] } {
    return { decoders: this.decoders.pids(), ffmpegCameras: [...this.#ffmpegCams.values()].flatMap((f) => f.pids()) };
  }

  health(): ComponentHealth {
    const all = this.status().cameras;
    const streaming = all.filter((c) => c.state === 'streaming').length;
    // Down only when every camera has failed; cameras still connecting leave it degraded.
    const failed = all.filter((c) => c.state === 'failed').length;
    const state = all.length === 0 || streaming === all.length ? 'up' : failed === all.length ? 'down' : 'degraded';
    return state === 'up' ? { state, cameras: all.length } : { state, reason: `${all.length - streaming} of ${all.length} cameras not streaming`, cameras: all.length, streaming };
  }
}
