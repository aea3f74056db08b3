import type { Command } from 'commander';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a number ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

interface SimTerminalsOpts { config: string; count?: number; url?: string; intervalS: number; reportEveryS: number; malformedRate: number; unauthorisedRate: number; durationS?: number }

/** `gridwatch sim terminals`: grid workers walking patrol loops and reporting over MQTT. */
export function registerSimTerminals(program: Command): void {
  const sim = program.commands.find((c) => c.name() === 'sim') ?? program.command('sim').description('simulated field devices');
  sim
    .command('terminals')
    .description('simulate handheld terminals: workers walk patrol loops in their cells, send OwnTracks beacons and now and then a report')
    .option('--config <file>', 'city config (YAML): terminals and their passwords', 'config/demo-city.yaml')
    .option('--count <n>', 'how many of the city\'s terminals to simulate (all when absent)', num)
    .option('--url <url>', 'MQTT broker; the engine\'s embedded broker when absent')
    .option('--interval-s <s>', 'seconds between beacons of one terminal', num, 5)
    .option('--report-every-s <s>', 'mean seconds between reports of one terminal; 0 for none', num, 120)
    .option('--malformed-rate <r>', 'share of messages sent malformed (for tests)', num, 0)
    .option('--unauthorised-rate <r>', 'share of messages sent to another terminal\'s topic (for tests)', num, 0)
    .option('--duration-s <s>', 'stop after this long (runs until Ctrl-C when absent)', num)
    .action(async (opts: SimTerminalsOpts) => {
      const { createLogger } = await import('../../core/index.ts');
      const { loadCity } = await import('../../config/index.ts');
      const { TerminalSimulator } = await import('../../sim/index.ts');
      const log = createLogger();
      const city = loadCity(opts.config);
      const all = [...city.terminals.values()];
      if (opts.count !== undefined && opts.count > all.length) {
        process.stderr.write(`${opts.config} has ${all.length} terminals; make a city with more: gridwatch city generate --terminals ${opts.count} --out city.yaml\n`);
        process.exitCode = 2;
        return;
      }
      const m = city.config.services.mqtt;
      const url = opts.url ?? process.env.MQTT_URL ?? m.url ?? `mqtt://${m.host === '0.0.0.0' ? '127.0.0.1' : m.host}:${process.env.MQTT_PORT ?? m.port}`;
      const simulator = new TerminalSimulator({
        url, city, log, terminals: all.slice(0, opts.count ?? all.length),
        intervalS: opts.intervalS, reportEveryS: opts.reportEveryS, malformedRate: opts.malformedRate, unauthorisedRate: opts.unauthorisedRate,
      });
      await simulator.start();
      await new Promise<void>((resolve) => {
        const done = () => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
        if (opts.durationS !== undefined) setTimeout(done, opts.durationS * 1000).unref();
      });
      await simulator.stop();
      log.info(simulator.counts, 'simulator stopped');
    });
}
