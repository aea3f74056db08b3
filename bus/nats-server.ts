import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort, type ComponentHealth, type Logger } from '../core/index.ts';
import { NatsServerMissingError, NatsServerStartError } from './errors.ts';

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

export function findNatsServer(): string {
  const fromPath = (process.env.PATH ?? '').split(':').filter(Boolean).map((d) => join(d, 'nats-server'));
  const tried = [...fromPath, ...CANDIDATES];
  for (const p of tried) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* try the next */
    }
  }
  throw new NatsServerMissingError([...new Set(tried)]);
}

export interface NatsServerOptions {
  /** JetStream's store lives in `<dataDir>/nats`. */
  readonly dataDir: string;
  /** 0 picks a free loopback port once; restarts keep it, so clients reconnect to the same URL. */
  readonly port?: number;
  readonly serverName?: string;
  readonly log: Logger;
  /** Restart back-off, doubling up to the max. */
  readonly restartInitialMs?: number;
  readonly restartMaxMs?: number;
}

export type NatsServerState = 'starting' | 'up' | 'restarting' | 'stopped';

/**
 * Runs nats-server with JetStream on 127.0.0.1 as a child process, restarts it when it dies,
 * and stops it on shutdown. Its store survives restarts, so streams and KV buckets do too.
 */
export class EmbeddedNatsServer {
  readonly #opts: NatsServerOptions;
  #child: ChildProcess | null = null;
  #port = 0;
  #state: NatsServerState = 'stopped';
  #reason = '';
  #restarts = 0;
  #stopping = false;
  #backoffMs: number;
  #restartTimer: NodeJS.Timeout | null = null;

  constructor(opts: NatsServerOptions) {
    this.#opts = opts;
    this.#backoffMs = opts.restartInitialMs ?? 250;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  status(): { state: NatsServerState; port: number; pid?: number; restarts: number; reason: string } {
    return { state: this.#state, port: this.#port, pid: this.#child?.pid, restarts: this.#restarts, reason: this.#reason };
  }

  health(): ComponentHealth {
    const s = this.status();
    return s.state === 'up' ? { state: 'up', url: this.url, restarts: s.restarts } : { state: 'down', reason: s.reason || `embedded nats-server is ${s.state}`, restarts: s.restarts };
  }

  async start(): Promise<void> {
    const bin = findNatsServer();
    this.#port = this.#opts.port || (await freePort());
    this.#stopping = false;
    this.#state = 'starting';
    await this.#spawn(bin);
  }

  async #spawn(bin: string): Promise<void> {
    const store = join(this.#opts.dataDir, 'nats');
    mkdirSync(store, { recursive: true });
    const pidFile = join(this.#opts.dataDir, 'nats-server.pid');
    killStale(pidFile);
    const args = ['-a', '127.0.0.1', '-p', String(this.#port), '-js', '-sd', store, '--server_name', this.#opts.serverName ?? 'gridwatch-embedded'];
    // Its own process group: a Ctrl-C meant for the engine must not kill the server mid-drain;
    // the engine stops it last, after everything that publishes has drained.
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.#child = child;
    if (child.pid) writeFileSync(pidFile, String(child.pid));
    let tail = '';
    child.stderr!.on('data', (b: Buffer) => {
      tail = (tail + b.toString()).slice(-2000);
    });
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new NatsServerStartError(`nats-server exited during start (code ${code}, signal ${signal}): ${tail.trim().split('\n').pop() ?? ''}`)));
      child.once('error', (err) => reject(new NatsServerStartError(`cannot run ${bin}: ${err.message}`, err)));
    });
    exited.catch(() => {}); // handled by the race below
    await Promise.race([waitForPort(this.#port, '127.0.0.1', 15_000), exited]);
    child.removeAllListeners('exit');
    child.once('exit', (code, signal) => this.#onExit(bin, code, signal, tail));
    this.#state = 'up';
    this.#reason = '';
    this.#backoffMs = this.#opts.restartInitialMs ?? 250;
    this.#opts.log.info({ port: this.#port, pid: child.pid, store }, 'embedded nats-server up');
  }

  #onExit(bin: string, code: number | null, signal: NodeJS.Signals | null, tail: string): void {
    this.#child = null;
    if (this.#stopping) return;
    this.#state = 'restarting';
    this.#reason = `nats-server exited (code ${code}, signal ${signal}); restarting`;
    this.#restarts++;
    this.#opts.log.error({ code, signal, last: tail.trim().split('\n').pop() }, 'embedded nats-server died; restarting');
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#opts.restartMaxMs ?? 10_000);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      this.#spawn(bin).catch((err: Error) => this.#onExit(bin, null, null, err.message));
    }, delay);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const child = this.#child;
    this.#state = 'stopped';
    this.#reason = 'stopped';
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
    this.#child = null;
    rmSync(join(this.#opts.dataDir, 'nats-server.pid'), { force: true });
  }
}

/** A server left behind by an engine that was killed (SIGKILL) still holds the store: stop it. */
function killStale(pidFile: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8'));
  } catch {
    return;
  }
  try {
    if (pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nats-server')) process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  rmSync(pidFile, { force: true });
}
