import { describe, it, expect, afterEach } from 'vitest';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createMetricsRegistry, silentLogger, type Registry } from '../core/index.ts';
import { BrokerAcl } from './acl.ts';
import { EmbeddedBroker } from './broker.ts';
import type { BrokerLimits } from './broker-limits.ts';
import { until } from '../test/harness.ts';

const SERVICE = { username: 'gridwatch', password: 'broker-test-secret' };
const TERMINALS = [{ id: 'T-0001', password: 'terminal-one' }, { id: 'T-0002', password: 'terminal-two' }];

interface Started {
  broker: EmbeddedBroker;
  metrics: Registry;
  /** what reached the in-process source, as `topic payload` */
  got: string[];
}

async function startBroker(limits: Partial<BrokerLimits> = {}): Promise<Started> {
  const acl = new BrokerAcl(TERMINALS.map((t) => ({ ...t }) as never), SERVICE);
  const metrics = createMetricsRegistry({ defaults: false });
  const broker = new EmbeddedBroker({ host: '127.0.0.1', port: 0, acl, log: silentLogger(), metrics, limits });
  await broker.start();
  const got: string[] = [];
  await broker.source().subscribe(['gw/terminals/+/+'], (topic, payload) => void got.push(`${topic} ${Buffer.from(payload).toString()}`));
  return { broker, metrics, got };
}

function terminal(s: Started, i: number, extra: IClientOptions = {}): Promise<MqttClient> {
  const t = TERMINALS[i]!;
  return mqtt.connectAsync(s.broker.url, { username: t.id, password: t.password, reconnectPeriod: 0, ...extra });
}

async function refused(metrics: Registry, reason: string): Promise<number> {
  const got = await metrics.getSingleMetric('gridwatch_mqtt_refused_total')!.get();
  return got.values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
}

const closed = (c: MqttClient) => new Promise<void>((r) => (c.connected ? c.once('close', () => r()) : r()));

describe('embedded broker bounds', () => {
  let started: Started | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.end(true);
    await started?.broker.stop();
    started = undefined;
  });

  it('closes a logged-in connection whose packet is over the limit, from its header', async () => {
    const s = (started = await startBroker({ packetBytes: 64 * 1024 }));
    const term = await terminal(s, 0);
    clients.push(term);
    await term.publishAsync(`gw/terminals/${TERMINALS[0]!.id}/report`, Buffer.alloc(32 * 1024, 0x61), { qos: 1 });
    const gone = closed(term);
    term.publish(`gw/terminals/${TERMINALS[0]!.id}/report`, Buffer.alloc(100 * 1024, 0x62), { qos: 1 });
    await gone;
    expect(await refused(s.metrics, 'packet_too_large')).toBe(1);
    expect(s.got).toHaveLength(1); // the 32 KB one
  });

  it('delivers but does not keep a retained message that is too large, or one past the topic limit', async () => {
    const s = (started = await startBroker({ retainedBytes: 1024, retainedTopics: 1 }));
    const [t0, t1] = [TERMINALS[0]!.id, TERMINALS[1]!.id];
    const a = await terminal(s, 0);
    const b = await terminal(s, 1);
    clients.push(a, b);
    await a.publishAsync(`gw/terminals/${t0}/status`, Buffer.alloc(8 * 1024, 0x61), { qos: 1, retain: true }); // too large
    await a.publishAsync(`gw/terminals/${t0}/location`, 'small', { qos: 1, retain: true }); // kept
    await b.publishAsync(`gw/terminals/${t1}/status`, 'online', { qos: 1, retain: true }); // past one topic
    expect(s.got).toHaveLength(3);
    // A subscriber that comes later gets only the one kept.
    const sub = await mqtt.connectAsync(s.broker.url, { ...SERVICE, reconnectPeriod: 0 });
    clients.push(sub);
    const retained: string[] = [];
    sub.on('message', (topic, _p, packet) => packet.retain && retained.push(topic));
    await sub.subscribeAsync('gw/terminals/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(retained).toEqual([`gw/terminals/${t0}/location`]);
    expect(await refused(s.metrics, 'retained')).toBe(2);
  });

  it('refuses connections past the limit for one address, and takes one again when another closes', async () => {
    const s = (started = await startBroker({ connectionsPerAddress: 3 }));
    const open = [await terminal(s, 0), await terminal(s, 1), await terminal(s, 0)];
    clients.push(...open);
    const extra = mqtt.connect(s.broker.url, { username: TERMINALS[1]!.id, password: TERMINALS[1]!.password, reconnectPeriod: 0 });
    clients.push(extra);
    // The socket is closed before any CONNACK: mqtt.js reports a close, not an error.
    expect(await new Promise((r) => { extra.once('connect', () => r('connected')); extra.once('close', () => r('closed')); })).toBe('closed');
    expect(await refused(s.metrics, 'too_many_connections')).toBe(1);
    await open[0]!.endAsync();
    await until('a slot is free again', async () => {
      const c = await terminal(s, 1).catch(() => null);
      if (c) clients.push(c);
      return c;
    }, 5000);
  });

  it('does not let a terminal take over another terminal\'s client id, or fire its last will', async () => {
    const s = (started = await startBroker());
    const [t0, t1] = [TERMINALS[0]!.id, TERMINALS[1]!.id];
    const will = { topic: `gw/terminals/${t0}/status`, payload: Buffer.from('{"state":"offline"}'), qos: 1 as const, retain: true };
    const owner = await terminal(s, 0, { clientId: 'handheld-7', clean: false, will });
    clients.push(owner);
    let kicked = false;
    owner.on('close', () => (kicked = true));
    // T-0002 logs in with its own password, but T-0001's client id.
    await expect(terminal(s, 1, { clientId: 'handheld-7' })).rejects.toThrow(/Identifier rejected/i);
    expect(await refused(s.metrics, 'client_id_taken')).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(kicked).toBe(false);
    expect(s.got.filter((m) => m.includes('offline'))).toEqual([]);
    await owner.publishAsync(`gw/terminals/${t0}/location`, 'still here', { qos: 1 });
    expect(s.got).toEqual([`gw/terminals/${t0}/location still here`]);
    // Its persistent session stays its own after it leaves.
    await owner.endAsync();
    await expect(terminal(s, 1, { clientId: 'handheld-7' })).rejects.toThrow(/Identifier rejected/i);
    // The owner itself may come back with it (a reconnect after a dropped network).
    const back = await terminal(s, 0, { clientId: 'handheld-7', clean: false });
    clients.push(back);
    await back.publishAsync(`gw/terminals/${t0}/location`, 'back', { qos: 1 });
    expect(s.got.at(-1)).toBe(`gw/terminals/${t0}/location back`);
    void t1;
  });
});
