import { Command, CommanderError } from 'commander';
import { errorMessage, GridwatchError } from '../core/index.ts';
import { registerCommands } from './commands/index.ts';

/** Runs the gridwatch command line; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('gridwatch')
    .description('gridwatch: video-and-sensor ingestion for city grid management centres')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  registerCommands(program);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof GridwatchError) {
      process.stderr.write(`${errorMessage(err)}\n`);
      return err.code === 'CONFIG_INVALID' || err.code === 'CONFIG_READ' ? 2 : 1;
    }
    process.stderr.write(`gridwatch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
