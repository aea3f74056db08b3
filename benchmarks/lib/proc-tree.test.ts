import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ProcessTree } from './proc-tree.ts';

const burn = (ms: number) => { const end = performance.now() + ms; let x = 0; while (performance.now() < end) x += Math.sqrt(x + 1); return x; };

describe('ProcessTree (the node-capacity benchmark\'s CPU and memory by process)', () => {
  it('counts the root\'s CPU as Node itself does, and a child\'s apart, from /proc', async () => {
    const tree = new ProcessTree(process.pid);
    tree.start();
    const before = process.cpuUsage();
    burn(600);
    const used = process.cpuUsage(before);
    const own = tree.read();
    // /proc counts in 10 ms ticks; Node in microseconds.
    expect(Math.abs(own.cpuS.engine - (used.user + used.system) / 1e6)).toBeLessThan(0.08);
    expect(own.rssMb.engine).toBeGreaterThan(20);

    // A child that burns about 0.6 s of CPU and lives on a little: counted as `other`, by name.
    const child = spawn(process.execPath, ['-e', 'const e = Date.now() + 600; let x = 0; while (Date.now() < e) x++; setTimeout(() => {}, 1500);']);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const r = tree.read();
      expect(r.processes.other).toBe(1);
      expect(r.otherNames).toEqual(['node']);
      expect(r.cpuS.other).toBeGreaterThan(0.4);
      expect(r.cpuS.other).toBeLessThan(1.2);
    } finally {
      child.kill();
    }
  });
});
