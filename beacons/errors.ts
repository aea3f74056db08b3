import { GridwatchError } from '../core/index.ts';

/** The embedded MQTT broker cannot listen. */
export class BrokerListenError extends GridwatchError {
  constructor(host: string, port: number, cause: unknown) {
    super('BEACONS_BROKER_LISTEN', `embedded MQTT broker cannot listen on ${host}:${port}: ${(cause as Error)?.message ?? String(cause)}; free the port or set services.mqtt.port`, { cause, details: { host, port } });
  }
}
