import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import mqtt from 'mqtt';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { beaconCases, writeBeaconCity, connectTerminal, metricValue, until, centre, type BeaconCtx } from '../test/beacon-cases.ts';

describe('terminal beacons through the embedded aedes broker', () => {
  const ctx = {} as BeaconCtx;

  beforeAll(async () => {
    const t = await writeBeaconCity();
    ctx.raw = t.raw;
    ctx.engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: {} });
    await ctx.engine.start();
    ctx.brokerUrl = ctx.engine.broker!.url;
  });
  afterAll(async () => ctx.engine?.stop());

  it('refuses and counts a bad log-in, a foreign topic and any subscription by a terminal', async () => {
    const { engine, raw } = ctx;
    const [t0, t1] = [raw.terminals[0].id, raw.terminals[1].id];
    const bad = mqtt.connect(ctx.brokerUrl, { username: t0, password: 'wrong-password', reconnectPeriod: 0 });
    await new Promise<Error>((resolve) => bad.once('error', resolve));
    bad.end(true);
    const client = await connectTerminal(ctx, 0);
    const [lat, lon] = centre(engine.city, 'G0101');
    const before = await metricValue(engine, 'gridwatch_beacons_accepted_total', {});
    await client.publishAsync(`gw/terminals/${t1}/location`, JSON.stringify({ _type: 'location', lat, lon, tst: Math.floor(Date.now() / 1000) }), { qos: 0 }).catch(() => undefined);
    await until('foreign topic refused', async () => (await metricValue(engine, 'gridwatch_mqtt_refused_total', { terminal: t0, reason: 'foreign_topic' })) === 1);
    const sub = await connectTerminal(ctx, 1);
    await expect(sub.subscribeAsync('gw/terminals/#', { qos: 1 })).rejects.toThrow(/Subscribe error/); // SUBACK 0x80
    await sub.endAsync();
    await client.endAsync().catch(() => undefined);
    expect(await metricValue(engine, 'gridwatch_mqtt_refused_total', { reason: 'bad_login' })).toBe(1);
    expect(await metricValue(engine, 'gridwatch_mqtt_refused_total', { terminal: t1, reason: 'subscribe' })).toBe(1);
    expect(await metricValue(engine, 'gridwatch_beacons_accepted_total', {})).toBe(before);
  });

  it('counts messages for unknown terminals and topics that a misconfigured broker let through', async () => {
    const { engine, raw } = ctx;
    engine.beacons.handle('gw/terminals/nobody/location', Buffer.from('{}'));
    engine.beacons.handle('owntracks/eve/laptop', Buffer.from('{}'));
    engine.beacons.handle(`gw/terminals/${raw.terminals[0].id}/commands`, Buffer.from('{}'));
    expect(await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: '_unknown', reason: 'unknown_terminal' })).toBe(2);
    expect(await metricValue(engine, 'gridwatch_beacons_rejected_total', { terminal: raw.terminals[0].id, reason: 'unsupported_type' })).toBe(1);
  });

  beaconCases(() => ctx);
});
