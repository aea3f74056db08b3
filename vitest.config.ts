import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**', '.worktrees/**'],
    // Tests start real servers (nats-server, brokers, chromium); 2 cores is the budget.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    globalSetup: ['test/temp-root.ts'],
  },
});
