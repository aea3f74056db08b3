/**
 * A hostile camera for the RTSP fuzz test (ingest/rtsp-fuzz.test.ts): a proxy in front of the
 * simulated camera farm that passes the client's requests on unchanged and damages what the
 * camera answers, in one way per connection drawn from a seeded generator, so that a failure can
 * be replayed by its seed and connection number.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { seededRandom } from '../core/index.ts';

/** What one connection does to the camera's bytes. */
export const DAMAGE = [
  'flip-early', // random bytes flipped in the RTSP answers (status lines, headers, SDP)
  'flip-media', // random bytes flipped in the interleaved media
  'garbage', // random chunks inserted between the camera's
  'huge-length', // a Content-Length of 10^12 in the first answer
  'huge-frame', // an interleaved frame header claiming 65,535 bytes on channel 0, then noise
  'cut', // the connection closed after a random number of bytes
  'status', // the first answer's status line replaced by a random one
  'sdp', // the SDP body's lines shuffled and cut
  'slow', // the answers trickled one byte at a time
  'server-requests', // a flood of server-to-client requests between the answers
] as const;
export type Damage = (typeof DAMAGE)[number];

export interface HostileCamera {
  readonly port: number;
  /** The damage the session for camera path `c<i>` got, by i. */
  readonly damageOf: Map<number, Damage>;
  stop(): Promise<void>;
}

/**
 * Starts the proxy on a free loopback port, in front of the farm at `upstreamPort`. The damage of
 * a connection is drawn from `seed` and the number in its camera path (`/c17` → 17), so that each
 * session gets the same damage however many run at once.
 */
export async function startHostileCamera(upstreamPort: number, seed: number): Promise<HostileCamera> {
  const damageOf = new Map<number, Damage>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => sockets.delete(client));
    client.once('data', (first: Buffer) => {
      const i = Number(/\/c(\d+)/.exec(first.toString('latin1'))?.[1] ?? -1);
      const rand = seededRandom(seed * 10_000 + i);
      const int = (n: number) => Math.floor(rand() * n);
      const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
      const damage = DAMAGE[int(DAMAGE.length)]!;
      damageOf.set(i, damage);
      const upstream = connect(upstreamPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('error', () => undefined);
      upstream.on('close', () => { sockets.delete(upstream); client.destroy(); });
      client.on('close', () => upstream.destroy());
      upstream.write(first);
      // The client's answers to the requests this proxy made up are not the farm's to see.
      client.on('data', (b: Buffer) => upstream.write(b.toString('latin1').replace(/RTSP\/1\.0 \d{3}[^\r]*\r\nCSeq: \d+\r\n\r\n/g, ''), 'latin1'));
      let sent = 0, answers = 0;
      const cutAt = 40 + int(4000);
      upstream.on('data', (chunk: Buffer) => {
        let b = Buffer.from(chunk);
        const isAnswer = b.subarray(0, 5).toString('latin1') === 'RTSP/';
        if (isAnswer) answers++;
        switch (damage) {
          case 'flip-early': if (isAnswer) for (let k = 0; k < 1 + int(4); k++) b[int(b.length)] = int(256); break;
          case 'flip-media': if (!isAnswer) for (let k = 0; k < 1 + int(8); k++) b[int(b.length)] = int(256); break;
          case 'garbage': if (rand() < 0.3) b = Buffer.concat([noise(1 + int(300)), b]); break;
          case 'huge-length': if (answers === 1 && isAnswer) b = Buffer.from(b.toString('latin1').replace(/\r\n\r\n/, '\r\nContent-Length: 1000000000000\r\n\r\n'), 'latin1'); break;
          case 'huge-frame': if (!isAnswer && rand() < 0.2) b = Buffer.concat([Buffer.from([0x24, 0, 0xff, 0xff]), noise(2000)]); break;
          case 'status': if (answers === 1 && isAnswer) b = Buffer.from(b.toString('latin1').replace(/^[^\r]*/, `RTSP/1.0 ${int(1000)} ${noise(int(20)).toString('latin1')}`), 'latin1'); break;
          case 'sdp': if (isAnswer && b.includes('v=0')) {
            // Shuffled and cut, with a Content-Length that fits, so that the SDP parser gets it.
            const at = b.indexOf('v=0');
            const body = b.subarray(at).toString('latin1').split('\r\n').sort(() => rand() - 0.5).slice(0, int(12)).join('\r\n');
            b = Buffer.from(b.subarray(0, at).toString('latin1').replace(/Content-Length: \d+/i, `Content-Length: ${body.length}`) + body, 'latin1');
          } break;
          case 'server-requests': if (isAnswer) b = Buffer.concat([...Array.from({ length: 20 }, (_, k) => Buffer.from(`ANNOUNCE rtsp://x/ RTSP/1.0\r\nCSeq: ${k}\r\n\r\n`)), b]); break;
          default: break;
        }
        if (damage === 'cut' && sent + b.length >= cutAt) { client.end(b.subarray(0, Math.max(0, cutAt - sent))); upstream.destroy(); return; }
        sent += b.length;
        if (damage === 'slow' && isAnswer) {
          upstream.pause();
          let k = 0;
          const drip = setInterval(() => {
            if (client.destroyed || k >= b.length) { clearInterval(drip); upstream.resume(); return; }
            client.write(b.subarray(k, k + 1)); k++;
          }, 1);
          return;
        }
        client.write(b);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port, damageOf,
    stop: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}
