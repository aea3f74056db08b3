import { createServer, type Server } from 'node:net';
import { Aedes, type AedesPublishPacket, type Client } from 'aedes';
import { Counter, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';
import type { Principal, BrokerAcl } from './acl.ts';
import { BrokerListenError } from './errors.ts';
import { brokerPersistence } from './broker-persistence.ts';
import type { BeaconSource } from './source.ts';

export interface BrokerOptions {
  readonly host: string;
  readonly port: number;
  readonly acl: BrokerAcl;
  readonly log: Logger;
  readonly metrics: Registry;
}

const principals = new WeakMap<Client, Principal>();
const LOG_INTERVAL_MS = 10_000;
const CONCURRENCY = 5_000;

/** The embedded aedes broker on a loopback port, with per-terminal log-in and topic rights. */
export class EmbeddedBroker {
  readonly #opts: BrokerOptions;
  #aedes: Aedes | null = null;
  #server: Server | null = null;
  #port = 0;
  readonly #refused: Counter<'terminal' | 'reason'>;
  readonly #lastLog = new Map<string, number>();

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
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
    const aedes = await Aedes.createBroker({
      persistence: brokerPersistence() as never,
      // Messages delivered at once; beyond it they queue in an array whose shift() is O(n), which
      // at 20,000 beacons a second took a fifth of the broker's time.
      concurrency: CONCURRENCY,
      authenticate: (client, username, password, done) => {
        const p = acl.authenticate(username, password?.toString());
        if (!p) {
          this.#refused.inc({ terminal: '', reason: 'bad_login' });
          this.#warn(`login|${username}`, { client: client.id, username }, 'MQTT log-in refused: bad user name or password');
          const err = Object.assign(new Error('bad user name or password'), { returnCode: 4 });
          return done(err as never, false);
        }
        principals.set(client, p);
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        const p = client ? principals.get(client) : undefined;
        if (!p || !acl.mayPublish(p, packet.topic)) {
          this.#refused.inc({ terminal: p?.kind === 'terminal' ? p.terminalId : '', reason: 'foreign_topic' });
          this.#warn(`pub|${client?.id}`, { client: client?.id, topic: packet.topic }, 'MQTT publish refused: not this client\'s topic');
          return done(new Error(`not allowed to publish to ${packet.topic}`));
        }
        done(null);
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
    const server = createServer(aedes.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new BrokerListenError(this.#opts.host, this.#opts.port, err)));
      server.listen(this.#opts.port, this.#opts.host, () => resolve());
    });
    this.#server = server;
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : this.#opts.port;
    log.info({ url: this.url }, 'embedded MQTT broker up');
  }

  /**
   * Beacons straight from the broker, in process: no second MQTT hop, no PUBLISH/PUBACK pair and
   * no in-flight queue per message. aedes acknowledges a terminal's QoS 1 message only after
   * `onMessage` has taken it, as it would after delivering it to a service session.
   */
  source(): BeaconSource {
    const subscribed: { filter: string; deliver: (packet: AedesPublishPacket, done: () => void) => void }[] = [];
    return {
      kind: 'in-process',
      subscribe: async (filters, onMessage) => {
        const aedes = this.#aedes;
        if (!aedes) throw new BrokerListenError(this.#opts.host, this.#opts.port, new Error('the embedded broker is not started'));
        const deliver = (packet: AedesPublishPacket, done: () => void): void => {
          try {
            onMessage(packet.topic, packet.payload as Buffer);
          } finally {
            done();
          }
        };
        for (const filter of filters) {
          await new Promise<void>((r) => aedes.subscribe(filter, deliver, r));
          subscribed.push({ filter, deliver });
        }
      },
      unsubscribe: async () => {
        const aedes = this.#aedes;
        for (const { filter, deliver } of subscribed.splice(0)) if (aedes) await new Promise<void>((r) => aedes.unsubscribe(filter, deliver, r));
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
