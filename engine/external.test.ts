import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import mqtt from 'mqtt';
import { silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { startMosquitto, startNatsServer, writeTestCity, until, type Service } from '../test/harness.ts';
import { Engine } from './index.ts';

describe('engine on external services', () => {
  let nats: Service, mosquitto: Service, engine: Engine;

  beforeAll(async () => {
    nats = await startNatsServer();
    mosquitto = await startMosquitto();
    const t = await writeTestCity();
    // URLs from the environment win over the config, as on a real deployment.
    engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: { NATS_URL: nats.url, MQTT_URL: mosquitto.url } });
    await engine.start();
  });
  afterAll(async () => {
    await engine?.stop();
    await nats?.stop();
    await mosquitto?.stop();
  });

  it('uses the external nats-server and Mosquitto instead of starting its own', async () => {
    expect(engine.natsServer).toBeNull();
    expect(engine.broker).toBeNull();
    const body = (await (await fetch(`${engine.httpUrl}/healthz`)).json()) as { status: string; components: Record<string, { state: string; url?: string; embedded?: boolean }> };
    expect(body.status).toBe('up');
    expect(body.components.nats).toMatchObject({ state: 'up', url: nats.url, embedded: false });
    expect(body.components.mqtt).toMatchObject({ state: 'up', url: mosquitto.url, embedded: false });
    expect(body.components.clickhouse?.state).toBe('up');
  });

  it('receives what a client publishes through Mosquitto, and NATS messages through the external server', async () => {
    const got = new Promise<string>((resolve) => engine.mqtt.client.once('message', (_t, payload) => resolve(payload.toString())));
    await engine.mqtt.client.subscribeAsync('gw/terminals/+/location', { qos: 1 });
    const pub = await mqtt.connectAsync(mosquitto.url, { reconnectPeriod: 0 });
    await pub.publishAsync('gw/terminals/T0001/location', '{"_type":"location"}', { qos: 1 });
    expect(await got).toBe('{"_type":"location"}');
    await pub.endAsync();

    const sub = engine.bus.nc.subscribe('probe.external', { max: 1 });
    engine.bus.nc.publish('probe.external', 'hello');
    for await (const m of sub) expect(m.string()).toBe('hello');
  });

  it('reports NATS down while the external server is gone, and up again when it is back', async () => {
    const port = nats.port;
    await nats.stop();
    await until('nats down', () => engine.health.report().components.nats?.state === 'down', 10_000);
    expect(engine.health.report().components.nats?.state).toBe('down');
    expect((await fetch(`${engine.httpUrl}/healthz`)).status).toBe(503);
    nats = await startNatsServer({ port });
    await until('nats up again', () => engine.health.report().components.nats?.state === 'up', 15_000);
    expect(engine.health.report().components.nats?.state).toBe('up');
  });
});
