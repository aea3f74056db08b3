// Thin entry for detector worker threads: registers tsx so the TypeScript worker loads.
import { register } from 'tsx/esm/api';

register();
await import('./detector.worker.ts');
