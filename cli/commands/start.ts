import type { Command } from 'commander';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the engine')
    .option('--config <file>', 'city config (YAML)', 'config/demo-city.yaml')
    .option('--node-id <id>', 'this node\'s id when several nodes share NATS')
    .option('--sim-terminals <n>', 'also walk this many of the city\'s terminals over MQTT (demo)', (v) => Number.parseInt(v, 10), 0)
    .action(async (opts: { config: string; nodeId?: string; simTerminals: number }) => {
      const { runEngine } = await import('../../engine/index.ts');
      process.exitCode = await runEngine({ configFile: opts.config, nodeId: opts.nodeId, simTerminals: opts.simTerminals });
    });
}
