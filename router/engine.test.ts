import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { silentLogger, freePort } from '../core/index.ts';
import { loadCity, type City } from '../config/index.ts';
import { writeTestCity, until } from '../test/harness.ts';
import { Engine } from '../engine/index.ts';
import { testEvent, cellCentre } from '../test/router.ts';

const OPEN311_KEY = 'router-engine-test-open311-key-012345';

describe('the router inside the engine, driven by a plain NATS client', () => {
  let city: City;
  let engine: Engine;
  let nc: NatsConnection;

  beforeAll(async () => {
    // A fixed NATS port, so that the client reconnects to the restarted engine.
    const t = await writeTestCity({ services: { nats: { port: await freePort() }, open311: { clients: [{ id: 'hotline', api_key: OPEN311_KEY }] } } });
    city = loadCity(t.file);
    engine = new Engine({ city, log: silentLogger(), env: {} });
    await engine.start();
    nc = await connect({ servers: engine.natsServer!.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await engine?.stop();
  });

  it('turns a raw event into a dispatch order, takes acks, and keeps the case across an engine restart', async () => {
    const e = testEvent(city, { at: cellCentre(city, 'G0606'), confirmedAt: '2026-01-01T04:00:00.000Z' });
    const h = headers();
    h.set('Nats-Msg-Id', e.id);
    const js = jetstream(nc);
    await js.publish('gw.events.illegal_parking.D01.S02.G0606', JSON.stringify(e), { headers: h });

    const consumer = await js.consumers.get('GW_DISPATCH', 'dispatch-traffic_police');
    const m = await until('the dispatch order', async () => (await consumer.next({ expires: 1000 })) ?? undefined);
    m.ack();
    const order = m.json<{ case_id: string; ack_subject: string; event_id: string }>();
    expect(order.event_id).toBe(e.id);
    const sign = (await nc.request(order.ack_subject, JSON.stringify({ case_id: order.case_id, action: 'sign' }), { timeout: 5000 })).json<{ status: string }>();
    expect(sign.status).toBe('applied');

    const health = await (await fetch(`${engine.httpUrl}/healthz`)).json() as { components: Record<string, { state: string }> };
    expect(health.components.router?.state).toBe('up');

    await engine.stop();
    engine = new Engine({ city, log: silentLogger(), env: {} });
    await engine.start();

    const res = await until('the resolve after restart', async () => {
      try {
        return (await nc.request(order.ack_subject, JSON.stringify({ case_id: order.case_id, action: 'resolve', result: 'moved', rating: 4 }), { timeout: 2000 })).json<{ status: string; state: string }>();
      } catch {
        return undefined;
      }
    });
    expect(res).toMatchObject({ status: 'applied', state: 'resolved' });
    const o311 = await (await fetch(`${engine.httpUrl}/open311/v2/requests/${order.case_id}?api_key=${OPEN311_KEY}`)).json() as { state: string; agency_responsible: string }[];
    expect(o311[0]).toMatchObject({ state: 'resolved', agency_responsible: 'traffic_police' });
  }, 60_000);

  it('keeps making cases after the embedded nats-server is SIGKILLed and restarted', async () => {
    const pid = engine.natsServer!.pid!;
    process.kill(pid, 'SIGKILL');
    await until('nats restarted', () => (engine.natsServer!.pid !== pid && engine.health.report().components.nats?.state === 'up') || undefined, 30_000);
    const e = testEvent(city, { at: cellCentre(city, 'G0303') });
    const js = jetstream(nc);
    const h = headers();
    h.set('Nats-Msg-Id', e.id);
    await until('publish after restart', async () => (await js.publish('gw.events.illegal_parking.D01.S01.G0303', JSON.stringify(e), { headers: h }).catch(() => undefined)) ?? undefined);
    const id = await until('the case after the restart', () => engine.router.casesOfEvent(e.id)[0], 30_000);
    expect(engine.router.get(id)!.state).toBe('dispatched');
  }, 60_000);
});
