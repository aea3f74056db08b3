/**
 * Test and benchmark support: a console on a real fastify server with the real demo city, fed
 * through its public ports. Not part of the public API.
 */
import type { FastifyInstance } from 'fastify';
import { HealthRegistry, createMetricsRegistry, freePort, silentLogger } from '../core/index.ts';
import { loadCity, type City } from '../config/index.ts';
import { writeTestCity, tempDir } from './harness.ts';
import { createHttpServer, ConsoleService, type Actor } from '../console/index.ts';
import { MemoryCaseDesk } from '../sim/index.ts';

export const ADMIN_PASSWORD = 'admin-test-password';

export interface ConsoleServer {
  /** the stand-in router the console's case actions go to */
  desk: MemoryCaseDesk;
  readonly url: string;
  readonly app: FastifyInstance;
  readonly svc: ConsoleService;
  readonly city: City;
  readonly cityFile: string;
  /** creates a user (through the same store the admin API uses) */
  addUser(actor: Actor, password: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startConsoleServer(opts: { cameras?: number; terminals?: number; replayMessages?: number } = {}): Promise<ConsoleServer> {
  const services: Record<string, unknown> = opts.replayMessages ? { console: { replay_messages: opts.replayMessages } } : {};
  // The cameras point at a free port: nothing answers there unless a test starts a camera farm.
  const { file } = await writeTestCity({ cameras: opts.cameras ?? 12, terminals: opts.terminals ?? 12, cameraFarmPort: await freePort(), services });
  const city = loadCity(file);
  const log = silentLogger();
  const metrics = createMetricsRegistry();
  const app = createHttpServer({ host: '127.0.0.1', port: 0, log, health: new HealthRegistry(), metrics });
  let desk: MemoryCaseDesk | undefined;
  const svc = new ConsoleService({ city, log, dataDir: tempDir('gw-console-'), metrics, adminPassword: ADMIN_PASSWORD, actions: (feed) => (desk = new MemoryCaseDesk(city, feed)) });
  await svc.register(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`, app, svc, desk: desk!, city, cityFile: file,
    addUser: (actor, password) => svc.users.put(actor, password),
    async stop() {
      await svc.stop();
      await app.close();
    },
  };
}

/** Builds the web app when console/web/dist is missing or older than its sources (as scripts/setup.sh does). */
export async function ensureWebBuilt(): Promise<void> {
  const { existsSync, statSync, readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const consoleDir = join(import.meta.dirname, '..', 'console');
  const web = join(consoleDir, 'web');
  const dist = join(web, 'dist', 'index.html');
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
  const sources = Math.max(newest(join(web, 'src')), statSync(join(web, 'index.html')).mtimeMs, statSync(join(consoleDir, 'types.ts')).mtimeMs);
  if (existsSync(dist) && statSync(dist).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: join(web, 'vite.config.ts'), logLevel: 'warn' });
}
