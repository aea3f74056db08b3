import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorMessage, type HealthRegistry, type Logger, type Registry } from '../core/index.ts';
import type { CameraT, City } from '../config/index.ts';
import { publishWithRetry } from '../bus/index.ts';
import { cameraEvent, type GridEventT } from '../domain/index.ts';
import { CameraIngest, type CameraStatus as IngestCameraStatus } from '../ingest/index.ts';
import { DetectorStage, type FrameSnapshot, type Violation } from '../detectors/index.ts';
import type { ConsoleAlert, ConsoleFeed, DetectorZoneStats } from '../console/index.ts';
import type { TelemetryWriter } from '../telemetry/index.ts';

interface SampleTally {
  count: number;
  /** Capture times (ms since the epoch) of the first and the last sample, 0 when none yet. */
  firstMs: number;
  lastMs: number;
}

/** How often camera status goes to the console and to ClickHouse. */
const STATUS_EVERY_MS = 10_000;
/** Cameras with samples waiting for a detector worker, per worker, before decoding holds back. */
const DETECTOR_QUEUE_PER_WORKER = 4;

function consoleState(s: IngestCameraStatus): 'up' | 'degraded' | 'down' {
  return s.state === 'streaming' ? 'up' : s.state === 'stalled' || s.state === 'connecting' ? 'degraded' : 'down';
}

function alertOf(event: GridEventT, v: Violation): ConsoleAlert {
  const path = event.place.path;
  return {
    id: event.id, cameraId: v.cameraId, zoneId: v.zoneId, category: event.category,
    lat: event.place.lat, lon: event.place.lon, cell: path[path.length - 1] ?? '', path,
    className: v.class, score: v.score, dwellS: v.dwellS, box: v.box, ts: v.confirmedMs, model: `${v.model.name} ${v.model.version}`,
  };
}

/** What the camera pipeline is given: where events, alerts, rows and status go. */
export interface CameraPipelinePorts {
  readonly city: City;
  readonly nodeId: string;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly health: HealthRegistry;
  readonly dataDir: string;
  /** Aborted when the engine stops: publish retries give up. */
  readonly signal: AbortSignal;
  /** Events go to JetStream on this connection. */
  readonly nc: NatsConnection;
  readonly telemetry: Pick<TelemetryWriter, 'write'>;
  readonly console: ConsoleFeed;
}

/**
 * Cameras → samples → detectors → violations → events, for the cameras this node holds leases
 * for. A new violation becomes one event on JetStream (the router makes the case), one alert in
 * the console with its evidence, and one `events` row in ClickHouse.
 */
export class CameraPipeline {
  readonly #ports: CameraPipelinePorts;
  readonly #owned = new Set<string>();
  /** Owned cameras not yet applied that another node sampled until now (their first sample here is at once). */
  readonly #handedOver = new Set<string>();
  #ingest: CameraIngest | null = null;
  #detectors: DetectorStage | null = null;
  #statusTimer: NodeJS.Timeout | null = null;
  #lastStatusAt = Date.now();
  #apply: Promise<void> = Promise.resolve();
  /** Samples taken per camera since this node last acquired it, for the cluster view. */
  readonly #samples = new Map<string, SampleTally>();
  /** Capture time of each owned camera's latest frame JPEG handed to the console. */
  readonly #frameTs = new Map<string, number>();
  /** The tally of each camera this node last gave up, to count samples lost in a hand-over. */
  readonly #released = new Map<string, SampleTally & { releasedMs: number }>();

  constructor(ports: CameraPipelinePorts) {
    this.#ports = ports;
  }

  get ingest(): CameraIngest | null {
    return this.#ingest;
  }

  get detectors(): DetectorStage | null {
    return this.#detectors;
  }

  async start(): Promise<void> {
    const e = this.#ports;
    const city = e.city;
    const ctx = { log: e.log.child({ component: 'detectors' }), metrics: e.metrics, health: e.health, dataDir: e.dataDir };
    this.#detectors = new DetectorStage({ cameras: [...city.cameras.values()], config: city.config.detectors, ctx, onViolation: (v) => this.#onViolation(v), onSnapshot: (f) => this.#onSnapshot(f),
      watched: (id) => e.console.watching(id),
      // What the detectors did with each sample teaches the gate before decoding its noise band;
      // each result also makes room for keyframes held back by the detectors' back-pressure.
      onDetections: (r) => { this.#ingest?.verdict(r.cameraId, r.captureTimeMs, r.inferred); this.#ingest?.sampler.wake(); },
      upstreamBacklog: () => this.#ingest?.sampler.backlog ?? 0 });
    await this.#detectors.start();
    const detectors = this.#detectors;
    const { frame_width: width, frame_height: height } = city.config.ingest;
    const gate = { reverifyMs: city.config.detectors.reverify_s * 1000, timing: (id: string) => detectors.timing(id) };
    // Decode no further ahead than a few cameras per detector worker: past that, frames decoded
    // wait (their latency grows) and are dropped (their decode wasted), and the decoders take the
    // workers' CPU. Keyframes wait in the sampler instead, where the earliest deadline goes first.
    const downstream = { waiting: () => detectors.waiting, limit: DETECTOR_QUEUE_PER_WORKER * detectors.status().pool.workers.length };
    this.#ingest = new CameraIngest({ config: city.config.ingest, frameSize: { width, height }, gate, downstream, onSample: (s) => {
      const n = this.#samples.get(s.cameraId);
      if (n) (n.count++, (n.lastMs = s.captureTimeMs), n.firstMs || (n.firstMs = s.captureTimeMs));
      void detectors.submit(s);
    }, log: e.log.child({ component: 'ingest' }), ctx: { metrics: e.metrics, health: e.health } });
    await this.#ingest.start();
    this.#statusTimer = setInterval(() => this.#reportStatus(), STATUS_EVERY_MS);
    this.#statusTimer.unref();
  }

  /**
   * The detector stage's figures per camera and zone of the cameras this node ingests, for the
   * console's tuning view: inference ms p50/p99 (the camera's last 64 inferred samples), samples
   * received, dropped (queue full) and gated (not inferred, the picture barely changed).
   */
  detectorStats(): DetectorZoneStats[] {
    const pool = this.#detectors?.status().pool;
    if (!pool) return [];
    const rows: DetectorZoneStats[] = [];
    for (const id of this.#owned) {
      const c = pool.cameras[id];
      const cam = this.#ports.city.cameras.get(id);
      if (!cam) continue;
      // Samples the gate before decoding skipped never reach the detectors: they count as gated.
      const skipped = this.#ingest?.gateStats(id)?.skipped ?? 0;
      const figures = c ? {
        samples: c.received + skipped, dropped: c.dropped, gated: c.gated + skipped, decodesSkipped: skipped,
        ...(c.inferred > 0 ? { inferenceMsP50: c.p50Ms, inferenceMsP99: c.p99Ms } : {}),
        ...(c.received + skipped > 0 ? { gatingSavedRatio: (c.gated + skipped) / (c.received + skipped) } : {}),
      } : { samples: skipped, dropped: 0, gated: skipped, decodesSkipped: skipped };
      // The figures are the camera's; each of its zones shows them beside its own alerts.
      for (const zoneId of cam.zones.length ? cam.zones.map((z) => z.id) : ['']) rows.push({ cameraId: id, zoneId, ...figures });
    }
    return rows;
  }

  /** A camera's latest sample as a small JPEG: to the console's camera wall and zone editor. */
  #onSnapshot(f: FrameSnapshot): void {
    if (!this.#owned.has(f.cameraId)) return; // released while the JPEG was made
    const first = !this.#frameTs.has(f.cameraId);
    this.#frameTs.set(f.cameraId, f.captureTimeMs);
    this.#ports.console.frame(f.cameraId, f.jpeg, f.captureTimeMs);
    // The wall learns of a camera's first picture at once, not at the next status round.
    if (first) this.#reportStatus(f.cameraId);
  }

  /** Zones were edited and saved (console): detection uses them from the next sample. */
  reloadZones(city: City): void {
    this.#detectors?.setCameras([...city.cameras.values()]);
  }

  /**
   * The lease holder tells which cameras this node ingests; applied in order, never concurrently.
   * `handedOver`: another node sampled it until now, so its first sample here is taken at once.
   */
  own(cameraId: string, owned: boolean, handedOver = false): void {
    if (owned) {
      this.#owned.add(cameraId);
      this.#samples.set(cameraId, { count: 0, firstMs: 0, lastMs: 0 });
      if (handedOver) this.#handedOver.add(cameraId);
    } else {
      this.#handedOver.delete(cameraId);
      const n = this.#samples.get(cameraId);
      if (n) this.#released.set(cameraId, { ...n, releasedMs: Date.now() });
      this.#owned.delete(cameraId);
      this.#samples.delete(cameraId);
      this.#frameTs.delete(cameraId);
    }
    this.#apply = this.#apply.then(() => this.#applyOwned()).catch((err) => this.#ports.log.error({ err: errorMessage(err) }, 'could not apply camera leases'));
  }

  /**
   * Per owned camera: samples taken since it was acquired, capture times of the first and last;
   * and the same for the cameras it gave up last, with when.
   */
  samples(): { owned: Record<string, SampleTally>; released: Record<string, SampleTally & { releasedMs: number }> } {
    return { owned: Object.fromEntries([...this.#samples].map(([id, n]) => [id, { ...n }])), released: Object.fromEntries(this.#released) };
  }

  async #applyOwned(): Promise<void> {
    if (!this.#ingest) return;
    const cameras: CameraT[] = [];
    for (const id of this.#owned) {
      const c = this.#ports.city.cameras.get(id);
      if (c?.enabled) cameras.push(c);
    }
    const handedOver = new Set(this.#handedOver);
    this.#handedOver.clear();
    await this.#ingest.setCameras(cameras, handedOver);
  }

  async #onViolation(v: Violation): Promise<void> {
    if (v.state !== 'new') return;
    const e = this.#ports;
    const event = cameraEvent(e.city, {
      id: v.id, type: v.rule, category: v.rule, cameraId: v.cameraId, zoneId: v.zoneId, class: v.class, box: v.box,
      dwell_s: Math.round(v.dwellS), score: Math.min(1, Math.max(0, v.score)), count: v.count, firstSeen: new Date(v.firstSeenMs), confirmedAt: new Date(v.confirmedMs),
      evidence: [`/api/alerts/${v.id}/evidence.jpg`], model: v.model,
    });
    if (!event) return;
    // The console serves the JPEG from disk (or asks this node for it): it is not held in memory.
    e.console.alert(alertOf(event, v), v.evidence ? { node: e.nodeId, path: v.evidence.annotated } : undefined);
    const published = await publishWithRetry(jetstream(e.nc), event, {
      signal: e.signal,
      onGiveUp: (err) => e.log.error({ event: event.id, err: errorMessage(err) }, 'violation event not published'),
    });
    if (!published) return;
    const [district = '', street = '', community = ''] = event.place.path;
    e.telemetry.write('events', {
      ts: v.confirmedMs, event_id: event.id, category: event.category, standard_code: event.standard_code ?? '', local_code: event.local_code ?? '', source: 'camera', source_id: v.cameraId,
      district, street, cell: event.place.path[event.place.path.length - 1] ?? '', lat: event.place.lat, lon: event.place.lon,
      class: v.class, score: event.object!.score, dwell_s: v.dwellS, zone: v.zoneId, model: v.model.name, model_version: v.model.version, snapshot: v.evidence?.annotated ?? '',
      node: e.nodeId, box_x: v.box[0], box_y: v.box[1], box_w: v.box[2], box_h: v.box[3], community,
      count: v.count ?? 0,
    });
  }

  /** Every camera's status to the console and ClickHouse; with `only`, that camera's to the console alone. */
  #reportStatus(only?: string): void {
    const e = this.#ports;
    if (!this.#ingest) return;
    const now = Date.now();
    const intervalS = (now - this.#lastStatusAt) / 1000;
    if (!only) this.#lastStatusAt = now;
    // One camera's first picture must not describe every camera: 1,000 of them arrive at a start.
    const one = only === undefined ? undefined : this.#ingest.cameraStatus(only);
    for (const s of only === undefined ? this.#ingest.status().cameras : one ? [one] : []) {
      // frameTs is the picture the console can show (the wall reloads a tile when it changes).
      const frameTs = this.#frameTs.get(s.id);
      e.console.cameraStatus({ cameraId: s.id, state: consoleState(s), ...(s.reason ? { reason: String(s.reason) } : {}), ts: now, ...(frameTs ? { frameTs } : {}) });
      if (only) continue;
      e.telemetry.write('camera_status', {
        ts: now, node: e.nodeId, camera: s.id, state: s.state === 'failed' ? 'backoff' : s.state, interval_s: intervalS, fps: 0, bitrate_kbps: 0,
        gaps: s.counters.gaps, reconnects: s.counters.reconnects, samples: 0, drops: s.counters.droppedAccessUnits,
      });
    }
  }

  async stop(): Promise<void> {
    if (this.#statusTimer) clearInterval(this.#statusTimer);
    await this.#apply;
    await this.#ingest?.stop();
    await this.#detectors?.stop();
  }
}
