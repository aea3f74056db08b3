import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import { LeaseBucketError } from './errors.ts';

/** How long a node waits for JetStream to answer while a NATS cluster elects its meta leader. */
const OPEN_WITHIN_MS = 20_000;
/** Answers that mean "not yet" (a cluster still electing, a server still starting), not "never". */
const TRANSIENT = /timeout|no responders|503|jetstream (is )?not (available|enabled|ready)|temporarily|leader/i;

/**
 * Opens (or creates) a KV bucket. Nodes that start together with a fresh NATS cluster find
 * JetStream without a meta leader for a few seconds; those answers are retried with back-off
 * for up to 20 s. Any other refusal (a bucket with another configuration) fails at once.
 */
export async function openBucket(nc: NatsConnection, name: string, opts: Partial<KvOptions>): Promise<KV> {
  const kvm = new Kvm(nc);
  const deadline = Date.now() + OPEN_WITHIN_MS;
  for (let wait = 100; ; wait = Math.min(2000, wait * 2)) {
    try {
      return await kvm.create(name, opts);
    } catch (err) {
      if (!TRANSIENT.test((err as Error)?.message ?? '') || Date.now() + wait > deadline) throw new LeaseBucketError(name, err);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
