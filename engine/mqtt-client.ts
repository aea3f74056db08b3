import mqtt, { type MqttClient } from 'mqtt';
import type { ComponentHealth, Logger } from '../core/index.ts';

/**
 * gridwatch's own MQTT session, as the service user: beacon ingestion subscribes through it.
 * It reconnects by itself; its health follows the connection.
 */
export class ServiceMqttClient {
  readonly client: MqttClient;
  readonly url: string;
  #reason = 'connecting';

  private constructor(client: MqttClient, url: string) {
    this.client = client;
    this.url = url;
    client.on('connect', () => (this.#reason = ''));
    client.on('close', () => (this.#reason = `disconnected from ${url}; reconnecting`));
    client.on('error', (err) => (this.#reason = err.message));
  }

  static async open(url: string, auth: { username?: string; password?: string }, clientId: string, log: Logger): Promise<ServiceMqttClient> {
    const client = mqtt.connect(url, { ...auth, clientId, clean: false, reconnectPeriod: 500, connectTimeout: 5000 });
    const svc = new ServiceMqttClient(client, url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no CONNACK from ${url} within 10 s`)), 10_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (err) => {
        clearTimeout(timer);
        client.end(true);
        reject(err);
      });
    });
    log.info({ url, clientId }, 'MQTT service client connected');
    return svc;
  }

  health(): ComponentHealth {
    return this.client.connected ? { state: 'up', url: this.url } : { state: 'down', reason: this.#reason || 'not connected', url: this.url };
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
