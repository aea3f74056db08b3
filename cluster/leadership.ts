import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { openBucket } from './bucket.ts';
import { Gauge, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';

export interface LeadershipOptions {
  readonly nc: NatsConnection;
  /** What is led, e.g. `router` or `router.D01` for a district shard. */
  readonly role: string;
  readonly nodeId: string;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly leaseMs?: number;
  readonly tickMs?: number;
  readonly replicas?: number;
  readonly bucket?: string;
  /** Called when this node becomes the active instance. */
  readonly onLead: () => void | Promise<void>;
  /** Called when it stops being active; the lease is released only after this returns. */
  readonly onFollow: () => void | Promise<void>;
}

/**
 * One active instance of a role across nodes, the others on standby: the holder of a key in a
 * JetStream KV bucket whose entries expire after `leaseMs` leads. A standby takes over within
 * `leaseMs + tickMs` of the leader's death, or at its next tick when the leader steps down.
 */
export class Leadership {
  readonly #o: Required<LeadershipOptions>;
  #kv: KV | null = null;
  #revision = 0;
  #leading = false;
  #lastRenewOk = 0;
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #stopped = false;
  #lastError = '';
  /** The lease period stepping down uses: leaseMs, or the bucket's TTL where shorter. */
  #fenceMs = 0;
  #mismatch = '';
  readonly #gauge: Gauge<'role'>;

  constructor(opts: LeadershipOptions) {
    this.#o = { leaseMs: 10_000, tickMs: 2_000, replicas: 1, bucket: 'gw_leaders', ...opts };
    const name = 'gridwatch_cluster_leading';
    this.#gauge = (opts.metrics.getSingleMetric(name) as Gauge<'role'> | undefined) ?? new Gauge({ name, help: '1 while this node is the active instance of a role', labelNames: ['role'], registers: [opts.metrics] });
  }

  get leading(): boolean {
    return this.#leading;
  }

  health(): ComponentHealth {
    if (this.#lastError || this.#mismatch) return { state: 'degraded', reason: this.#lastError || this.#mismatch, role: this.#o.role, leading: this.#leading };
    return { state: 'up', role: this.#o.role, leading: this.#leading };
  }

  async start(): Promise<void> {
    this.#kv = await openBucket(this.#o.nc, this.#o.bucket, { history: 1, ttl: this.#o.leaseMs, replicas: this.#o.replicas });
    // An existing bucket keeps the TTL of the node that created it (see CameraLeases).
    const ttl = (await this.#kv.status()).ttl;
    this.#fenceMs = ttl > 0 ? Math.min(this.#o.leaseMs, ttl) : this.#o.leaseMs;
    if (ttl > 0 && ttl !== this.#o.leaseMs) {
      this.#mismatch = `services.cluster.lease_ms is ${this.#o.leaseMs} here, but the ${this.#o.bucket} bucket expires entries after ${ttl} ms; stepping down uses ${this.#fenceMs} ms. Give every node the same lease_ms`;
      this.#o.log.warn({ role: this.#o.role, lease_ms: this.#o.leaseMs, bucket_ttl_ms: ttl }, this.#mismatch);
    }
    await this.#tick();
    this.#timer = setInterval(() => {
      this.#ticking ??= this.#tick().finally(() => (this.#ticking = null));
    }, this.#o.tickMs);
  }

  async #tick(): Promise<void> {
    if (this.#stopped || !this.#kv) return;
    const value = JSON.stringify({ node: this.#o.nodeId, at: Date.now() });
    const key = this.#o.role;
    try {
      if (this.#leading) {
        this.#revision = await this.#kv.update(key, value, this.#revision);
        this.#lastRenewOk = Date.now();
      } else {
        try {
          this.#revision = await this.#kv.create(key, value);
        } catch {
          const e = await this.#kv.get(key);
          // After a restart of this same node its old lease is still there: take it back.
          if (!e || e.operation !== 'PUT' || e.json<{ node: string }>().node !== this.#o.nodeId) return;
          this.#revision = await this.#kv.update(key, value, e.revision);
        }
        this.#lastRenewOk = Date.now();
        await this.#become(true);
      }
      this.#lastError = '';
    } catch (err) {
      this.#lastError = (err as Error).message;
      // Lost the lease to someone else, or could not renew it in time: step down.
      if (this.#leading && Date.now() - this.#lastRenewOk > this.#fenceMs * 0.8) await this.#become(false);
      else if (this.#leading && /wrong last sequence/i.test(this.#lastError)) await this.#become(false);
    }
  }

  async #become(lead: boolean): Promise<void> {
    if (this.#leading === lead) return;
    this.#leading = lead;
    this.#gauge.set({ role: this.#o.role }, lead ? 1 : 0);
    this.#o.log.info({ role: this.#o.role, node: this.#o.nodeId }, lead ? 'now the active instance' : 'now on standby');
    try {
      await (lead ? this.#o.onLead() : this.#o.onFollow());
    } catch (err) {
      this.#o.log.error({ role: this.#o.role, err: (err as Error).message }, 'role hand-over failed');
      // A leader that could not take the role up hands it on, rather than holding it idle.
      if (lead && !this.#stopped) {
        await this.#become(false);
        await this.#kv?.delete(this.#o.role, { previousSeq: this.#revision }).catch(() => undefined);
      }
    }
  }

  /** Steps down (handing over at once) and stops competing. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking;
    if (this.#leading) {
      await this.#become(false);
      await this.#kv?.delete(this.#o.role, { previousSeq: this.#revision }).catch(() => undefined);
    }
  }
}
