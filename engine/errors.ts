import { GridwatchError } from '../core/index.ts';

/** A component failed to start; the engine stops what it had started. */
export class EngineStartError extends GridwatchError {
  constructor(component: string, cause: unknown) {
    super('ENGINE_START', `cannot start ${component}: ${(cause as Error)?.message ?? String(cause)}`, { cause, details: { component } });
  }
}
