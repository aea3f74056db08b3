/**
 * A router alone in a process, for the crash test and for running the router beside an engine:
 * `node --import tsx router/router-process.ts <nats-url> <city.yaml>`. Prints `ready` when it
 * consumes events; SIGTERM stops it cleanly.
 */
import { connect } from '@nats-io/transport-node';
import { loadCity } from '../config/index.ts';
import { createLogger } from '../core/index.ts';
import { CaseRouter } from './index.ts';

const [natsUrl, cityFile] = process.argv.slice(2);
if (!natsUrl || !cityFile) {
  process.stderr.write('usage: router-process.ts <nats-url> <city.yaml>\n');
  process.exit(2);
}
const log = createLogger({ level: process.env.LOG_LEVEL ?? 'warn' });
// noAsyncTraces: no stack captured per request (a third of the router's CPU at 500 events/s).
const nc = await connect({ servers: natsUrl, maxReconnectAttempts: -1, noAsyncTraces: true });
const router = new CaseRouter({ city: loadCity(cityFile), nc, log });
await router.start();
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void router.stop().then(() => nc.drain()).then(() => process.exit(0));
});
