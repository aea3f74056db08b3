/**
 * A minimal MQTT 3.1.1 publisher for load generation: CONNECT with credentials, QoS 1 PUBLISH,
 * PUBACK counting, PINGREQ. A thousand simulated terminals in one process cost a fraction of what
 * a thousand mqtt.js clients do, so on a 2-core machine the broker and gridwatch get the CPU that
 * real terminals, each on its own phone, would leave them.
 */
import { connect, type Socket } from 'node:net';
import { connectPacket, varint } from '../../test/mqtt-packets.ts';

export interface LeanTerminalOptions {
  readonly url: string;
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  readonly keepaliveS?: number;
}

const CONNACK = 2, PUBACK = 4, PINGRESP = 13;

export class LeanTerminal {
  inflight = 0;
  acked = 0;
  failed = 0;
  #socket: Socket | null = null;
  #rx: Buffer = Buffer.alloc(0);
  #nextId = 1;
  #ping: NodeJS.Timeout | null = null;
  #onAck: (() => void) | null = null;
  #onClose: (() => void) | null = null;
  #corked = false;

  readonly #o: LeanTerminalOptions;

  private constructor(o: LeanTerminalOptions) {
    this.#o = o;
  }

  /** Connects and logs in; rejects with the broker's return code when refused. `onClose`: the connection ended (messages in flight are lost). */
  static async open(o: LeanTerminalOptions, onAck?: () => void, onClose?: () => void): Promise<LeanTerminal> {
    const t = new LeanTerminal(o);
    t.#onAck = onAck ?? null;
    t.#onClose = onClose ?? null;
    await t.#connect();
    return t;
  }

  #connect(): Promise<void> {
    const u = new URL(this.#o.url);
    const keepalive = this.#o.keepaliveS ?? 60;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: u.hostname, port: Number(u.port || 1883) });
      socket.setNoDelay(true);
      this.#socket = socket;
      let connected = false;
      const fail = (err: Error) => {
        this.failed += this.inflight;
        this.inflight = 0;
        if (!connected) reject(err);
      };
      socket.on('error', fail);
      socket.on('close', () => {
        if (this.#ping) clearInterval(this.#ping);
        fail(new Error(`${this.#o.clientId}: connection closed`));
        this.#onClose?.();
      });
      socket.on('data', (chunk: Buffer) => {
        this.#rx = this.#rx.length ? Buffer.concat([this.#rx, chunk]) : chunk;
        let off = 0;
        while (off + 2 <= this.#rx.length) {
          let len = 0, mul = 1, i = off + 1, b: number;
          do {
            if (i >= this.#rx.length) { i = -1; break; }
            b = this.#rx[i++]!;
            len += (b & 0x7f) * mul;
            mul *= 128;
          } while (b & 0x80);
          if (i < 0 || i + len > this.#rx.length) break;
          const type = this.#rx[off]! >> 4;
          if (type === PUBACK) {
            this.inflight--;
            this.acked++;
            this.#onAck?.();
          } else if (type === CONNACK) {
            const rc = this.#rx[i + 1]!;
            if (rc !== 0) { socket.destroy(); reject(new Error(`${this.#o.clientId}: CONNACK return code ${rc}`)); return; }
            connected = true;
            resolve();
          } else if (type !== PINGRESP) {
            socket.destroy(new Error(`${this.#o.clientId}: unexpected packet type ${type}`));
            return;
          }
          off = i + len;
        }
        this.#rx = off >= this.#rx.length ? Buffer.alloc(0) : this.#rx.subarray(off);
      });
      socket.once('connect', () => {
        socket.write(connectPacket(this.#o.clientId, this.#o.username, this.#o.password, keepalive));
        this.#ping = setInterval(() => socket.write(Buffer.from([0xc0, 0])), (keepalive * 1000) / 2);
        this.#ping.unref();
      });
    });
  }

  /** One QoS 1 PUBLISH; its PUBACK is counted in `acked`. */
  publish(topic: string, payload: string): void {
    const t = Buffer.byteLength(topic), p = Buffer.byteLength(payload);
    const rl = 2 + t + 2 + p;
    const head = varint(rl);
    const buf = Buffer.allocUnsafe(1 + head.length + rl);
    let o = 0;
    buf[o++] = 0x32;
    for (const h of head) buf[o++] = h;
    buf.writeUInt16BE(t, o); o += 2;
    o += buf.write(topic, o, 'utf8');
    const id = this.#nextId;
    this.#nextId = id === 65535 ? 1 : id + 1;
    buf.writeUInt16BE(id, o); o += 2;
    buf.write(payload, o, 'utf8');
    this.inflight++;
    const socket = this.#socket!;
    // What one tick publishes leaves in one write.
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => { this.#corked = false; socket.uncork(); });
    }
    socket.write(buf);
  }

  /** DISCONNECT, then close. */
  async close(): Promise<void> {
    const s = this.#socket;
    if (this.#ping) clearInterval(this.#ping);
    if (!s || s.destroyed) return;
    await new Promise<void>((r) => s.end(Buffer.from([0xe0, 0]), () => r()));
    s.destroy();
  }
}
