import type { Command } from 'commander';
import { loadCity } from '../../config/index.ts';
import { createLogger } from '../../core/index.ts';

function range(v: string): [number, number] {
  const [a, b] = v.split('-').map(Number);
  if (!Number.isFinite(a) || !Number.isFinite(b ?? a) || a! < 0) throw new Error(`expected MIN-MAX seconds, got ${JSON.stringify(v)}`);
  return [a!, b ?? a!];
}

function share(v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new Error(`expected a share from 0 to 1, got ${JSON.stringify(v)}`);
  return n;
}

/** `gridwatch sim dispatch`: a pretend dispatch system for every department. */
export function registerSim(program: Command): void {
  const sim = program.commands.find((c) => c.name() === 'sim') ?? program.command('sim').description('simulators for demos and tests');
  sim
    .command('dispatch')
    .description('play the departments\' work-order systems: sign and resolve orders after random delays, sometimes miss deadlines')
    .option('--nats <url>', 'NATS server (default: NATS_URL, services.nats.url of the city, or the NATS of the engine running it, from its /healthz)')
    .option('--config <file>', 'city config (YAML)', 'config/demo-city.yaml')
    .option('--departments <ids>', 'comma-separated department ids (default: all)')
    .option('--sign-delay-s <min-max>', 'delay before signing', range, [1, 20] as [number, number])
    .option('--resolve-delay-s <min-max>', 'delay before resolving', range, [5, 60] as [number, number])
    .option('--miss-rate <share>', 'share of orders never signed', share, 0.1)
    .option('--return-rate <share>', 'share of orders returned', share, 0.05)
    .option('--duration-s <s>', 'stop after this long (default: until Ctrl-C)', Number)
    .action(async (opts: { nats?: string; config: string; departments?: string; signDelayS: [number, number]; resolveDelayS: [number, number]; missRate: number; returnRate: number; durationS?: number }) => {
      const { connect } = await import('@nats-io/transport-node');
      const { DispatchSimulator } = await import('../../sim/index.ts');
      const city = loadCity(opts.config);
      const url = opts.nats ?? (process.env.NATS_URL || undefined) ?? city.config.services.nats.url ?? await runningEngineNats(city.config.services.http);
      const log = createLogger({ name: 'sim-dispatch' });
      const departments = opts.departments ? opts.departments.split(',') : [...city.departments.keys()];
      const nc = await connect({ servers: url, name: 'gridwatch-sim-dispatch' });
      const sim = new DispatchSimulator({ nc, departments, log, signDelayS: opts.signDelayS, resolveDelayS: opts.resolveDelayS, missRate: opts.missRate, returnRate: opts.returnRate });
      await sim.start();
      log.info({ url, departments }, 'simulated dispatch systems running');
      const report = setInterval(() => log.info(sim.status(), 'dispatch simulator'), 10_000);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        if (opts.durationS) setTimeout(resolve, opts.durationS * 1000);
      });
      clearInterval(report);
      await sim.stop();
      await nc.drain();
      process.stdout.write(JSON.stringify(sim.status()) + '\n');
    });
}

/**
 * The NATS URL of the engine running this city, from its /healthz: an engine on its embedded
 * defaults runs nats-server on a port of its own choosing.
 */
async function runningEngineNats(http: { host: string; port: number }): Promise<string> {
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  const healthz = `http://${host.includes(':') ? `[${host}]` : host}:${http.port}/healthz`;
  let body: { components?: { nats?: { url?: string } } };
  try {
    body = await fetch(healthz, { signal: AbortSignal.timeout(3000) }).then((r) => r.json() as Promise<typeof body>);
  } catch (err) {
    throw new Error(`no NATS URL: pass --nats nats://host:port, set services.nats.url, or start the engine (${healthz} did not answer: ${(err as Error).message})`);
  }
  const url = body.components?.nats?.url;
  if (!url) throw new Error(`no NATS URL: ${healthz} names none; pass --nats nats://host:port`);
  return url;
}
