import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify';
import type { CameraLeases, Leadership } from '../cluster/index.ts';
import type { CaseRouter } from '../router/index.ts';
import type { CameraPipeline } from './camera-pipeline.ts';

/** What the cluster view reads. */
export interface ClusterApiPorts {
  readonly nodeId: string;
  readonly samplePeriodS: number;
  readonly leases: Pick<CameraLeases, 'status' | 'owned'>;
  readonly router: Pick<CaseRouter, 'status'>;
  readonly routerLeadership: Pick<Leadership, 'leading'>;
  readonly cameras: Pick<CameraPipeline, 'samples'>;
}

/**
 * `GET /api/cluster`: this node's part in the cluster, read-only, for supervisors (a console
 * session with `tuning`) and programs with the ops token: the cameras it ingests (with the samples each gave since it came here), the
 * live nodes it sees, and whether its router is the active instance.
 */
export function registerClusterApi(http: FastifyInstance, guard: preHandlerAsyncHookHandler, p: ClusterApiPorts): void {
  http.get('/api/cluster', { preHandler: guard }, async () => {
    const leases = p.leases.status();
    const router = p.router.status();
    return {
      node: p.nodeId,
      nodes: leases.liveNodes,
      cameras: p.leases.owned(),
      samples: p.cameras.samples(),
      samplePeriodS: p.samplePeriodS,
      roles: { router: p.routerLeadership.leading ? 'active' : 'standby' },
      router: { state: router.state, role: router.role, cases: router.cases, open: router.open },
      leaseError: leases.lastError,
    };
  });
}
