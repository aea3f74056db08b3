import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { silentLogger } from '../core/index.ts';
import { startNatsServer, tempDir, until, type Service } from '../test/harness.ts';
import type { City } from '../config/index.ts';
import { CaseRouter, CaseActionError } from './index.ts';
import type { CaseRecord, Transition } from '../domain/index.ts';
import { routerTestCity, testEvent, cellCentre, offset } from '../test/router.ts';

type Heard = { id: string; seq: number; action: string; local: boolean };

/**
 * Two routers on one NATS, as two engine nodes run them: one active, one on standby with a live
 * view of the cases from the KV watch. Both hear every transition once; each knows the ones it
 * wrote itself. Case actions on the standby are compare-and-set writes of its own.
 */
describe('an active router and a standby', () => {
  let nats: Service;
  const conns: NatsConnection[] = [];
  let city: City;
  let active: CaseRouter;
  let standby: CaseRouter;
  const heard = new Map<CaseRouter, Heard[]>();

  function listen(r: CaseRouter): void {
    const list: Heard[] = [];
    heard.set(r, list);
    r.onTransition((c: CaseRecord, t: Transition, local: boolean) => list.push({ id: c.id, seq: t.seq, action: t.action, local }));
  }

  const storeDir = tempDir('gw-nats-standby-');

  beforeAll(async () => {
    nats = await startNatsServer({ storeDir });
    city = routerTestCity((raw) => {
      raw.sla = [{ id: 'two-seconds', sign_within_s: 2, resolve_within_s: 2 }];
    });
    const nc = async () => (conns.push(await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 })), conns[conns.length - 1]!);
    active = new CaseRouter({ city, nc: await nc(), log: silentLogger(), tickMs: 100 });
    standby = new CaseRouter({ city, nc: await nc(), log: silentLogger(), tickMs: 100 });
    listen(active);
    listen(standby);
    await active.start();
    await standby.open();
  });

  afterAll(async () => {
    await active?.stop();
    await standby?.stop();
    for (const nc of conns) await nc.close();
    await nats?.stop();
  });

  it('the standby sees every case and transition live, and each transition is local on its writer only', async () => {
    expect(active.status().role).toBe('active');
    expect(standby.status().role).toBe('standby');
    expect(standby.health()).toMatchObject({ state: 'up', role: 'standby' });
    const e = testEvent(city, { at: offset(cellCentre(city, 'G0101'), 5, 5) });
    await standby.publish(e); // any node may publish; only the active one consumes
    const id = await until('the case on the standby', () => standby.casesOfEvent(e.id)[0], 10_000);
    expect(standby.get(id)!.state).toBe('dispatched');

    // An operator's action on the standby: its own compare-and-set write, heard by both.
    const rev = standby.revisionOf(id)!;
    const done = await standby.consoleAction(id, { action: 'escalate', actor: 'op-standby', revision: rev });
    expect(done.record.level).toBe('street');
    await until('the active router sees it', () => active.get(id)?.level === 'street');
    // A stale revision is refused as a conflict, on any node.
    await expect(active.consoleAction(id, { action: 'escalate', actor: 'op-active', revision: rev })).rejects.toBeInstanceOf(CaseActionError);

    const of = (r: CaseRouter) => heard.get(r)!.filter((h) => h.id === id).sort((a, b) => a.seq - b.seq);
    await until('both heard all', () => of(active).length === done.record.seq && of(standby).length === done.record.seq);
    // Once each, in order.
    for (const r of [active, standby]) expect(of(r).map((h) => h.seq)).toEqual(done.record.history.map((t) => t.seq));
    const escalateSeq = done.record.history.find((t) => t.action === 'escalate')!.seq;
    for (const h of of(active)) expect(h.local).toBe(h.seq !== escalateSeq);
    for (const h of of(standby)) expect(h.local).toBe(h.seq === escalateSeq);
  });

  it('on hand-over the standby consumes the events left, and fires the deadlines that passed meanwhile', async () => {
    const before = testEvent(city, { at: offset(cellCentre(city, 'G0202'), 3, 3) });
    await active.publish(before);
    const id = await until('the case', () => active.casesOfEvent(before.id)[0]);
    await active.follow();
    expect(active.status().role).toBe('standby');
    // No active router: a new event waits in the durable consumer, the deadline passes.
    const during = testEvent(city, { at: offset(cellCentre(city, 'G0303'), 3, 3) });
    await active.publish(during);
    const deadline = Date.parse(active.get(id)!.deadline!.at);
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + 300));
    expect(standby.casesOfEvent(during.id)).toHaveLength(0);
    expect(standby.get(id)!.history.some((t) => t.action === 'deadline_missed')).toBe(false);
    await standby.lead();
    expect(standby.status().role).toBe('active');
    await until('the waiting event becomes a case', () => standby.casesOfEvent(during.id)[0]);
    await until('the passed deadline fires', () => standby.get(id)!.history.some((t) => t.action === 'deadline_missed'));
    // The old leader, now on standby, follows both from the watch, and does not fire deadlines itself.
    await until('the old leader sees them', () => active.casesOfEvent(during.id)[0] && active.get(id)!.missed >= 1);
    const missedBy = heard.get(active)!.filter((h) => h.action === 'deadline_missed' && h.local);
    expect(missedBy).toHaveLength(0);
  });

  it('the standby\'s view goes on after the nats-server restarts', async () => {
    // After the hand-over above, `standby` leads and `active` stands by.
    await nats.stop();
    nats = await startNatsServer({ storeDir, port: nats.port });
    const e = testEvent(city, { at: offset(cellCentre(city, 'G0303'), 3, 200) });
    // Published once the client is back (bounded), with the msg id making a repeat harmless.
    await until('the publish once the client is back', () => standby.publish(e).then(() => true, () => false), 20_000);
    const id = await until('the case on the leader', () => standby.casesOfEvent(e.id)[0], 20_000);
    await until('the case on the standby', () => active.get(id), 20_000);
  }, 60_000);
});
