/**
 * Malformed MQTT input for the fuzz test (beacons/mqtt-fuzz.test.ts): raw byte strings for a
 * socket, and bad payloads for a terminal's own topics, drawn from a seeded generator so that a
 * failure can be replayed.
 */
import { connect } from 'node:net';
import { seededRandom } from '../core/index.ts';
import { connectPacket, publishPacket, varint } from './mqtt-packets.ts';

/** One input: bytes, or a log-in and what follows once the broker has answered it. */
export type RawInput = Buffer | readonly [Buffer, Buffer];

/** Sends an input on a fresh connection and waits until the broker closes it, or `waitMs`; true when the broker closed it. */
export function sendRaw(port: number, input: RawInput, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, waitMs);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    const [first, then] = Buffer.isBuffer(input) ? [input, null] : input;
    sock.on('connect', () => sock.write(first));
    if (then) sock.once('data', () => sock.write(then));
  });
}

/** `count` malformed byte strings: noise, bad lengths, flipped CONNECTs, garbage after a good log-in. */
export function rawInputs(seed: number, count: number, login: { id: string; password: string }): RawInput[] {
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const flip = (b: Buffer) => {
    const c = Buffer.from(b);
    for (let k = 1 + int(3); k > 0; k--) {
      const at = int(c.length);
      c[at] = c[at]! ^ (1 << int(8));
    }
    return c;
  };
  const good = connectPacket(`fuzz-${login.id}`, login.id, login.password);
  const kinds: (() => RawInput)[] = [
    () => noise(1 + int(512)),
    () => Buffer.concat([Buffer.from([0x10]), varint(int(2 ** 28)), noise(int(64))]), // a CONNECT of any declared length
    () => Buffer.concat([Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), noise(8)]), // a length of five bytes
    () => flip(connectPacket(`fuzz-${int(1e6)}`, login.id, login.password)),
    () => connectPacket('x'.repeat(int(5000)), 'nobody', 'wrong'),
    () => publishPacket(`gw/terminals/${login.id}/location`, noise(int(200))), // publish before CONNECT
    () => [good, flip(publishPacket(`gw/terminals/${login.id}/location`, noise(int(300))))],
    () => [good, Buffer.concat([Buffer.from([0x30]), varint(8 * 1024 * 1024 + int(2 ** 27)), noise(32)])], // logged in, then a huge PUBLISH
    () => [good, noise(1 + int(256))],
    () => good.subarray(0, 1 + int(good.length - 1)), // cut short
  ];
  return Array.from({ length: count }, (_, i) => kinds[i % kinds.length]!());
}

/** `count` bad payloads for a terminal's own topics: `[topic kind, payload]`. */
export function payloadInputs(seed: number, count: number, valid: { lat: number; lon: number }): [string, Buffer][] {
  const rnd = seededRandom(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const weird: unknown[] = [null, true, -1, 1e308, -1e308, 'x', [], {}, 'NaN', 2 ** 53, '\u0000', '💥'.repeat(100), { $gt: 1 }, [1, [2, [3]]]];
  const base = () => ({ _type: 'location', lat: valid.lat, lon: valid.lon, tst: Math.floor(Date.now() / 1000) - int(1000), acc: 5 }) as Record<string, unknown>;
  const kinds: (() => [string, Buffer])[] = [
    () => ['location', Buffer.from(Array.from({ length: int(2000) }, () => int(256)))],
    () => {
      const o = base();
      const keys = Object.keys(o);
      o[keys[int(keys.length)]!] = weird[int(weird.length)];
      return ['location', Buffer.from(JSON.stringify(o))];
    },
    () => {
      const o = base();
      delete o[Object.keys(o)[int(5)]!];
      return ['location', Buffer.from(JSON.stringify(o))];
    },
    () => {
      const j = JSON.stringify(base());
      return ['location', Buffer.from(j.slice(0, int(j.length)))];
    },
    () => ['location', Buffer.from('['.repeat(1000 + int(3000)) + ']'.repeat(int(10)))],
    () => ['location', Buffer.from(`{"_type":"location","lat":1e999,"lon":${valid.lon},"tst":"${'9'.repeat(int(400))}"}`)],
    () => ['report', Buffer.from(JSON.stringify({ _type: 'report', category: weird[int(weird.length)], text: 'x', lat: valid.lat, lon: valid.lon, tst: Math.floor(Date.now() / 1000), photo: Buffer.from(Array.from({ length: int(600) }, () => int(256))).toString('base64') }))],
    () => ['report', Buffer.from(JSON.stringify({ _type: 'report', category: 'sanitation', lat: valid.lat, lon: valid.lon, tst: Math.floor(Date.now() / 1000), photo: 'data:image/jpeg;base64,' + '%%%'.repeat(int(100)) }))],
    () => ['status', Buffer.from(Array.from({ length: int(64) }, () => int(256)))],
    () => ['status', Buffer.from(JSON.stringify({ state: weird[int(weird.length)], tst: weird[int(weird.length)] }))],
  ];
  return Array.from({ length: count }, (_, i) => kinds[i % kinds.length]!());
}
