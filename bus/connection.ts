import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { ComponentHealth, Logger } from '../core/index.ts';
import { NatsConnectError } from './errors.ts';

/**
 * A NATS connection that keeps reconnecting forever and tracks its own health,
 * so that a restarted server (embedded or external) is picked up again.
 */
export class BusConnection {
  readonly nc: NatsConnection;
  readonly url: string;
  #state: 'up' | 'down' = 'up';
  #reason = '';

  private constructor(nc: NatsConnection, url: string, log: Logger) {
    this.nc = nc;
    this.url = url;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.#state = 'down';
          this.#reason = `disconnected from ${url}; reconnecting`;
          log.warn({ url }, 'NATS disconnected');
        } else if (s.type === 'reconnect') {
          this.#state = 'up';
          this.#reason = '';
          log.info({ url }, 'NATS reconnected');
        }
      }
    })();
  }

  static async open(url: string, name: string, log: Logger): Promise<BusConnection> {
    try {
      // noAsyncTraces: nats.js would otherwise capture a stack for every request (a third of the router's CPU).
      const nc = await connect({ servers: url.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 250, waitOnFirstConnect: false, timeout: 5000, noAsyncTraces: true });
      return new BusConnection(nc, url, log);
    } catch (err) {
      throw new NatsConnectError(url, err);
    }
  }

  health(): ComponentHealth {
    if (this.nc.isClosed()) return { state: 'down', reason: 'connection closed', url: this.url };
    return this.#state === 'up' ? { state: 'up', url: this.url } : { state: 'down', reason: this.#reason, url: this.url };
  }

  /** Flushes what was published, then closes. */
  async drain(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close();
    }
  }
}
