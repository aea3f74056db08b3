import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startNatsServer, until, type Service } from '../test/harness.ts';

describe('active and standby instances of a role', () => {
  const LEASE_MS = 3000, TICK_MS = 300;
  let nats: Service;
  const procs = new Map<string, ChildProcess>();
  const leading = new Map<string, boolean>();
  const changes: { node: string; t: number; leading: boolean }[] = [];

  function contender(id: string): void {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'test', 'fixtures', 'leader-node.ts'), nats.url, id, String(LEASE_MS), String(TICK_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = JSON.parse(l) as { node: string; t: number; leading: boolean };
      leading.set(m.node, m.leading);
      changes.push(m);
    });
    procs.set(id, child);
  }
  const leaders = () => [...leading].filter(([, v]) => v).map(([k]) => k);
  /** names a wait, with who leads at the timeout */
  const waiting = (what: string) => () => `${what}: ${JSON.stringify([...leading])}`;

  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    await nats?.stop();
  });

  it('exactly one of two leads; the standby takes over within 15 s of a SIGKILL, and at once after a clean stop', async () => {
    contender('a');
    await until(waiting('a leads'), () => leading.get('a') === true, 10_000);
    contender('b');
    await until(waiting('b reports'), () => leading.has('b'), 10_000);
    await new Promise((r) => setTimeout(r, 2 * TICK_MS));
    expect(leaders()).toEqual(['a']);

    procs.get('a')!.kill('SIGKILL');
    leading.set('a', false);
    const killedAt = Date.now();
    const took = await until(waiting('b takes over'), () => leading.get('b') === true && Date.now() - killedAt, 15_000);
    expect(took).toBeLessThan(15_000);

    contender('c');
    await until(waiting('c reports'), () => leading.has('c'), 10_000);
    const b = procs.get('b')!;
    b.kill('SIGTERM');
    await new Promise((r) => b.once('exit', r));
    leading.set('b', false);
    const stoppedAt = Date.now();
    const handover = await until(waiting('c takes over'), () => leading.get('c') === true && Date.now() - stoppedAt, 15_000);
    expect(handover).toBeLessThan(LEASE_MS); // released, not expired
    expect(changes.filter((c) => c.leading).map((c) => c.node)).toEqual(['a', 'b', 'c']);
  });
});
