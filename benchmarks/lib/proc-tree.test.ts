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

    // A child that burns 0.6 s of CPU (its own count, so a busy machine only makes it slower),
    // says so, and lives on a little: counted as `other`, by name.
    const child = spawn(process.execPath, ['-e', 'const spent = () => { const u = process.cpuUsage(); return u.user + u.system; }; let x = 0; while (spent() < 600_000) for (let i = 0; i < 1e5; i++) x++; process.stdout.write("burnt\\n"); setTimeout(() => {}, 3000);']);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('burnt')) resolve(); });
        child.on('exit', () => reject(new Error('the child exited before it had burnt its CPU')));
      });
      const r = tree.read();
      expect(r.processes.other).toBe(1);
      expect(r.otherNames).toEqual(['node']);
      expect(r.cpuS.other).toBeGreaterThan(0.55);
      expect(r.cpuS.other).toBeLessThan(1.2);
    } finally {
      child.kill();
    }
  });
});
