import type { Socket } from 'node:net';

/** Why a connection's bytes were refused. */
export type GuardRefusal = 'too_large' | 'malformed';

/**
 * Follows MQTT packet boundaries in the raw bytes of one connection without keeping any of them:
 * a fixed header byte, the remaining length (1–4 bytes, MQTT 3.1.1 §2.2.3), then that many bytes
 * skipped. aedes' parser buffers a whole packet before it looks at it, so a CONNECT that declares
 * 200 MB would be read in full before log-in; here it is refused from its first five bytes.
 */
export class PacketGuard {
  /** the largest remaining length allowed now: small before log-in, the beacon limit after */
  limit: number;
  #state: 'header' | 'length' | 'body' = 'header';
  #length = 0;
  #shift = 0;
  #lengthBytes = 0;
  #left = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Looks at the next bytes of the stream; a refusal reason, or null while they are fine. */
  check(buf: Uint8Array): GuardRefusal | null {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (this.#state === 'body') {
        const take = Math.min(this.#left, n - i);
        this.#left -= take;
        i += take;
        if (this.#left === 0) this.#state = 'header';
        continue;
      }
      const byte = buf[i++]!;
      if (this.#state === 'header') {
        this.#state = 'length';
        this.#length = 0;
        this.#shift = 0;
        this.#lengthBytes = 0;
        continue;
      }
      this.#length += (byte & 0x7f) * 2 ** this.#shift;
      this.#shift += 7;
      if (++this.#lengthBytes > 4) return 'malformed';
      if (this.#length > this.limit) return 'too_large';
      if (byte & 0x80) continue;
      this.#left = this.#length;
      this.#state = this.#left === 0 ? 'header' : 'body';
    }
    return null;
  }
}

/**
 * Puts a guard in front of aedes on one socket. aedes reads a connection with `socket.read()` in
 * paused mode, so the guard wraps `read`: every chunk is checked before aedes' parser sees it, and
 * a refused one is never handed over; the socket is destroyed at once.
 */
export function guardSocket(socket: Socket, guard: PacketGuard, refused: (why: GuardRefusal) => void): void {
  const read = socket.read.bind(socket);
  socket.read = ((size?: number) => {
    const chunk = read(size) as Buffer | string | null;
    if (chunk === null || typeof chunk === 'string') return chunk;
    const why = guard.check(chunk);
    if (!why) return chunk;
    socket.destroy();
    refused(why);
    return null;
  }) as typeof socket.read;
}
