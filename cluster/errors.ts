import { GridwatchError } from '../core/index.ts';

/** The lease buckets cannot be opened or written. */
export class LeaseBucketError extends GridwatchError {
  constructor(bucket: string, cause: unknown) {
    super('CLUSTER_LEASE_BUCKET', `cannot use the JetStream KV bucket ${bucket}: ${(cause as Error)?.message ?? String(cause)}; NATS must run with JetStream enabled`, { cause, details: { bucket } });
  }
}
