import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { HealthRegistry, createMetricsRegistry, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';
import type { City } from '../config/index.ts';
import { EmbeddedNatsServer, BusConnection } from '../bus/index.ts';
import { EmbeddedBroker, BrokerAcl, BeaconIngest, sessionSource } from '../beacons/index.ts';
import { openTelemetryStore, migrate, createTelemetryWriter, registerStatsRoutes, statsCity, TelemetryStats, type TelemetryStore, type TelemetryWriter } from '../telemetry/index.ts';
import { createHttpServer, registerMetricsRoute, ConsoleService } from '../console/index.ts';
import { CameraLeases, Leadership } from '../cluster/index.ts';
import { CaseRouter, registerRouterApi } from '../router/index.ts';
import { ServiceMqttClient } from './mqtt-client.ts';
import { RouterCaseDesk } from './router-desk.ts';
import type { EngineAddOn } from './add-on.ts';
import { CameraPipeline } from './camera-pipeline.ts';
import { EngineAlertArchive } from './alert-archive.ts';
import { CameraShare } from './camera-share.ts';
import { recordCaseSteps } from './case-telemetry.ts';
import { forwardBeacons } from './beacon-feed.ts';
import { TelemetryConsoleStats } from './console-stats.ts';
import { registerClusterApi } from './cluster-api.ts';
import { EngineStartError } from './errors.ts';

export interface EngineOptions {
  readonly city: City;
  readonly log: Logger;
  readonly nodeId?: string;
  /** Environment overrides: NATS_URL, MQTT_URL, CLICKHOUSE_URL, PORT, GRIDWATCH_DATA_DIR. */
  readonly env?: NodeJS.ProcessEnv;
  /** Started once the services run, before cameras and HTTP; stopped first (the demo's simulators). */
  readonly addOns?: readonly EngineAddOn[];
}

type Step = { name: string; stop: () => Promise<void> };

/** How long a stop took, in all and per component (in the order they stopped). */
export interface StopTimes {
  readonly ms: number;
  readonly steps: readonly { readonly component: string; readonly ms: number }[];
}

/**
 * The composition root. Starts NATS, MQTT, ClickHouse and HTTP in order (embedded ones when no
 * URL is configured) and stops them in reverse, so that nothing accepted is lost on shutdown.
 */
export class Engine {
  readonly city: City;
  readonly log: Logger;
  readonly nodeId: string;
  readonly dataDir: string;
  readonly health = new HealthRegistry();
  readonly metrics: Registry = createMetricsRegistry();
  readonly #env: NodeJS.ProcessEnv;
  readonly #abort = new AbortController();
  #started: Step[] = [];
  readonly #addOns: readonly EngineAddOn[];
  readonly #ownedCameras = new Set<string>();
  #natsServer: EmbeddedNatsServer | null = null;
  #broker: EmbeddedBroker | null = null;
  #bus: BusConnection | null = null;
  #mqtt: ServiceMqttClient | null = null;
  #telemetry: TelemetryStore | null = null;
  #telemetryWriter: TelemetryWriter | null = null;
  #beacons: BeaconIngest | null = null;
  #http: FastifyInstance | null = null;
  #leases: CameraLeases | null = null;
  #cameras: CameraPipeline | null = null;
  #console: ConsoleService | null = null;
  #router: CaseRouter | null = null;
  #routerLeadership: Leadership | null = null;

  constructor(opts: EngineOptions) {
    this.city = opts.city;
    this.log = opts.log;
    this.#env = opts.env ?? process.env;
    this.#addOns = opts.addOns ?? [];
    const services = this.city.config.services;
    this.nodeId = opts.nodeId ?? services.node_id ?? 'node-1';
    this.dataDir = resolve(this.#env.GRIDWATCH_DATA_DIR ?? services.data_dir);
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** The embedded nats-server, when the engine runs one. */
  get natsServer(): EmbeddedNatsServer | null {
    return this.#natsServer;
  }

  get broker(): EmbeddedBroker | null {
    return this.#broker;
  }

  // The parts, read-only, once started (tests and the CLI read them; no part reaches in here).
  get bus(): BusConnection { return started(this.#bus, 'NATS connection'); }
  get mqtt(): ServiceMqttClient { return started(this.#mqtt, 'MQTT client'); }
  get telemetry(): TelemetryStore { return started(this.#telemetry, 'ClickHouse'); }
  /** Batched, spooled writes to the telemetry tables. */
  get telemetryWriter(): TelemetryWriter { return started(this.#telemetryWriter, 'telemetry writer'); }
  get beacons(): BeaconIngest { return started(this.#beacons, 'terminal beacons'); }
  get http(): FastifyInstance { return started(this.#http, 'HTTP server'); }
  get leases(): CameraLeases { return started(this.#leases, 'camera leases'); }
  get cameras(): CameraPipeline { return started(this.#cameras, 'camera pipeline'); }
  get console(): ConsoleService { return started(this.#console, 'console'); }
  get router(): CaseRouter { return started(this.#router, 'router'); }
  /** Which node's router is the active one; the others keep a live view of the cases. */
  get routerLeadership(): Leadership { return started(this.#routerLeadership, 'router leadership'); }
  /** Cameras this node ingests: those it holds a lease for. */
  get ownedCameras(): ReadonlySet<string> { return this.#ownedCameras; }

  get httpUrl(): string {
    const addr = this.#http?.server.address();
    return typeof addr === 'object' && addr ? `http://${addr.address}:${addr.port}` : '';
  }

  async #step<T>(name: string, start: () => Promise<T>, stop: (v: T) => Promise<void>): Promise<T> {
    let v: T;
    try {
      v = await start();
    } catch (err) {
      throw new EngineStartError(name, err);
    }
    this.#started.push({ name, stop: () => stop(v) });
    return v;
  }

  async start(): Promise<void> {
    const opsToken = this.#env.GRIDWATCH_OPS_TOKEN;
    if (opsToken !== undefined && opsToken.length < 24) throw new EngineStartError('ops token', new Error('GRIDWATCH_OPS_TOKEN must be at least 24 characters (like services.http.ops_token)'));
    mkdirSync(this.dataDir, { recursive: true });
    const services = this.city.config.services;
    const log = this.log;
    try {
      // NATS: external when a URL is given, else nats-server with JetStream in the data folder.
      let natsUrl = this.#env.NATS_URL ?? services.nats.url;
      if (!natsUrl) {
        const server = new EmbeddedNatsServer({ dataDir: this.dataDir, port: services.nats.port, serverName: `gridwatch-${this.nodeId}`, log: log.child({ component: 'nats-server' }) });
        this.#natsServer = await this.#step('embedded nats-server', async () => (await server.start(), server), (s) => s.stop());
        natsUrl = server.url;
      }
      const bus = this.#bus = await this.#step('NATS connection', () => BusConnection.open(natsUrl!, `gridwatch-${this.nodeId}`, log.child({ component: 'bus' })), (b) => b.drain());
      const server = this.#natsServer;
      this.health.register('nats', { health: () => joinHealth(server?.health(), bus.health()) });

      // MQTT: external broker by URL, or aedes on a loopback port; gridwatch logs in as the service user.
      const mqttUrl = this.#env.MQTT_URL ?? services.mqtt.url;
      let auth = { username: services.mqtt.username, password: services.mqtt.password };
      let url = mqttUrl;
      if (!url) {
        const acl = new BrokerAcl(this.city.terminals.values(), auth);
        const beacons = this.city.config.beacons;
        // After log-in the largest valid packet is a report (base64 photo, text, topic). 64 KiB of
        // room over it: a payload a little too large is refused by validation with its reason; a
        // packet beyond closes the connection before it is read.
        const limits = { packetBytes: Math.ceil(beacons.photo_max_bytes / 3) * 4 + 16_384 + 64 * 1024, retainedBytes: beacons.max_payload_bytes, connectionsPerAddress: services.mqtt.max_connections_per_address };
        const broker = new EmbeddedBroker({ host: services.mqtt.host, port: Number(this.#env.MQTT_PORT ?? services.mqtt.port), acl, log: log.child({ component: 'mqtt-broker' }), metrics: this.metrics, limits });
        this.#broker = await this.#step('embedded MQTT broker', async () => (await broker.start(), broker), (b) => b.stop());
        url = broker.url;
        auth = { username: acl.serviceUser, password: acl.servicePassword };
      }
      const mqtt = this.#mqtt = await this.#step('MQTT service client', () => ServiceMqttClient.open(url!, auth, `gridwatch-${this.nodeId}`, log.child({ component: 'mqtt' })), (c) => c.close());
      const broker = this.#broker;
      this.health.register('mqtt', { health: () => joinHealth(broker?.health(), mqtt.health()) });

      // ClickHouse: embedded chdb in the data folder, or a server by URL.
      const telemetry = this.#telemetry = await this.#step('ClickHouse', () => openTelemetryStore(services, this.dataDir), (t) => t.close());
      this.health.register('clickhouse', telemetry);
      // Telemetry: schema migrations, then the batched writer with its on-disk spool in the data folder.
      await this.#step('ClickHouse migrations', () => migrate(telemetry, { tz: this.city.config.city.timezone }), async () => undefined);
      const writer = createTelemetryWriter(services, { store: telemetry, dataDir: this.dataDir, log: log.child({ component: 'telemetry' }), metrics: this.metrics });
      this.#telemetryWriter = await this.#step('telemetry writer', async () => (await writer.start(), writer), (w) => w.stop());
      this.health.register('telemetry-writer', writer);

      // Router: events → cases → departments; its Open311 and case API go on the HTTP server below.
      await this.#startRouter();

      // Terminal beacons: positions, reports and status, in process from the embedded broker, or
      // from the service user's session on an external one.
      const source = this.#broker?.source() ?? sessionSource(this.mqtt.client);
      const beacons = this.#beacons = new BeaconIngest({ city: this.city, source, store: this.telemetry, writer, nc: this.bus.nc, log: log.child({ component: 'beacons' }), metrics: this.metrics, dataDir: this.dataDir });
      await this.#step('terminal beacons', async () => (await beacons.start(), beacons), (b) => b.stop());
      this.health.register('beacons', beacons);

      // HTTP: created here, so that the API, the console and the statistics register on it; it
      // listens last, once everything it reports on runs, and closes first on shutdown.
      const port = Number(this.#env.PORT ?? services.http.port);
      this.#http = createHttpServer({ host: services.http.host, port, log, health: this.health, metrics: this.metrics });
      await this.#startConsole();
      // Demo simulators: they need everything above, and stop before it.
      for (const addOn of this.#addOns) {
        await this.#step(addOn.name, () => addOn.start({ city: this.city, log, dataDir: this.dataDir, nc: bus.nc, mqttUrl: url! }), (stop) => stop());
      }
      await this.#startCameras();
      registerClusterApi(this.http, this.console.guard('tuning'), { nodeId: this.nodeId, samplePeriodS: this.city.config.ingest.sample_period_s, leases: this.leases, router: this.router, routerLeadership: this.routerLeadership, cameras: this.cameras });
      await this.#step('HTTP server', async () => void (await this.http.listen({ host: services.http.host, port })), async () => this.http.close());
      log.info({ node: this.nodeId, http: this.httpUrl, nats: natsUrl, mqtt: url, clickhouse: telemetry.mode, dataDir: this.dataDir }, 'gridwatch started');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Every node keeps a live view of all cases (KV watch), so that its console and API work; one
   * node's router, the holder of the `router` role, consumes events, answers acks and fires
   * deadlines. A standby takes over within lease_ms + tick_ms of the leader's death, at once
   * after a clean stop. A single node leads from its first tick, before the engine goes on.
   */
  async #startRouter(): Promise<void> {
    const cluster = this.city.config.services.cluster;
    const router = new CaseRouter({ city: this.city, nc: this.bus.nc, log: this.log.child({ component: 'router' }), metrics: this.metrics, replicas: cluster.replicas });
    this.#router = await this.#step('router', async () => (await router.open(), router), (r) => r.stop());
    this.health.register('router', router);
    // Rows for the transitions this node wrote: each transition is written by one node only.
    const stopCaseSteps = recordCaseSteps(router, this.telemetryWriter);
    this.#started.push({ name: 'case telemetry', stop: async () => stopCaseSteps() });
    const leadership = new Leadership({
      nc: this.bus.nc, role: 'router', nodeId: this.nodeId, log: this.log.child({ component: 'leadership' }), metrics: this.metrics,
      leaseMs: cluster.lease_ms, tickMs: cluster.tick_ms, replicas: cluster.replicas,
      onLead: () => router.lead(), onFollow: () => router.follow(),
    });
    this.#routerLeadership = await this.#step('router leadership', async () => (await leadership.start(), leadership), (l) => l.stop());
    // The role's lease (a lease_ms that disagrees with the cluster's, an unreachable bucket)
    // shows under the router's health.
    this.health.register('router', { health: () => {
      const r = router.health(), l = leadership.health();
      return l.state === 'up' || r.state !== 'up' ? r : { ...r, state: 'degraded', reason: `router leadership: ${l.reason}` };
    } });
  }

  /** The statistics API, the console (its case actions go to the router), and the router's API. */
  async #startConsole(): Promise<void> {
    const telemetryStats = new TelemetryStats(this.telemetry, statsCity(this.city));
    const desk = new RouterCaseDesk(this.router, (v) => this.telemetryWriter.write('verdicts', {
      ts: Date.now(), event_id: v.alert.id, case_id: v.caseId ?? '', camera: v.alert.cameraId, zone: v.alert.zoneId, category: v.alert.category,
      district: v.alert.path[0] ?? '', cell: v.alert.cell, verdict: v.verdict, reason: v.reason ?? '', operator: v.operator, model_version: v.alert.model ?? '',
    }));
    const closedByWorker = async () => {
      const closed = new Map<string, number>();
      for (const c of consoleService.hub.cases.values()) if (c.state === 'closed' && c.reporter) closed.set(c.reporter, (closed.get(c.reporter) ?? 0) + 1);
      return closed;
    };
    const stats = new TelemetryConsoleStats(telemetryStats, this.city, closedByWorker);
    const consoleService = this.#console = new ConsoleService({ city: this.city, log: this.log, dataDir: this.dataDir, metrics: this.metrics, actions: desk, stats, detectorStats: { detectorStats: async () => this.#cameras?.detectorStats() ?? [] }, onCityChanged: (city) => this.#cameras?.reloadZones(city), adminPassword: this.#env.GRIDWATCH_ADMIN_PASSWORD, opsToken: this.#env.GRIDWATCH_OPS_TOKEN ?? this.city.config.services.http.ops_token });
    desk.attach(consoleService.feed);
    // Alerts and evidence beyond this node's memory: stored alerts loaded, shared live with the other nodes.
    const archive = new EngineAlertArchive({
      city: this.city, nodeId: this.nodeId, dataDir: this.dataDir, nc: this.bus.nc, telemetry: this.telemetry, hub: consoleService.hub,
      log: this.log.child({ component: 'alert-archive' }), retentionDays: this.city.config.services.console.evidence_retention_days,
    });
    consoleService.useArchive(archive);
    await this.#step('alert archive', async () => (await archive.start(), archive), async (a) => a.stop());
    // The camera wall on every node: statuses shared, frames asked of the node that ingests the camera.
    const cameraShare = new CameraShare({ nodeId: this.nodeId, nc: this.bus.nc, hub: consoleService.hub, owned: () => this.#ownedCameras });
    consoleService.useFrames(cameraShare);
    await this.#step('camera share', async () => (cameraShare.start(), cameraShare), async (c) => c.stop());
    registerStatsRoutes(this.http, telemetryStats, { guard: consoleService.guard('stats') });
    registerMetricsRoute(this.http, this.metrics, consoleService.guard('tuning'));
    await this.#step('console', () => consoleService.register(this.http), async () => (desk.close(), consoleService.stop()));
    this.health.register('console', consoleService);
    const stopBeaconFeed = this.beacons.onBeacon(forwardBeacons(consoleService.feed));
    this.#started.push({ name: 'beacon feed', stop: async () => void stopBeaconFeed() });
    const open311 = this.city.config.services.open311;
    registerRouterApi(this.http, this.router, { caseRoutes: false, open311: { clients: open311.clients, jurisdictionId: open311.jurisdiction_id, postPerMinute: open311.post_per_minute, caller: consoleService.sessionReader } });
  }

  /** Ingest and detectors, for the cameras this node holds leases for; a single node gets them all. */
  async #startCameras(): Promise<void> {
    const pipeline = new CameraPipeline({
      city: this.city, nodeId: this.nodeId, log: this.log, metrics: this.metrics, health: this.health, dataDir: this.dataDir, signal: this.signal,
      nc: this.bus.nc, telemetry: this.telemetryWriter, console: this.console.feed,
    });
    this.#cameras = await this.#step('camera pipeline', async () => (await pipeline.start(), pipeline), (p) => p.stop());
    const cluster = this.city.config.services.cluster;
    const enabledCameras = [...this.city.cameras.values()].filter((c) => c.enabled).map((c) => c.id);
    const leases = this.#leases = new CameraLeases({
      nc: this.bus.nc, nodeId: this.nodeId, cameraIds: enabledCameras, log: this.log.child({ component: 'leases' }), metrics: this.metrics,
      leaseMs: cluster.lease_ms, tickMs: cluster.tick_ms, replicas: cluster.replicas,
      onAcquire: (id, how) => (this.#ownedCameras.add(id), pipeline.own(id, true, how.handedOver)),
      onRelease: (id) => (this.#ownedCameras.delete(id), pipeline.own(id, false)),
    });
    await this.#step('camera leases', async () => (await leases.start(), leases), (l) => l.stop());
    this.health.register('cluster', leases);
  }

  /**
   * Stops every started component in reverse order; each gets its own chance even if one fails.
   * Returns how long each took (logged too, the slowest first), for the ops engineer whose
   * supervisor kills a stop that runs past its grace period.
   */
  async stop(): Promise<StopTimes> {
    this.#abort.abort();
    const steps = this.#started.reverse();
    this.#started = [];
    const t0 = performance.now();
    const took: { component: string; ms: number }[] = [];
    for (const s of steps) {
      const t = performance.now();
      try {
        await s.stop();
      } catch (err) {
        this.log.error({ component: s.name, err: (err as Error).message }, 'error while stopping');
      }
      took.push({ component: s.name, ms: Math.round(performance.now() - t) });
    }
    const times: StopTimes = { ms: Math.round(performance.now() - t0), steps: took };
    if (took.length) this.log.info({ ms: times.ms, slowest: [...took].sort((a, b) => b.ms - a.ms).slice(0, 3) }, 'components stopped');
    return times;
  }
}

/** An embedded server and our client of it: up only when both are. */
function joinHealth(server: ComponentHealth | undefined, client: ComponentHealth): ComponentHealth {
  if (server && server.state !== 'up') return { ...server, client: client.state };
  return server ? { ...client, embedded: true } : { ...client, embedded: false };
}

function started<T>(part: T | null, name: string): T {
  if (part === null) throw new Error(`the engine has not started its ${name}`);
  return part;
}
