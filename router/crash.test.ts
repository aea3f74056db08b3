import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { loadCity, type City } from '../config/index.ts';
import { publishEvent } from '../bus/index.ts';
import { type GridEventT } from '../domain/index.ts';
import { startNatsServer, writeTestCity, until, type Service } from '../test/harness.ts';
import { testEvent, cellCentre, offset } from '../test/router.ts';

function startRouter(natsUrl: string, cityFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'router/router-process.ts', natsUrl, cityFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('router process not ready in 30 s')), 30_000);
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) (clearTimeout(t), resolve(child)); });
    child.once('exit', (code) => reject(new Error(`router process exited with ${code}`)));
  });
}

function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

describe('a router SIGKILLed in the middle of a burst', () => {
  let nats: Service;
  let nc: NatsConnection;
  let city: City;
  let file: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    ({ file } = await writeTestCity());
    city = loadCity(file);
  });

  afterAll(async () => {
    for (const c of children) await kill(c, 'SIGKILL');
    await nc?.close();
    await nats?.stop();
  });

  it('loses no case and duplicates none after a restart', async () => {
    const N = 400;
    // Places 60 m apart, so that no two events group into one case.
    const origin = cellCentre(city, 'G0101');
    const events: GridEventT[] = Array.from({ length: N }, (_, i) => testEvent(city, { id: `crash-${i}`, at: offset(origin, -(Math.floor(i / 40) * 60), (i % 40) * 60), category: i % 3 === 0 ? 'road_vending' : 'illegal_parking' }));
    const js = jetstream(nc);
    const first = await startRouter(nats.url, file);
    children.push(first);
    const kv = await new Kvm(js).open('gw_cases');
    const jsm = await jetstreamManager(nc);
    let killed = false;
    for (let i = 0; i < N; i++) {
      await publishEvent(js, events[i]!);
      if (i % 50 === 49) await publishEvent(js, events[i - 10]!); // a retried publish: JetStream drops it
      if (!killed && i >= N / 3) {
        const info = await jsm.streams.info('GW_DISPATCH');
        if (info.state.messages > 20 || i > N / 2) {
          await kill(first, 'SIGKILL');
          killed = true;
        }
      }
    }
    expect(killed).toBe(true);
    const second = await startRouter(nats.url, file);
    children.push(second);

    // Road vending in S01/S02 goes to two departments, so some events make two cases.
    const expected = new Map<string, number>();
    for (const e of events) expected.set(e.id, e.category === 'road_vending' && ['S01', 'S02'].includes(e.place.path[1]!) ? 2 : 1);
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    const keys = await until(`${total} cases in the KV`, async () => {
      const ks: string[] = [];
      for await (const k of await kv.keys()) ks.push(k);
      return ks.length >= total && ks;
    }, 60_000);
    await new Promise((r) => setTimeout(r, 500)); // anything late would show up as an extra case
    const seen = new Map<string, number>();
    for (const k of keys) {
      const rec = (await kv.get(k))!.json<{ reports: { event_id: string }[]; seq: number }>();
      for (const r of rec.reports) seen.set(r.event_id, (seen.get(r.event_id) ?? 0) + 1);
      expect(rec.seq).toBe(2);
    }
    expect(keys.length).toBe(total);
    expect(seen).toEqual(expected);
    // Exactly one dispatch order and two log entries per case: none lost, none duplicated.
    const orders = await jsm.streams.info('GW_DISPATCH');
    expect(orders.state.messages).toBe(total);
    const log = await jsm.streams.info('GW_CASE_LOG', { subjects_filter: '>' });
    expect(log.state.messages).toBe(2 * total);
    expect(Object.values(log.state.subjects ?? {}).every((n) => n === 2)).toBe(true);
    await kill(second, 'SIGTERM');
  }, 120_000);
});
