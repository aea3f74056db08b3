import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

const require = createRequire(import.meta.url);

/** What aedes keeps of a QoS 1/2 message on its way to a subscriber. */
interface OutgoingPacket {
  brokerId: string;
  brokerCounter: number;
  messageId?: number;
}

interface Subscriber {
  clientId: string;
}

type PacketClass = new (p: object) => OutgoingPacket;
type AsyncMemoryPersistence = new (opts?: object) => object;
type CallBackPersistenceClass = new (factory: (opts: object) => object, opts?: object) => object;

const Packet = require('aedes-packet') as PacketClass;
const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as AsyncMemoryPersistence;
const { CallBackPersistence } = require('aedes-persistence/callBackPersistence.js') as { CallBackPersistence: CallBackPersistenceClass };

/**
 * One subscriber's messages in flight, in the order they were queued. aedes-persistence keeps an
 * array and scans it on every message id assignment and every PUBACK, which is quadratic in the
 * backlog: with 1,000 terminals publishing into gridwatch's one service session, those scans
 * were a fifth of the broker's time. Here both lookups are maps.
 */
class OutgoingQueue {
  /** `brokerId:brokerCounter` → packet, in queue order (a Map keeps insertion order). */
  readonly #packets = new Map<string, OutgoingPacket>();
  /** Message id → key of the packet sent with it (ids wrap at 65,535: a clash falls back to a scan). */
  readonly #byMessageId = new Map<number, string>();

  get size(): number {
    return this.#packets.size;
  }

  enqueue(packet: OutgoingPacket): void {
    this.#packets.set(keyOf(packet), packet);
  }

  /** aedes gave the packet a message id just before sending it. */
  update(packet: OutgoingPacket): void {
    const key = keyOf(packet);
    const queued = this.#packets.get(key);
    if (queued) {
      if (queued.messageId !== undefined && this.#byMessageId.get(queued.messageId) === key) this.#byMessageId.delete(queued.messageId);
      queued.messageId = packet.messageId;
      if (packet.messageId !== undefined && !this.#byMessageId.has(packet.messageId)) this.#byMessageId.set(packet.messageId, key);
      return;
    }
    // A packet from another broker instance, resent under the same message id: it takes the place.
    const byId = packet.messageId === undefined ? undefined : this.#byMessageId.get(packet.messageId);
    if (byId === undefined) throw new Error('no such packet');
    this.#packets.set(byId, packet);
  }

  /** The subscriber acknowledged a message id: forget that packet and return it. */
  clear(messageId: number): OutgoingPacket | undefined {
    let key = this.#byMessageId.get(messageId);
    if (key === undefined) {
      for (const [k, p] of this.#packets) if (p.messageId === messageId) { key = k; break; }
      if (key === undefined) return undefined;
    } else {
      this.#byMessageId.delete(messageId);
    }
    const packet = this.#packets.get(key);
    this.#packets.delete(key);
    return packet;
  }

  snapshot(): OutgoingPacket[] {
    return [...this.#packets.values()];
  }
}

function keyOf(p: OutgoingPacket): string {
  return `${p.brokerId}:${p.brokerCounter}`;
}

/** aedes' in-memory persistence with an indexed outgoing queue per subscriber. */
class IndexedMemoryPersistence extends MemoryPersistence {
  readonly #outgoing = new Map<string, OutgoingQueue>();

  #queue(clientId: string): OutgoingQueue {
    let q = this.#outgoing.get(clientId);
    if (!q) this.#outgoing.set(clientId, (q = new OutgoingQueue()));
    return q;
  }

  async outgoingEnqueue(sub: Subscriber, packet: object): Promise<void> {
    this.#queue(sub.clientId).enqueue(new Packet(packet));
  }

  async outgoingEnqueueCombi(subs: readonly Subscriber[], packet: object): Promise<void> {
    for (const sub of subs) this.#queue(sub.clientId).enqueue(new Packet(packet));
  }

  async outgoingUpdate(client: Subscriber & { id: string }, packet: OutgoingPacket): Promise<void> {
    this.#queue(client.id).update(packet);
  }

  async outgoingClearMessageId(client: { id: string }, packet: OutgoingPacket): Promise<OutgoingPacket | undefined> {
    const q = this.#outgoing.get(client.id);
    const cleared = packet.messageId === undefined ? undefined : q?.clear(packet.messageId);
    if (q && q.size === 0) this.#outgoing.delete(client.id);
    return cleared;
  }

  outgoingStream(client: { id: string }): Readable {
    return Readable.from(this.#outgoing.get(client.id)?.snapshot() ?? []);
  }
}

/** The persistence the embedded broker uses: aedes' own in memory, with indexed in-flight queues. */
export function brokerPersistence(): object {
  return new CallBackPersistence((opts) => new IndexedMemoryPersistence(opts));
}
