import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomicSync } from '../../core/index.ts';

/** Writes a model file whole: a reader (another process, a worker) never sees half of one. */
export function writeModelFile(outFile: string, bytes: Uint8Array): void {
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileAtomicSync(outFile, bytes);
}

/** The machine's model cache, shared by data folders: `GRIDWATCH_MODEL_CACHE`, else `$XDG_CACHE_HOME/gridwatch/models`, else `~/.cache/gridwatch/models`. */
export function modelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['GRIDWATCH_MODEL_CACHE'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'gridwatch', 'models');
}
