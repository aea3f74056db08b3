import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../core/index.ts';
import type { City } from '../config/index.ts';

/** What an add-on gets from the running engine: the city, and where to talk to its services. */
export interface EnginePorts {
  readonly city: City;
  readonly log: Logger;
  readonly dataDir: string;
  readonly nc: NatsConnection;
  /** The MQTT broker terminals connect to. */
  readonly mqttUrl: string;
}

/**
 * Something the engine starts once its services run and before cameras and HTTP, and stops
 * first: the demo's simulators (`sim/`), handed in by the command that starts the engine.
 */
export interface EngineAddOn {
  readonly name: string;
  start(ports: EnginePorts): Promise<() => Promise<void>>;
}
