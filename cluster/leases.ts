import type { NatsConnection } from '@nats-io/transport-node';
import type { KV, KvEntry } from '@nats-io/kv';
import { openBucket } from './bucket.ts';
import { Gauge, Counter, type ComponentHealth, type Logger, type Registry } from '../core/index.ts';
import { assignCameras } from './assign.ts';

export interface CameraLeasesOptions {
  readonly nc: NatsConnection;
  readonly nodeId: string;
  readonly cameraIds: readonly string[];
  readonly log: Logger;
  readonly metrics: Registry;
  /** A lease not renewed for this long expires; a dead node's cameras move after it. */
  readonly leaseMs?: number;
  /** How often leases and the node's heartbeat are renewed, and assignments reconciled. */
  readonly tickMs?: number;
  readonly bucketPrefix?: string;
  /** Copies of the lease buckets in a NATS cluster; 3 survives the loss of one server. */
  readonly replicas?: number;
  /**
   * Called when this node must start ingesting a camera; `handedOver`: another node released it
   * within the lease period (a join, a clean stop, a rebalance), so it was being sampled until now.
   */
  readonly onAcquire: (cameraId: string, how: { handedOver: boolean }) => void | Promise<void>;
  /** Called when this node must stop; the lease is released only after this returns. */
  readonly onRelease: (cameraId: string) => void | Promise<void>;
}

interface Held {
  revision: number;
}

/** KV keys may not contain every character an id may; ids are letters, digits, _ . - already. */
const key = (id: string) => id.replace(/[^A-Za-z0-9_\-./=]/g, '_');

/** The node named in a lease's value; '' when it names none. */
function holderOf(e: KvEntry): string {
  try {
    return String(e.json<{ node?: unknown }>().node ?? '');
  } catch {
    return '';
  }
}

/**
 * Lease requests in flight at once. One after another, a thousand renewals on a busy node took
 * longer than the lease itself, so the node fenced itself off and dropped every camera.
 */
const IN_FLIGHT = 64;

/** Runs `fn` over the items, `limit` at a time, until done or `until()` says stop. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>, until: () => boolean = () => false): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => { while (next < items.length && !until()) await fn(items[next++]!); };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/**
 * Shares cameras between nodes through leases in a JetStream KV bucket.
 *
 * Each node heartbeats into a `nodes` bucket whose entries expire after `leaseMs`, so the live
 * nodes are the keys present. All nodes compute the same balanced assignment from that list
 * (rendezvous hashing with bounded loads). A node claims a camera by creating its key in the
 * `leases` bucket (create fails while another node holds it), renews it by compare-and-set on
 * its revision, and hands it over by stopping ingest first and deleting the key second. A node
 * that cannot renew within `leaseMs` drops all its cameras, so that no camera is ingested twice
 * for longer than one lease period.
 */
export class CameraLeases {
  readonly #o: Required<Omit<CameraLeasesOptions, 'cameraIds'>>;
  #cameraIds: readonly string[];
  #nodes: KV | null = null;
  #leases: KV | null = null;
  readonly #held = new Map<string, Held>();
  #liveNodes: string[] = [];
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> | null = null;
  #lastRenewOk = 0;
  #stopped = false;
  #lastError = '';
  /** The lease period fencing uses: this node's lease_ms, or the buckets' TTL where shorter. */
  #fenceMs: number;
  /** Set when this node's lease_ms differs from the TTL the buckets were created with. */
  #mismatch = '';
  readonly #owned: Gauge;
  readonly #moves: Counter<'kind'>;

  constructor(opts: CameraLeasesOptions) {
    this.#o = { leaseMs: 10_000, tickMs: 2_000, bucketPrefix: 'gw', replicas: 1, ...opts };
    this.#cameraIds = opts.cameraIds;
    this.#fenceMs = this.#o.leaseMs;
    this.#owned = new Gauge({ name: 'gridwatch_cluster_cameras_owned', help: 'Cameras this node holds leases for', registers: [opts.metrics] });
    this.#moves = new Counter({ name: 'gridwatch_cluster_lease_changes_total', help: 'Leases acquired and released by this node', labelNames: ['kind'], registers: [opts.metrics] });
  }

  /** The cameras this node ingests now. */
  owned(): string[] {
    return [...this.#held.keys()].sort();
  }

  status(): { node: string; owned: number; liveNodes: readonly string[]; lastError: string } {
    return { node: this.#o.nodeId, owned: this.#held.size, liveNodes: this.#liveNodes, lastError: this.#lastError };
  }

  health(): ComponentHealth {
    const age = Date.now() - this.#lastRenewOk;
    if (this.#lastRenewOk === 0 || age > this.#fenceMs) return { state: 'down', reason: this.#lastError || 'leases not renewed', owned: this.#held.size };
    if (this.#mismatch) return { state: 'degraded', reason: this.#mismatch, owned: this.#held.size, nodes: this.#liveNodes.length };
    if (this.#lastError) return { state: 'degraded', reason: this.#lastError, owned: this.#held.size, nodes: this.#liveNodes.length };
    return { state: 'up', owned: this.#held.size, nodes: this.#liveNodes.length };
  }

  async start(): Promise<void> {
    const open = (name: string) => openBucket(this.#o.nc, name, { history: 1, ttl: this.#o.leaseMs, replicas: this.#o.replicas });
    this.#nodes = await open(`${this.#o.bucketPrefix}_nodes`);
    this.#leases = await open(`${this.#o.bucketPrefix}_camera_leases`);
    await this.#checkTtl();
    await this.#tick();
    this.#timer = setInterval(() => void this.#tickOnce(), this.#o.tickMs);
  }

  /**
   * Buckets that exist keep the TTL of the node that created them, whatever lease_ms this node
   * has. Leases then expire after that TTL: a node whose lease_ms is longer would keep ingesting
   * a camera another node has already taken. So fencing uses the shorter of the two, and the
   * mismatch shows in the log and in health until the config agrees.
   */
  async #checkTtl(): Promise<void> {
    const ttls = [(await this.#nodes!.status()).ttl, (await this.#leases!.status()).ttl].filter((t) => t > 0);
    if (ttls.length === 0) return;
    const bucketMs = Math.min(...ttls);
    this.#fenceMs = Math.min(this.#o.leaseMs, bucketMs);
    if (bucketMs === this.#o.leaseMs) return;
    this.#mismatch = `services.cluster.lease_ms is ${this.#o.leaseMs} here, but the cluster's lease buckets expire entries after ${bucketMs} ms (the lease_ms of the node that created them); fencing uses ${this.#fenceMs} ms. Give every node the same lease_ms`;
    this.#o.log.warn({ lease_ms: this.#o.leaseMs, bucket_ttl_ms: bucketMs }, this.#mismatch);
  }

  /** Replaces the camera list (config changed): cameras no longer listed are released. */
  setCameras(ids: readonly string[]): void {
    this.#cameraIds = ids;
    void this.#tickOnce();
  }

  #tickOnce(): Promise<void> {
    if (!this.#ticking) this.#ticking = this.#tick().finally(() => (this.#ticking = null));
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    if (this.#stopped || !this.#nodes || !this.#leases) return;
    const { nodeId, log } = this.#o;
    try {
      await this.#nodes.put(key(nodeId), JSON.stringify({ node: nodeId, at: Date.now() }));
      const live: string[] = [];
      for await (const k of await this.#nodes.keys()) live.push(k);
      this.#liveNodes = live.sort();
      await this.#renew();
      const desired = assignCameras(this.#cameraIds, this.#liveNodes.includes(key(nodeId)) ? this.#liveNodes : [...this.#liveNodes, key(nodeId)]);
      // Hand over first, so that the new owner finds the lease free as soon as possible.
      await eachLimited([...this.#held.keys()].filter((cam) => desired.get(cam) !== key(nodeId)), IN_FLIGHT, (cam) => this.#release(cam));
      // Claims stop a third of a lease into the tick; the rest wait for the next, after renewals.
      const claimUntil = Date.now() + this.#fenceMs / 3;
      const wanted = [...desired].filter(([cam, owner]) => owner === key(nodeId) && !this.#held.has(cam)).map(([cam]) => cam);
      await eachLimited(wanted, IN_FLIGHT, (cam) => this.#claim(cam), () => Date.now() > claimUntil);
      this.#lastError = '';
    } catch (err) {
      this.#lastError = (err as Error).message;
      log.warn({ err: this.#lastError }, 'lease tick failed');
    }
    // Fencing: leases we could not renew in time may already belong to another node.
    if (this.#held.size && Date.now() - this.#lastRenewOk > this.#fenceMs) {
      log.error({ cameras: this.#held.size }, 'leases not renewed within the lease period; dropping all cameras');
      for (const cam of [...this.#held.keys()]) await this.#drop(cam);
    }
    this.#owned.set(this.#held.size);
  }

  async #renew(): Promise<void> {
    const value = JSON.stringify({ node: this.#o.nodeId });
    // Every lease renewed counts from when the round began: fencing errs on the safe side.
    const began = Date.now();
    await eachLimited([...this.#held], IN_FLIGHT, async ([cam, h]) => {
      try {
        h.revision = await this.#leases!.update(key(cam), value, h.revision);
      } catch (err) {
        // Someone else holds it now (we were fenced or partitioned): stop ingesting it.
        this.#o.log.warn({ camera: cam, err: (err as Error).message }, 'lost a camera lease');
        await this.#drop(cam);
      }
    });
    this.#lastRenewOk = began;
  }

  async #claim(cam: string): Promise<void> {
    const value = JSON.stringify({ node: this.#o.nodeId });
    // A release leaves a delete marker, which lives as long as a lease (the bucket's TTL). A
    // holder's lease read just before it released (the release landing between this read and
    // the create) is a hand-over too: a lease renewed less than half a period ago cannot have
    // expired by the create, so it was deleted. Under load that race took 64 of 100 marks.
    const before = await this.#leases!.get(key(cam)).catch(() => null);
    const freshHolder = before?.operation === 'PUT' && Date.now() - before.created.getTime() < this.#fenceMs / 2 && holderOf(before) !== this.#o.nodeId;
    const handedOver = before?.operation === 'DEL' || before?.operation === 'PURGE' || freshHolder;
    let revision: number;
    try {
      revision = await this.#leases!.create(key(cam), value);
    } catch {
      // Held by someone, or left by us before a restart: adopt our own, wait for others' to expire.
      const e = await this.#leases!.get(key(cam));
      if (!e || e.operation !== 'PUT' || (e.json<{ node: string }>().node !== this.#o.nodeId)) return;
      try {
        revision = await this.#leases!.update(key(cam), value, e.revision);
      } catch {
        return;
      }
    }
    this.#held.set(cam, { revision });
    this.#moves.inc({ kind: 'acquired' });
    try {
      await this.#o.onAcquire(cam, { handedOver });
    } catch (err) {
      this.#o.log.error({ camera: cam, err: (err as Error).message }, 'could not start a leased camera');
    }
  }

  async #drop(cam: string): Promise<void> {
    if (!this.#held.delete(cam)) return;
    this.#moves.inc({ kind: 'released' });
    try {
      await this.#o.onRelease(cam);
    } catch (err) {
      this.#o.log.error({ camera: cam, err: (err as Error).message }, 'could not stop a released camera');
    }
  }

  async #release(cam: string): Promise<void> {
    const h = this.#held.get(cam);
    await this.#drop(cam);
    if (h) await this.#leases!.delete(key(cam), { previousSeq: h.revision }).catch(() => undefined);
  }

  /** Stops ingest of every held camera, then releases the leases and leaves the node list. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#ticking;
    for (const cam of [...this.#held.keys()]) await this.#release(cam);
    await this.#nodes?.delete(key(this.#o.nodeId)).catch(() => undefined);
    this.#owned.set(0);
  }
}
