import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:net';
import { once } from 'node:events';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { writeBeaconCity, connectTerminal, metricValue, until, centre, type BeaconCtx } from '../test/beacon-cases.ts';
import { payloadInputs, rawInputs, sendRaw } from '../test/mqtt-fuzz.ts';
import { varint } from '../test/mqtt-packets.ts';

const MB = 1024 * 1024;
const RAW_INPUTS = 400;
const PAYLOAD_INPUTS = 600;

/** The largest growth of this process's RSS (the engine runs in it) while `work` runs, sampled every 20 ms. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; growthMb: number }> {
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, growthMb: (peak - base) / MB };
  } finally {
    clearInterval(timer);
  }
}

/** A valid position from terminal `i`, acknowledged, and seen by the engine. */
async function positionGetsThrough(ctx: BeaconCtx, i: number): Promise<void> {
  const id = ctx.raw.terminals[i].id as string;
  const [lat, lon] = centre(ctx.engine.city, 'G0101');
  const tst = Math.floor(Date.now() / 1000) - Math.floor(Math.random() * 1000);
  const c = await connectTerminal(ctx, i);
  await c.publishAsync(`gw/terminals/${id}/location`, JSON.stringify({ _type: 'location', lat, lon, tst }), { qos: 1 });
  await c.endAsync();
  expect(ctx.engine.beacons.terminal(id)?.lastTst).toBeGreaterThanOrEqual(tst);
}

describe('MQTT: oversized and malformed input against the engine (embedded aedes)', () => {
  const ctx = {} as BeaconCtx;

  beforeAll(async () => {
    const t = await writeBeaconCity();
    ctx.raw = t.raw;
    ctx.engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: {} });
    await ctx.engine.start();
    ctx.brokerUrl = ctx.engine.broker!.url;
  });
  afterAll(async () => ctx.engine?.stop());

  it('cuts off a 200 MB CONNECT from its header, and the engine\'s memory does not grow', async () => {
    await positionGetsThrough(ctx, 0); // warm: the first message allocates the ingest's paths
    const { result, growthMb } = await peakGrowth(async () => {
      const sock = connect(ctx.engine.broker!.port, '127.0.0.1');
      await once(sock, 'connect');
      let closed = false;
      sock.on('close', () => (closed = true));
      sock.on('error', () => undefined);
      const declared = 200 * MB;
      sock.write(Buffer.concat([Buffer.from([0x10]), varint(declared)]));
      const chunk = Buffer.alloc(MB, 0x61);
      let sent = 0;
      while (!closed && sent < declared) {
        sent += chunk.length;
        if (!sock.write(chunk)) await new Promise((r) => (sock.once('drain', r), sock.once('close', r)));
      }
      const cutOff = closed;
      sock.destroy();
      return { sent, cutOff };
    });
    console.log(`200 MB CONNECT: ${(result.sent / MB).toFixed(0)} MB written before the broker closed the socket; RSS grew ${growthMb.toFixed(1)} MB at most`);
    expect(result.cutOff).toBe(true);
    expect(result.sent).toBeLessThan(32 * MB); // what the kernel's socket buffers took before the reset
    expect(growthMb).toBeLessThan(64);
    expect(await metricValue(ctx.engine, 'gridwatch_mqtt_refused_total', { reason: 'connect_too_large' })).toBeGreaterThanOrEqual(1);
    await positionGetsThrough(ctx, 0);
  });

  it(`stays up, bounded, and serves another terminal through ${RAW_INPUTS} raw byte strings and ${PAYLOAD_INPUTS} bad payloads`, async () => {
    const { engine, raw } = ctx;
    const port = engine.broker!.port;
    const t1 = raw.terminals[1];
    const [lat, lon] = centre(engine.city, 'G0101');
    const receivedBefore = engine.beacons.status().received;
    const { result, growthMb } = await peakGrowth(async () => {
      const inputs = rawInputs(18, RAW_INPUTS, { id: t1.id, password: t1.password });
      let closedByBroker = 0;
      for (let i = 0; i < inputs.length; i += 20) {
        const done = await Promise.all(inputs.slice(i, i + 20).map((b) => sendRaw(port, b, 300)));
        closedByBroker += done.filter(Boolean).length;
      }
      // Terminal 0 is not disturbed by what came over the other sockets.
      await positionGetsThrough(ctx, 0);
      const payloads = payloadInputs(18, PAYLOAD_INPUTS, { lat, lon });
      const client = await connectTerminal(ctx, 1);
      for (let i = 0; i < payloads.length; i += 50) {
        await Promise.all(payloads.slice(i, i + 50).map(([kind, body]) => client.publishAsync(`gw/terminals/${t1.id}/${kind}`, body, { qos: 1 })));
      }
      await client.endAsync();
      return { closedByBroker };
    });
    console.log(`MQTT fuzz: ${RAW_INPUTS} raw inputs (${result.closedByBroker} closed by the broker within 300 ms), ${PAYLOAD_INPUTS} payloads; RSS grew ${growthMb.toFixed(1)} MB at most`);
    // Every payload reached the ingest and was either taken or rejected with a reason; none stopped it.
    await until('every payload handled', () => engine.beacons.status().received - receivedBefore >= PAYLOAD_INPUTS);
    expect(engine.beacons.status().rejected).toBeGreaterThan(PAYLOAD_INPUTS / 2);
    // How many the broker closed within 300 ms depends on the machine's load: logged, not asserted.
    for (const reason of ['connect_too_large', 'packet_too_large']) {
      expect(await metricValue(engine, 'gridwatch_mqtt_refused_total', { reason }), reason).toBeGreaterThan(0);
    }
    expect(growthMb).toBeLessThan(100);
    const health = engine.health.report().components;
    expect(health.mqtt?.state).toBe('up');
    expect(health.beacons?.state).toBe('up');
    await positionGetsThrough(ctx, 0);
    expect(engine.broker!.health()).toMatchObject({ state: 'up' });
  });
});
