import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { startNatsServer, until } from '../test/harness.ts';

const COUNT = 3000, LEASE_MS = 1000, TICK_MS = 200, HOLD_MS = 5000;

/**
 * One node with thousands of cameras on a short lease: its claims and renewals must keep pace
 * with the lease, or leases expire under it and it drops and takes its cameras over and over.
 */
describe('camera leases at the scale of a node', () => {
  let nats: Awaited<ReturnType<typeof startNatsServer>> | undefined;
  let node: ChildProcess | undefined;
  afterAll(async () => {
    if (node && node.exitCode === null) node.kill('SIGKILL');
    await nats?.stop();
  });

  it(`takes ${COUNT} cameras and keeps every one for ${HOLD_MS / 1000} s with a ${LEASE_MS} ms lease`, async () => {
    nats = await startNatsServer();
    node = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'test', 'fixtures', 'lease-node.ts'), nats.url, 'node-1', String(COUNT), String(LEASE_MS), String(TICK_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const owned: { t: number; n: number }[] = [];
    createInterface({ input: node.stdout! }).on('line', (l) => {
      const line = JSON.parse(l) as { t: number; owned: string[] };
      owned.push({ t: line.t, n: line.owned.length });
    });
    const all = await until(() => `all ${COUNT} cameras (${owned.at(-1)?.n ?? 0} so far)`, () => owned.find((o) => o.n === COUNT)?.t, 60_000);
    await new Promise((r) => setTimeout(r, HOLD_MS));
    // Once it had them all, it never reported fewer: no lease expired under it.
    const after = owned.filter((o) => o.t >= all);
    expect(Math.min(...after.map((o) => o.n))).toBe(COUNT);
  }, 120_000);
});
