/**
 * Test and benchmark support: a console on a real fastify server with the real demo city, fed
 * through its public ports. Not part of the public API.
 */
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { pino } from 'pino';
import { HealthRegistry, createMetricsRegistry, freePort } from '../core/index.ts';
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
  /** every log line the console wrote, parsed (pino JSON) */
  readonly logLines: Record<string, unknown>[];
  /** creates a user (through the same store the admin API uses) */
  addUser(actor: Actor, password: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startConsoleServer(opts: {
  cameras?: number; terminals?: number; replayMessages?: number;
  /** the first admin's password; null: none given, so a one-time password is generated */
  adminPassword?: string | null;
  /** more `services.console` settings */
  console?: Record<string, unknown>;
} = {}): Promise<ConsoleServer> {
  const consoleSettings = { ...(opts.replayMessages ? { replay_messages: opts.replayMessages } : {}), ...opts.console };
  const services: Record<string, unknown> = Object.keys(consoleSettings).length ? { console: consoleSettings } : {};
  // The cameras point at a free port: nothing answers there unless a test starts a camera farm.
  const { file } = await writeTestCity({ cameras: opts.cameras ?? 12, terminals: opts.terminals ?? 12, cameraFarmPort: await freePort(), services });
  const city = loadCity(file);
  const logLines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  const metrics = createMetricsRegistry();
  const app = createHttpServer({ host: '127.0.0.1', port: 0, log, health: new HealthRegistry(), metrics });
  let desk: MemoryCaseDesk | undefined;
  const svc = new ConsoleService({ city, log, dataDir: tempDir('gw-console-'), metrics, adminPassword: opts.adminPassword === null ? undefined : (opts.adminPassword ?? ADMIN_PASSWORD), actions: (feed) => (desk = new MemoryCaseDesk(city, feed)) });
  await svc.register(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`, app, svc, desk: desk!, city, cityFile: file, logLines,
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

/**
 * An HTTP request sent from a chosen loopback address (127.x.y.z), so that tests can play many
 * clients at once against per-address limits. Answers status, headers and the parsed JSON body.
 */
export async function requestFrom(localAddress: string, url: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
  const { request } = await import('node:http');
  const body = init.body === undefined ? undefined : JSON.stringify(init.body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', localAddress, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...init.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Logs in from `localAddress`; the session and device cookies are returned with the answer. */
export async function loginFrom(localAddress: string, url: string, username: string, password: string, deviceCookie?: string) {
  const res = await requestFrom(localAddress, `${url}/api/login`, { method: 'POST', body: { username, password }, ...(deviceCookie ? { headers: { cookie: deviceCookie } } : {}) });
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!);
  return { ...res, session: cookies.find((c) => c.startsWith('gw_session=')), device: cookies.find((c) => c.startsWith('gw_device=')) };
}

/** Debian's Chromium, headless, with nothing that reaches the network on its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}
