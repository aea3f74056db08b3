import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { tempDir, until, writeTestCity } from '../test/harness.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'gridwatch.mjs');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('gridwatch command', () => {
  it('lists its commands', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const c of ['start', 'config', 'city']) expect(r.stdout).toMatch(new RegExp(`^\\s+${c}\\b`, 'm'));
  });

  it('generates a city that config check accepts, and lists every error of a broken one', () => {
    const dir = tempDir();
    const file = join(dir, 'city.yaml');
    const gen = run('city', 'generate', '--cameras', '30', '--terminals', '12', '--out', file);
    expect(gen.status, gen.stderr).toBe(0);
    const ok = run('config', 'check', file);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/ok \(120 cells, 30 cameras, 12 terminals/);

    const raw = parse(readFileSync(file, 'utf8'));
    raw.cameras[12].zones[0].polygon = [[0, 0], [10, 10]];
    raw.cameras[3].cell = 'G9999';
    raw.terminals[0].pasword = 'typo';
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, stringify(raw));
    const bad = run('config', 'check', broken);
    expect(bad.status).toBe(2);
    // Schema errors come first; the semantic ones are reported once the schema holds.
    expect(bad.stdout.trim().split('\n')).toEqual(['terminals[0].pasword: unknown key']);
    delete raw.terminals[0].pasword;
    writeFileSync(broken, stringify(raw));
    const bad2 = run('config', 'check', broken);
    expect(bad2.status).toBe(2);
    expect(bad2.stdout.trim().split('\n').sort()).toEqual(['cameras[12].zones[0].polygon: needs at least 3 points, got 2', 'cameras[3].cell: unknown grid cell "G9999"']);
  });

  it('refuses a frame size that is not WxH as a usage error naming the option', () => {
    for (const args of [['sim', 'cameras', '--size', '640by360'], ['model', 'convert', '--input', '416']]) {
      const r = run(...args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/option '--(size|input) <WxH>' argument '(640by360|416)' is invalid\. expected WxH, e\.g\. 640x360/);
    }
  });

  it('refuses to start on an invalid config with the same messages', () => {
    const dir = tempDir();
    const file = join(dir, 'city.yaml');
    run('city', 'generate', '--cameras', '2', '--terminals', '1', '--out', file);
    writeFileSync(file, readFileSync(file, 'utf8').replace('default_department: command', 'default_department: nobody'));
    const r = run('start', '--config', file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^routing\.default_department: unknown department "nobody"$/m);
  });

  it('exits 1 naming the component when its MQTT port is taken, and leaves nothing running', async () => {
    const { file, raw } = await writeTestCity();
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(raw.services.mqtt.port, '127.0.0.1', () => r()));
    try {
      const child = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b) => (out += b));
      child.stderr.on('data', (b) => (out += b));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // Before the fix the aedes timers kept it alive after the fatal line, for good.
      const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 45_000))]);
      if (code === 'still running') child.kill('SIGKILL');
      expect(code, out).toBe(1);
      expect(out).toMatch(new RegExp(`cannot start embedded MQTT broker: .*127\\.0\\.0\\.1:${raw.services.mqtt.port}: listen EADDRINUSE`));
      // The nats-server it had started went with it.
      const natsPid = Number(/"msg":"embedded nats-server up"/.test(out) && /"port":\d+,"pid":(\d+),"store"/.exec(out)?.[1]);
      expect(natsPid, out).toBeGreaterThan(0);
      expect(existsSync(`/proc/${natsPid}`) && !readFileSync(`/proc/${natsPid}/stat`, 'utf8').includes(') Z')).toBe(false);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  }, 60_000);

  it('starts, reports healthy, and on SIGTERM stops every component and exits 0', async () => {
    const { file, raw } = await writeTestCity();
    const child = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    const url = `http://127.0.0.1:${raw.services.http.port}/healthz`;
    type Health = { status?: string; components?: Record<string, { state: string }> };
    const health = await until(() => `the engine up; its output:\n${out}`, async () => {
      const h = await fetch(url).then((r) => r.json() as Promise<Health>).catch((): Health => ({}));
      return h.status === 'up' && h;
    }, 60_000);
    expect(health.status, out).toBe('up');
    const natsPid = Number(readFileSync(join(raw.services.data_dir, 'nats-server.pid'), 'utf8'));
    expect(existsSync(`/proc/${natsPid}`)).toBe(true);

    // The dispatch simulator finds the engine's embedded NATS through /healthz, with no --nats.
    const sim = spawnSync(process.execPath, [BIN, 'sim', 'dispatch', '--config', file, '--duration-s', '1'], { encoding: 'utf8', env: { ...process.env, NATS_URL: '' } });
    expect(sim.status, sim.stderr).toBe(0);
    expect(JSON.parse(sim.stdout.trim().split('\n').pop()!)).toHaveProperty('orders');

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 15_000))]);
    expect(code, out).toBe(0);
    expect(out).toMatch(/"msg":"stopped"/);
    // How long the stop took, and its slowest components, for the ops engineer.
    const times = JSON.parse(out.split('\n').find((l) => l.includes('"msg":"components stopped"'))!) as { ms: number; slowest: { component: string; ms: number }[] };
    expect(times.ms).toBeLessThan(15_000);
    expect(times.slowest.map((s) => s.component)).toHaveLength(3);
    expect(times.slowest[0]!.ms).toBeGreaterThanOrEqual(times.slowest[2]!.ms);
    // The embedded nats-server went with it.
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(`/proc/${natsPid}`) && !readFileSync(`/proc/${natsPid}/stat`, 'utf8').includes(') Z')).toBe(false);
  });
});
