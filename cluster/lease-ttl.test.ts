import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, silentLogger } from '../core/index.ts';
import { natsForSuite } from '../test/nats-suite.ts';
import { CameraLeases, Leadership } from './index.ts';

describe('nodes whose lease_ms disagrees', () => {
  const suite = natsForSuite();

  it('the buckets keep the first node\'s TTL; a node with a longer lease_ms fences on it and says so in health', async () => {
    const { nc } = suite;
    const leases = (nodeId: string, leaseMs: number) => new CameraLeases({
      nc, nodeId, cameraIds: ['cam-1', 'cam-2'], leaseMs, tickMs: 300, bucketPrefix: 'ttl', log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }),
      onAcquire: () => undefined, onRelease: () => undefined,
    });
    const first = leases('node-1', 3000);
    const second = leases('node-2', 20_000);
    await first.start();
    await second.start();
    try {
      expect(first.health().state).toBe('up');
      const h = second.health();
      expect(h.state).toBe('degraded');
      expect(h.reason).toMatch(/lease_ms is 20000 here, but .* after 3000 ms .* fencing uses 3000 ms/);
    } finally {
      await second.stop();
      await first.stop();
    }
  });

  it('the same for the router role\'s leader bucket', async () => {
    const { nc } = suite;
    const role = (nodeId: string, leaseMs: number) => new Leadership({
      nc, role: 'router', nodeId, leaseMs, tickMs: 300, bucket: 'ttl_leaders', log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }),
      onLead: () => undefined, onFollow: () => undefined,
    });
    const first = role('node-1', 3000);
    const second = role('node-2', 20_000);
    await first.start();
    await second.start();
    try {
      expect(first.health()).toMatchObject({ state: 'up', leading: true });
      expect(second.health()).toMatchObject({ state: 'degraded', leading: false });
      expect(second.health().reason).toMatch(/lease_ms is 20000 here, but the ttl_leaders bucket expires entries after 3000 ms/);
    } finally {
      await second.stop();
      await first.stop();
    }
  });
});
