import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ComponentHealth, Logger, Registry } from '../core/index.ts';
import type { City } from '../config/index.ts';
import { ConsoleHub } from './hub.ts';
import { consolePlugin } from './plugin.ts';
import { CaseStats } from './stats.ts';
import { SessionStore, UserStore } from './users.ts';
import { LoginLimits } from './login-limits.ts';
import { cookieValue, routeGuard, SESSION_COOKIE, type RouteGuard } from './guard.ts';
import { can, type Permission } from './permissions.ts';
import { CityFileZoneStore, MemoryZoneStore } from './zone-store.ts';
import type { AlertArchive, FrameSource, CaseActions, ConsoleFeed, DetectorStatsSource, StatsSource, ZoneStore } from './types.ts';

export interface ConsoleServiceOptions {
  readonly city: City;
  readonly log: Logger;
  readonly dataDir: string;
  readonly metrics?: Registry;
  /** who carries out case actions: the router (the engine's `RouterCaseDesk`), or a factory given the console's feed */
  readonly actions: CaseActions | ((feed: ConsoleFeed) => CaseActions);
  /** the telemetry statistics API; defaults to statistics computed from the cases seen */
  readonly stats?: StatsSource;
  readonly detectorStats?: DetectorStatsSource;
  /** alerts and evidence beyond this node's memory; set by the engine with `useArchive` before `register` */
  readonly archive?: AlertArchive;
  /** defaults to the city's YAML file (or memory for a city built in code) */
  readonly zones?: ZoneStore;
  /** called with the new City after zones were saved, so ingest/detectors can reload zones */
  readonly onCityChanged?: (city: City) => void;
  /** the first admin's password (the engine passes GRIDWATCH_ADMIN_PASSWORD); else a random one printed to the log */
  readonly adminPassword?: string | undefined;
  readonly webDir?: string;
  /** a secret that lets programs read the guarded APIs without a session (`services.http.ops_token`) */
  readonly opsToken?: string | undefined;
}

/**
 * The operator console: construct, push into `feed`, `register(app)` on the engine's fastify
 * before it listens, `stop()` on shutdown.
 */
export class ConsoleService {
  readonly hub: ConsoleHub;
  readonly users: UserStore;
  readonly actions: CaseActions;
  #city: City;
  readonly #o: ConsoleServiceOptions;
  readonly #sessions: SessionStore;
  /** log-in limits per address, per user and source, and per user */
  readonly loginLimits = new LoginLimits();
  #archive: AlertArchive | undefined;
  #frames: FrameSource | undefined;

  constructor(o: ConsoleServiceOptions) {
    this.#o = o;
    this.#city = o.city;
    const settings = o.city.config.services.console;
    this.hub = new ConsoleHub({ replayMessages: settings.replay_messages, ...(o.metrics ? { metrics: o.metrics } : {}) });
    this.users = new UserStore(join(o.dataDir, 'console-users.json'));
    this.#sessions = new SessionStore({ idleMs: settings.session_idle_s * 1000, maxMs: settings.session_max_s * 1000 });
    // A changed or removed user's sessions end at once (and with them its live websockets).
    this.users.onChange((name) => this.#sessions.destroyUser(name));
    this.actions = typeof o.actions === 'function' ? o.actions(this.hub) : o.actions;
  }

  /**
   * Guards a route the console does not own (statistics, cluster view, metrics): a console
   * session whose role has `permission`, or the ops token as a Bearer token.
   */
  guard(permission: Permission): RouteGuard {
    return routeGuard(this.#sessions, permission, this.#o.opsToken || undefined);
  }

  /**
   * The console user behind a request's session cookie, for the Open311 API's reads: users with
   * `cases` read, a clerk only its department's cases; nobody posts through a session.
   */
  readonly sessionReader = (req: FastifyRequest): { name: string; department?: string; read: boolean; report: false; internal: true } | null => {
    const s = this.#sessions.get(cookieValue(req.headers.cookie, SESSION_COOKIE));
    if (!s || s.mustChangePassword) return null;
    const a = s.actor;
    return { name: `console:${a.username}`, ...(a.role === 'clerk' ? { department: a.department ?? '\u0000none' } : {}), read: can(a, 'cases'), report: false, internal: true };
  };

  /** The engine's alert archive (ClickHouse and the other nodes), for evidence the hub does not hold. */
  useArchive(archive: AlertArchive): void {
    this.#archive = archive;
  }

  /** Frames of the cameras other nodes ingest, for the wall and the zone editor on this node. */
  useFrames(frames: FrameSource): void {
    this.#frames = frames;
  }

  /** What the engine pushes alerts, case changes, positions, camera status and frames into. */
  get feed(): ConsoleFeed {
    return this.hub;
  }

  get city(): City {
    return this.#city;
  }

  async register(app: FastifyInstance): Promise<void> {
    const o = this.#o;
    const settings = o.city.config.services.console;
    await this.users.open(o.log, o.adminPassword || undefined);
    const onSaved = (city: City) => {
      this.#city = city;
      o.onCityChanged?.(city);
    };
    const zones = o.zones ?? (o.city.file === '<inline>' ? new MemoryZoneStore(o.city, onSaved) : new CityFileZoneStore(o.city.file, onSaved));
    await app.register(consolePlugin, {
      city: () => this.#city, log: o.log.child({ component: 'console' }), hub: this.hub, users: this.users, actions: this.actions,
      stats: o.stats ?? new CaseStats(o.city, () => this.hub.cases.values()),
      ...(o.detectorStats ? { detectorStats: o.detectorStats } : {}), zones,
      ...(this.#archive ?? o.archive ? { archive: (this.#archive ?? o.archive)! } : {}),
      ...(this.#frames ? { frames: this.#frames } : {}),
      sessions: this.#sessions, limits: this.loginLimits, secureCookies: settings.secure_cookies,
      ...(o.webDir ? { webDir: o.webDir } : {}),
    });
  }

  health(): ComponentHealth {
    return { state: 'up', reason: `${this.hub.clientCount} consoles connected` };
  }

  status() {
    return { clients: this.hub.clientCount, seq: this.hub.seq, alerts: this.hub.alerts.size, cases: this.hub.cases.size, terminals: this.hub.terminals.size };
  }

  async stop(): Promise<void> {
    this.hub.stop();
  }
}
