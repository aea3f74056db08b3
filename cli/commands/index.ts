import type { Command } from 'commander';
import { registerConfig } from './config.ts';
import { registerCity } from './city.ts';
import { registerStart } from './start.ts';
import { registerSimCameras } from './sim-cameras.ts';

/** Every subcommand; each lives in a file of its own. */
export function registerCommands(program: Command): void {
  registerStart(program);
  registerConfig(program);
  registerCity(program);
  registerSimCameras(program);
}
