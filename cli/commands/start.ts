import type { Command } from 'commander';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the engine')
    .option('--config <file>', 'city config (YAML)', 'config/demo-city.yaml')
    .option('--node-id <id>', 'this node\'s id when several nodes share NATS')
    .action(async (opts: { config: string; nodeId?: string }) => {
      const { runEngine } = await import('../../engine/index.ts');
      const { demoSimulators } = await import('../../sim/index.ts');
      // The demo's simulators run only where the city's `demo:` section (or the console's demo feed) asks.
      process.exitCode = await runEngine({ configFile: opts.config, nodeId: opts.nodeId, addOns: [demoSimulators] });
    });
}
