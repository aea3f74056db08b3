import { describe, it, expect, afterEach } from 'vitest';
import mqtt from 'mqtt';
import { createMetricsRegistry, silentLogger } from '../core/index.ts';
import { BrokerAcl } from './acl.ts';
import { EmbeddedBroker } from './broker.ts';
import { until } from '../test/harness.ts';

const SERVICE = { username: 'gridwatch', password: 'broker-test-secret' };
const TERMINAL = { id: 'T-0001', password: 'terminal-secret' };

async function startBroker(): Promise<EmbeddedBroker> {
  const acl = new BrokerAcl([{ id: TERMINAL.id, password: TERMINAL.password } as never], SERVICE);
  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: 0, acl, log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }) });
  await broker.start();
  return broker;
}

describe('embedded broker', () => {
  let broker: EmbeddedBroker | undefined;
  afterEach(async () => broker?.stop());

  it('keeps QoS 1 messages for a persistent session while it is away and replays them in order', async () => {
    broker = await startBroker();
    const opts = { ...SERVICE, clientId: 'svc-persistent', clean: false, reconnectPeriod: 0 };
    const sub = await mqtt.connectAsync(broker.url, opts);
    await sub.subscribeAsync('gw/terminals/+/+', { qos: 1 });
    await sub.endAsync();
    const term = await mqtt.connectAsync(broker.url, { username: TERMINAL.id, password: TERMINAL.password, clientId: TERMINAL.id, reconnectPeriod: 0 });
    for (let i = 0; i < 50; i++) await term.publishAsync(`gw/terminals/${TERMINAL.id}/location`, `{"n":${i}}`, { qos: 1 });
    await term.endAsync();
    // Back again: every message, once, in the order sent; acknowledged, so not sent a third time.
    const got: number[] = [];
    const again = mqtt.connect(broker.url, opts);
    again.on('message', (_t, payload) => got.push(JSON.parse(payload.toString()).n as number));
    await until('the 50 queued messages', () => got.length >= 50, 5000);
    await again.endAsync();
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const third: number[] = [];
    const last = mqtt.connect(broker.url, opts);
    last.on('message', (_t, payload) => third.push(JSON.parse(payload.toString()).n as number));
    await new Promise((r) => last.once('connect', r));
    await new Promise((r) => setTimeout(r, 300));
    await last.endAsync();
    expect(third).toEqual([]);
  });

  it('hands terminal messages to an in-process source before acknowledging them', async () => {
    broker = await startBroker();
    const got: string[] = [];
    const source = broker.source();
    await source.subscribe(['gw/terminals/+/+'], (topic, payload) => void got.push(`${topic} ${Buffer.from(payload).toString()}`));
    const term = await mqtt.connectAsync(broker.url, { username: TERMINAL.id, password: TERMINAL.password, reconnectPeriod: 0 });
    await term.publishAsync(`gw/terminals/${TERMINAL.id}/location`, 'one', { qos: 1 });
    // The PUBACK came after delivery: the message is there already.
    expect(got).toEqual([`gw/terminals/${TERMINAL.id}/location one`]);
    await source.unsubscribe();
    await term.publishAsync(`gw/terminals/${TERMINAL.id}/location`, 'two', { qos: 1 });
    await term.endAsync();
    expect(got).toHaveLength(1);
  });

  it('acknowledges a QoS 1 message only once the source says it is safe', async () => {
    broker = await startBroker();
    let safe: () => void = () => undefined;
    const got: string[] = [];
    await broker.source().subscribe(['gw/terminals/+/+'], (_topic, payload) => {
      got.push(Buffer.from(payload).toString());
      return new Promise<void>((r) => (safe = r));
    });
    const term = await mqtt.connectAsync(broker.url, { username: TERMINAL.id, password: TERMINAL.password, reconnectPeriod: 0 });
    let acked = false;
    const pub = term.publishAsync(`gw/terminals/${TERMINAL.id}/location`, 'one', { qos: 1 }).then(() => (acked = true));
    await until('message handed over', () => got.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(acked).toBe(false); // aedes on its own sends the PUBACK before it delivers
    safe();
    await pub;
    expect(acked).toBe(true);
    await term.endAsync();
  });
});
