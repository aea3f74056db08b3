/**
 * Real services for tests: nats-server and Mosquitto on free loopback ports, each stopped by
 * its own PID. Every test that needs a server starts it from here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, waitForPort } from '../core/index.ts';
import { findNatsServer } from '../bus/index.ts';
import { generateCity, type GenerateOptions } from '../sim/index.ts';

export interface Service {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export function tempDir(prefix = 'gw-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

/** A nats-server with JetStream in a temp folder. */
export async function startNatsServer(opts: { storeDir?: string; port?: number } = {}): Promise<Service> {
  const port = opts.port ?? (await freePort());
  const store = opts.storeDir ?? tempDir('gw-nats-');
  const child = spawn(findNatsServer(), ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
  await waitForPort(port);
  return { url: `nats://127.0.0.1:${port}`, port, process: child, stop: stopper(child) };
}

/**
 * A NATS cluster of `size` servers with JetStream on loopback ports, as a deployment runs it.
 * `urls` lists each server; a client given all of them fails over between them.
 */
export async function startNatsCluster(size = 3): Promise<{ urls: string[]; servers: Service[]; stop(): Promise<void> }> {
  const clientPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(',');
  const servers: Service[] = [];
  for (let i = 0; i < size; i++) {
    const dir = tempDir(`gw-natsc${i}-`);
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, [
      `server_name: n${i}`, `listen: 127.0.0.1:${clientPorts[i]}`,
      `jetstream { store_dir: "${join(dir, 'js')}" }`,
      `cluster { name: gwtest, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes.split(',').map((r) => `"${r}"`).join(', ')}] }`,
    ].join('\n'));
    const child = spawn(findNatsServer(), ['-c', conf], { stdio: 'ignore' });
    servers.push({ url: `nats://127.0.0.1:${clientPorts[i]}`, port: clientPorts[i]!, process: child, stop: stopper(child) });
  }
  await Promise.all(clientPorts.map((p) => waitForPort(p)));
  return { urls: servers.map((s) => s.url), servers, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
}

/** A Mosquitto broker that takes anonymous clients on loopback (or a given config body). */
export async function startMosquitto(opts: { extraConfig?: string } = {}): Promise<Service> {
  const port = await freePort();
  const dir = tempDir('gw-mosquitto-');
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n${opts.extraConfig ?? ''}`);
  const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));
  const child = spawn(bin ?? 'mosquitto', ['-c', conf], { stdio: 'ignore' });
  await waitForPort(port);
  return { url: `mqtt://127.0.0.1:${port}`, port, process: child, stop: stopper(child) };
}

/**
 * A demo city written to a temp folder with the engine's ports set for a test: HTTP and MQTT
 * on free ports, data in the folder. Returns the YAML path and the folder.
 */
export async function writeTestCity(options: Partial<GenerateOptions> & { services?: Record<string, unknown>; simulators?: Record<string, unknown>; routeAllDay?: boolean } = {}): Promise<{ file: string; dir: string; raw: Record<string, any> }> {
  const dir = tempDir('gw-city-');
  // No cameras unless asked: a camera with nothing behind its URL is a camera down, and the node reports it.
  const raw = generateCity({ cameras: options.cameras ?? 0, terminals: options.terminals ?? 2, ...options }) as Record<string, any>;
  // Tests that make cases from events of the moment: the day's rules hold at any hour they run.
  if (options.routeAllDay) for (const rule of raw.routing?.rules ?? []) delete rule.hours;
  raw.services = { data_dir: join(dir, 'data'), http: { host: '127.0.0.1', port: await freePort() }, mqtt: { port: await freePort() }, ...options.services };
  // Tests play the simulators' parts themselves; a test asks for a simulator by name.
  if (options.simulators) raw.demo = { ...raw.demo, ...options.simulators };
  const file = join(dir, 'city.yaml');
  writeFileSync(file, stringify(raw));
  return { file, dir, raw };
}

/**
 * Polls `fn` every 50 ms until it returns something other than undefined, null or false, and
 * returns that; fails after `timeoutMs`. `what` names the wait in the error; a function is
 * called at the timeout, to add the state that was waited on. The one wait-for helper of the
 * tests and benchmarks.
 */
export async function until<T>(what: string | (() => string), fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
