import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../core/index.ts';
import type { City } from '../config/index.ts';
import type { ConsoleFeed } from '../console/index.ts';

/** What an add-on gets from the running engine: the city, and where to talk to its services. */
export interface EnginePorts {
  readonly city: City;
  readonly log: Logger;
  readonly dataDir: string;
  readonly nc: NatsConnection;
  /** The MQTT broker terminals connect to. */
  readonly mqttUrl: string;
  readonly consoleFeed: ConsoleFeed;
  /** `services.console.demo_feed` or GRIDWATCH_CONSOLE_DEMO=1 asked for a simulated console feed. */
  readonly consoleDemoFeed: boolean;
}

/**
 * Something the engine starts once its services run and before cameras and HTTP, and stops
 * first: the demo's simulators (`sim/`), handed in by the command that starts the engine.
 */
export interface EngineAddOn {
  readonly name: string;
  start(ports: EnginePorts): Promise<() => Promise<void>>;
}
