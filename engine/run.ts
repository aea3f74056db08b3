import { createLogger, errorMessage } from '../core/index.ts';
import { loadCity, ConfigInvalidError, formatIssue } from '../config/index.ts';
import { Engine } from './engine.ts';
import type { EngineAddOn } from './add-on.ts';

const SHUTDOWN_DEADLINE_MS = 15_000;

/**
 * `gridwatch start`: validates the city, starts the engine, and on SIGINT or SIGTERM drains and
 * stops every component in order within 15 s. Returns the process exit code.
 */
export async function runEngine(opts: { configFile: string; nodeId?: string; addOns?: readonly EngineAddOn[] }): Promise<number> {
  const log = createLogger();
  let city;
  try {
    city = loadCity(opts.configFile);
  } catch (err) {
    if (err instanceof ConfigInvalidError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(`${opts.configFile}: ${err.issues.length} error(s); gridwatch will not start on an invalid config\n`);
      return 2;
    }
    throw err;
  }
  const engine = new Engine({ city, log, nodeId: opts.nodeId, addOns: opts.addOns ?? [] });
  try {
    await engine.start();
  } catch (err) {
    log.fatal({ code: (err as { code?: string }).code }, errorMessage(err));
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        log.error('shutdown took longer than 15 s; exiting');
        resolve(1);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      engine.stop().then(
        () => {
          clearTimeout(deadline);
          log.info('stopped');
          resolve(0);
        },
        (err) => {
          clearTimeout(deadline);
          log.error({ err: errorMessage(err) }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
