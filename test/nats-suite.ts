/**
 * A real nats-server for one describe block of a vitest suite, and what its tests read from it.
 * Apart from test/harness.ts, which benchmarks import outside vitest.
 */
import { afterAll, beforeAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer, type Service } from './harness.ts';

export interface NatsSuite {
  readonly nats: Service;
  readonly nc: NatsConnection;
}

/** Starts a nats-server and connects to it before the block's tests, and stops both after them. */
export function natsForSuite(): NatsSuite {
  let nats: Service | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });
  return {
    get nats() { return nats!; },
    get nc() { return nc!; },
  };
}

/** How many messages a stream holds on each subject. */
export async function subjectCounts(nc: NatsConnection, stream: string): Promise<Record<string, number>> {
  const info = await (await jetstreamManager(nc)).streams.info(stream, { subjects_filter: '>' });
  return (info.state.subjects ?? {}) as Record<string, number>;
}
