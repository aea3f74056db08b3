import type { Command } from 'commander';
import { loadCity, ConfigInvalidError, formatIssue } from '../../config/index.ts';

/** `gridwatch config check FILE`: exit 0 when valid; 2 with every error as `path: message`. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with city config files');
  config
    .command('check')
    .description('validate a city config; print every error as "path: message"')
    .argument('<file>', 'city config (YAML)')
    .action((file: string) => {
      try {
        const city = loadCity(file);
        process.stdout.write(`${file}: ok (${city.grid.size} cells, ${city.cameras.size} cameras, ${city.terminals.size} terminals, ${city.departments.size} departments)\n`);
        process.exitCode = 0;
      } catch (err) {
        if (!(err instanceof ConfigInvalidError)) throw err;
        for (const issue of err.issues) process.stdout.write(`${formatIssue(issue)}\n`);
        process.stderr.write(`${file}: ${err.issues.length} error${err.issues.length === 1 ? '' : 's'}\n`);
        process.exitCode = 2;
      }
    });
}
