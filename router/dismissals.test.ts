import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { silentLogger } from '../core/index.ts';
import { startNatsServer, tempDir, until, type Service } from '../test/harness.ts';
import type { City } from '../config/index.ts';
import { CaseRouter, dispatchSubject } from './index.ts';
import { DISMISSALS_BUCKET } from './dismissals.ts';
import { routerTestCity, testEvent, cellCentre, offset } from '../test/router.ts';

/**
 * Dismissing an alert always wins, against real nats-server and two real routers (an active one
 * and a standby, as two engine nodes): a case made from a dismissed alert ends invalid whether
 * the operator dismissed before the event was routed, after, or at the same time, on either node,
 * and when the case changes under the dismissal (a compare-and-set conflict).
 */
describe('dismissals', () => {
  let nats: Service;
  const conns: NatsConnection[] = [];
  let city: City;
  let active: CaseRouter;
  let standby: CaseRouter;
  let n = 0;
  // Each event at its own place, so that each makes its own case.
  const event = () => testEvent(city, { at: offset(cellCentre(city, 'G0101'), 0, 4 * ++n) });

  beforeAll(async () => {
    nats = await startNatsServer({ storeDir: tempDir('gw-nats-dismiss-') });
    city = routerTestCity((raw) => { raw.routing = { ...raw.routing, merge_radius_m: 0 }; });
    const nc = async () => (conns.push(await connect({ servers: nats.url })), conns[conns.length - 1]!);
    active = new CaseRouter({ city, nc: await nc(), log: silentLogger(), tickMs: 100 });
    standby = new CaseRouter({ city, nc: await nc(), log: silentLogger(), tickMs: 100 });
    await active.start();
    await standby.open();
  });

  afterAll(async () => {
    await active?.stop();
    await standby?.stop();
    for (const nc of conns) await nc.close();
    await nats?.stop();
  });

  it('after the event was routed: the dispatched case is invalidated at once', async () => {
    const e = event();
    await active.publish(e);
    const id = await until('the case', () => active.casesOfEvent(e.id)[0], 10_000);
    expect(active.get(id)!.state).toBe('dispatched');
    expect(await active.dismissEvent(e.id, { actor: 'op', reason: 'shadow' })).toEqual([id]);
    const c = active.get(id)!;
    expect(c.state).toBe('invalid');
    expect(c.history.at(-1)).toMatchObject({ action: 'invalidate', actor: 'op', reason: 'alert dismissed: shadow' });
  });

  /** The standby dismisses an event's alert, then the event comes: its case must never be dispatched. */
  async function dismissBeforeRouting(): Promise<string> {
    const e = event();
    const orders: string[] = [];
    const sub = conns[0]!.subscribe(dispatchSubject('*'), { callback: (_err, m) => { if (!m.subject.startsWith('gw.dispatch.ack')) orders.push(m.string()); } });
    expect(await standby.dismissEvent(e.id, { actor: 'op', reason: 'shadow' })).toEqual([]);
    await active.publish(e);
    const id = await until('the case', () => active.casesOfEvent(e.id)[0], 10_000);
    expect(active.get(id)!.history.map((t) => t.action)).toEqual(['report', 'invalidate']);
    await new Promise((r) => setTimeout(r, 300));
    sub.unsubscribe();
    expect(orders.filter((o) => o.includes(id))).toEqual([]);
    return id;
  }

  it('before the event was routed: its case is made invalid and never dispatched', async () => {
    const id = await dismissBeforeRouting();
    await until('the case invalid on the standby too', () => standby.get(id)?.state === 'invalid', 5000);
  });

  it('at the same time, either order, from either node: every case ends invalid', async () => {
    const events = Array.from({ length: 24 }, event);
    await Promise.all(events.map(async (e, i) => {
      const node = i % 2 ? standby : active;
      const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
      // Half dismiss first and publish a moment later, half the other way round; jitter 0–40 ms.
      const dismiss = () => node.dismissEvent(e.id, { actor: 'op', reason: 'race' });
      const publish = () => active.publish(e);
      if (i % 4 < 2) await Promise.all([dismiss(), delay((i * 7) % 40).then(publish)]);
      else await Promise.all([publish(), delay((i * 7) % 40).then(dismiss)]);
    }));
    const states = await until('every case made and ended', () => {
      const ids = events.map((e) => active.casesOfEvent(e.id)[0]);
      if (ids.some((id) => !id)) return false;
      const s = ids.map((id) => active.get(id!)!.state);
      return s.every((x) => x === 'invalid') && s;
    }, 15_000).catch(() => events.map((e) => active.get(active.casesOfEvent(e.id)[0] ?? '')?.state ?? 'no case'));
    expect(states).toEqual(events.map(() => 'invalid'));
  });

  it('retries when the case changes under the dismissal (a compare-and-set conflict) and still wins', async () => {
    const e = event();
    await active.publish(e);
    const id = await until('the case on the standby', () => standby.casesOfEvent(e.id)[0], 10_000);
    const dept = active.get(id)!.department;
    // The department signs on the active node; the standby's view still holds the old revision
    // when it dismisses, so its first write loses the compare-and-set.
    const signed = active.act(id, { action: 'sign', actor: 'clerk', department: dept });
    const dismissed = standby.dismissEvent(e.id, { actor: 'op', reason: 'shadow' });
    // (Under load the dismissal may win outright; the sign is then refused, as it should be.)
    const [sign] = await Promise.allSettled([signed, dismissed]);
    await until('invalid', () => active.get(id)?.state === 'invalid', 5000);
    expect(active.get(id)!.history.map((t) => t.action)).toEqual(sign.status === 'fulfilled' ? ['report', 'dispatch', 'sign', 'invalidate'] : ['report', 'dispatch', 'invalidate']);
  });

  it('a case another, real report joined stays', async () => {
    const a = event();
    const b = testEvent(city, { at: offset(cellCentre(city, 'G0101'), 0, 4 * n) }); // same place as a
    await active.publish(a);
    const id = await until('the case', () => active.casesOfEvent(a.id)[0], 10_000);
    await active.publish(b);
    await until('b joined', () => active.get(id)?.report_count === 2, 10_000);
    expect(await active.dismissEvent(a.id, { actor: 'op', reason: 'shadow' })).toEqual([]);
    expect(active.get(id)!.state).toBe('dispatched');
  });

  // Last: it stops both nodes' watches of the bucket.
  it("before the event was routed, when the other node's dismissal has not come through the watch: never dispatched", async () => {
    // Another node's dismissal reaches the active node by a KV watch, which can lag behind the
    // event under load. Removing the watches' consumers on the server holds that lag open.
    const jsm = await jetstreamManager(conns[0]!);
    const stream = `KV_${DISMISSALS_BUCKET}`;
    for await (const c of jsm.consumers.list(stream)) await jsm.consumers.delete(stream, c.name);
    await dismissBeforeRouting();
  });
});
