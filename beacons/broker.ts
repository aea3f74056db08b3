import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import { Counter, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';
import type { Principal, BrokerAcl } from './acl.ts';
import { BrokerListenError } from './errors.ts';
import { brokerPersistence } from './broker-persistence.ts';
import { BROKER_LIMITS, RetainedTopics, type BrokerLimits } from './broker-limits.ts';
import { ClientIds } from './client-ids.ts';
import { PacketGuard, guardSocket } from './packet-guard.ts';
import type { BeaconSource } from './source.ts';

export interface BrokerOptions {
  readonly host: string;
  readonly port: number;
  readonly acl: BrokerAcl;
  readonly log: Logger;
  readonly metrics: Registry;
  /** bounds on what one client may make the broker hold (`broker-limits.ts`) */
  readonly limits?: Partial<BrokerLimits>;
}

type Deliver = (topic: string, payload: Buffer) => void | PromiseLike<void>;

const principals = new WeakMap<Client, Principal>();
const guards = new WeakMap<Socket, PacketGuard>();
const LOG_INTERVAL_MS = 10_000;
const CONCURRENCY = 5_000;

/** Whether an MQTT topic matches a filter with `+` and `#` wildcards. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/'), t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/** The embedded aedes broker on a loopback port, with per-terminal log-in and topic rights. */
export class EmbeddedBroker {
  readonly #opts: BrokerOptions;
  #aedes: Aedes | null = null;
  #server: Server | null = null;
  #port = 0;
  readonly #refused: Counter<'terminal' | 'reason'>;
  readonly #lastLog = new Map<string, number>();
  readonly #limits: BrokerLimits;
  readonly #clientIds = new ClientIds();
  readonly #retained: RetainedTopics;
  readonly #perAddress = new Map<string, number>();
  /** the in-process source: its filters and where matching messages go */
  #deliver: { filters: readonly string[]; to: Deliver } | null = null;

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
    this.#limits = { ...BROKER_LIMITS, ...opts.limits };
    this.#retained = new RetainedTopics(this.#limits.retainedBytes, this.#limits.retainedTopics);
    this.#refused = new Counter({ name: 'gridwatch_mqtt_refused_total', help: 'MQTT log-ins and packets the embedded broker refused, by terminal (empty for a bad log-in) and reason', labelNames: ['terminal', 'reason'], registers: [opts.metrics] });
  }

  /** At most one warning per user and reason every 10 s: a looping terminal must not flood the log. */
  #warn(key: string, fields: object, msg: string): void {
    const now = Date.now();
    if (now - (this.#lastLog.get(key) ?? 0) < LOG_INTERVAL_MS) return;
    if (this.#lastLog.size > 10_000) this.#lastLog.clear();
    this.#lastLog.set(key, now);
    this.#opts.log.warn(fields, msg);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `mqtt://${this.#opts.host}:${this.#port}`;
  }

  health(): ComponentHealth {
    if (!this.#server?.listening) return { state: 'down', reason: 'embedded broker is not listening' };
    return { state: 'up', url: this.url, clients: this.#aedes?.connectedClients ?? 0 };
  }

  async start(): Promise<void> {
    const { acl, log } = this.#opts;
    const limits = this.#limits;
    const aedes = await Aedes.createBroker({
      persistence: brokerPersistence() as never,
      // Messages delivered at once; beyond it they queue in an array whose shift() is O(n), which
      // at 20,000 beacons a second took a fifth of the broker's time.
      concurrency: CONCURRENCY,
      connectTimeout: limits.connectTimeoutMs,
      authenticate: (client, username, password, done) => {
        const p = acl.authenticate(username, password?.toString());
        if (!p) {
          this.#refused.inc({ terminal: '', reason: 'bad_login' });
          this.#warn(`login|${username}`, { client: client.id, username }, 'MQTT log-in refused: bad user name or password');
          const err = Object.assign(new Error('bad user name or password'), { returnCode: 4 });
          return done(err as never, false);
        }
        const terminal = p.kind === 'terminal' ? p.terminalId : '';
        if (!this.#clientIds.claim(client.id, p.kind === 'terminal' ? `t:${p.terminalId}` : 'service')) {
          this.#refused.inc({ terminal, reason: 'client_id_taken' });
          this.#warn(`cid|${client.id}`, { client: client.id, username }, 'MQTT log-in refused: the client id belongs to another terminal');
          const err = Object.assign(new Error('client id in use by another terminal'), { returnCode: 2 });
          return done(err as never, false);
        }
        principals.set(client, p);
        // Logged in: packets up to the largest beacon (a report with its photo) may come now.
        const guard = guards.get(client.conn as Socket);
        if (guard) guard.limit = limits.packetBytes;
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        const p = client ? principals.get(client) : undefined;
        if (!p || !acl.mayPublish(p, packet.topic)) {
          this.#refused.inc({ terminal: p?.kind === 'terminal' ? p.terminalId : '', reason: 'foreign_topic' });
          this.#warn(`pub|${client?.id}`, { client: client?.id, topic: packet.topic }, 'MQTT publish refused: not this client\'s topic');
          return done(new Error(`not allowed to publish to ${packet.topic}`));
        }
        const payload = packet.payload as Buffer;
        if (packet.retain && !this.#retained.keep(packet.topic, payload.length)) {
          // Delivered, but not kept: retained messages live as long as the broker.
          packet.retain = false;
          this.#refused.inc({ terminal: p.kind === 'terminal' ? p.terminalId : '', reason: 'retained' });
        }
        this.#handOver(packet.topic, payload, done);
      },
      authorizeSubscribe: (client, sub, done) => {
        const p = principals.get(client);
        if (!p || !acl.maySubscribe(p)) {
          this.#refused.inc({ terminal: p?.kind === 'terminal' ? p.terminalId : '', reason: 'subscribe' });
          this.#warn(`sub|${client.id}`, { client: client.id, topic: sub.topic }, 'MQTT subscribe refused: terminals subscribe to nothing');
          return done(null, null); // a refused subscription is answered with a failure code, not a disconnect
        }
        done(null, sub);
      },
    });
    this.#aedes = aedes;
    aedes.on('clientDisconnect', (client) => {
      // A clean session leaves nothing to protect; a persistent one keeps its owner.
      if (client.clean && !(aedes as unknown as { clients: Record<string, Client> }).clients[client.id]) this.#clientIds.release(client.id);
    });
    const server = createServer((socket) => this.#accept(socket, aedes));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new BrokerListenError(this.#opts.host, this.#opts.port, err)));
        server.listen(this.#opts.port, this.#opts.host, () => resolve());
      });
    } catch (err) {
      // aedes runs its own timers from creation: left open, they kept a refused engine alive for good.
      this.#aedes = null;
      await new Promise<void>((r) => aedes.close(() => r()));
      throw err;
    }
    this.#server = server;
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : this.#opts.port;
    log.info({ url: this.url }, 'embedded MQTT broker up');
  }

  /** A new connection: counted per address, and its bytes guarded before aedes parses them. */
  #accept(socket: Socket, aedes: Aedes): void {
    const addr = socket.remoteAddress ?? '';
    const n = (this.#perAddress.get(addr) ?? 0) + 1;
    if (this.#limits.connectionsPerAddress > 0 && n > this.#limits.connectionsPerAddress) {
      this.#refused.inc({ terminal: '', reason: 'too_many_connections' });
      this.#warn(`addr|${addr}`, { address: addr, limit: this.#limits.connectionsPerAddress }, 'MQTT connection refused: too many from one address');
      socket.destroy();
      return;
    }
    this.#perAddress.set(addr, n);
    socket.once('close', () => {
      const left = (this.#perAddress.get(addr) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(addr, left);
      else this.#perAddress.delete(addr);
    });
    const guard = new PacketGuard(this.#limits.connectBytes);
    guards.set(socket, guard);
    guardSocket(socket, guard, (why) => {
      const client = (socket as Socket & { client?: Client }).client;
      const p = client ? principals.get(client) : undefined;
      this.#refused.inc({ terminal: p?.kind === 'terminal' ? p.terminalId : '', reason: why === 'too_large' ? (p ? 'packet_too_large' : 'connect_too_large') : 'malformed' });
      this.#warn(`guard|${addr}|${why}`, { address: addr, client: client?.id, limit: guard.limit }, `MQTT connection closed: ${why === 'too_large' ? 'a packet over the size limit' : 'a malformed packet length'}`);
    });
    aedes.handle(socket);
  }

  /**
   * A message the broker accepted: handed to the in-process source, if it wants that topic, before
   * aedes answers. A QoS 1 PUBACK leaves only once the source's promise is settled (the rows are
   * safe on disk); when it fails the connection is closed unacknowledged, and the terminal sends
   * the message again. aedes itself writes the PUBACK before it delivers to subscribers, so the
   * source is not an aedes subscription. Last wills come this way too.
   */
  #handOver(topic: string, payload: Buffer, done: (err: Error | null) => void): void {
    const d = this.#deliver;
    if (!d || !d.filters.some((f) => matches(f, topic))) return done(null);
    let settled: void | PromiseLike<void>;
    try {
      settled = d.to(topic, payload);
    } catch (err) {
      return done(err as Error);
    }
    if (!settled) return done(null);
    settled.then(() => done(null), (err: unknown) => {
      this.#warn('unsafe', { topic, err: (err as Error)?.message }, 'MQTT message not acknowledged: it could not be stored safely; the terminal will send it again');
      done(err as Error);
    });
  }

  /**
   * Beacons straight from the broker, in process: no second MQTT hop, no PUBLISH/PUBACK pair and
   * no in-flight queue per message. A terminal's QoS 1 message is acknowledged only once
   * `onMessage` has taken it and the promise it returned (if any) is resolved.
   */
  source(): BeaconSource {
    return {
      kind: 'in-process',
      subscribe: async (filters, onMessage) => {
        if (!this.#aedes) throw new BrokerListenError(this.#opts.host, this.#opts.port, new Error('the embedded broker is not started'));
        this.#deliver = { filters: [...filters], to: onMessage };
      },
      unsubscribe: async () => {
        this.#deliver = null;
      },
    };
  }

  async stop(): Promise<void> {
    const server = this.#server, aedes = this.#aedes;
    this.#server = null;
    this.#aedes = null;
    if (aedes) await new Promise<void>((r) => aedes.close(() => r()));
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
