import { pino, type Logger } from 'pino';

export type { Logger };

/** The engine's root logger. JSON lines on stdout; `LOG_LEVEL` picks the level. */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'gridwatch',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
  });
}

/** A logger that writes nothing, for tests and commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
