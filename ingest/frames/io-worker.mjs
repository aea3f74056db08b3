// Thin entry for the decoder I/O thread: registers tsx so the TypeScript worker loads.
import { register } from 'tsx/esm/api';

register();
await import('./io.worker.ts');
