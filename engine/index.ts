export { Engine, type EngineOptions, type StopTimes } from './engine.ts';
export { runEngine } from './run.ts';
export { EngineStartError } from './errors.ts';
export type { EngineAddOn, EnginePorts } from './add-on.ts';
