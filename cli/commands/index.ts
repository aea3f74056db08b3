import type { Command } from 'commander';
import { registerConfig } from './config.ts';
import { registerCity } from './city.ts';
import { registerStart } from './start.ts';
import { registerBench } from './bench.ts';
import { registerRoute } from './route.ts';
import { registerSim } from './sim-dispatch.ts';
import { registerSimTerminals } from './sim-terminals.ts';
import { registerModel } from './model.ts';
import { registerDetect } from './detect.ts';
import { registerReplay } from './replay.ts';
import { registerSimCameras } from './sim-cameras.ts';

/** Every subcommand; each lives in a file of its own. */
export function registerCommands(program: Command): void {
  registerStart(program);
  registerConfig(program);
  registerCity(program);
  registerBench(program);
  registerRoute(program);
  registerSim(program);
  registerSimTerminals(program);
  registerModel(program);
  registerDetect(program);
  registerReplay(program);
  registerSimCameras(program);
}
