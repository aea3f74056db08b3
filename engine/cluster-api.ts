import type { Engine } from './engine.ts';

/**
 * `GET /api/cluster`: this node's part in the cluster, read-only, for operators and the
 * multi-node test: the cameras it ingests (with the samples each gave since it came here), the
 * live nodes it sees, and whether its router is the active instance.
 */
export function registerClusterApi(engine: Engine): void {
  engine.http.get('/api/cluster', async () => {
    const leases = engine.leases.status();
    const router = engine.router.status();
    return {
      node: engine.nodeId,
      nodes: leases.liveNodes,
      cameras: engine.leases.owned(),
      samples: engine.cameras.samples(),
      samplePeriodS: engine.city.config.ingest.sample_period_s,
      roles: { router: engine.routerLeadership.leading ? 'active' : 'standby' },
      router: { state: router.state, role: router.role, cases: router.cases, open: router.open },
      leaseError: leases.lastError,
    };
  });
}
