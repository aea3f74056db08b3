/**
 * The assessment indicators on real parts: nats-server, the router, the case-step rows it makes
 * (`recordCaseSteps`), embedded ClickHouse and the statistics API's `indicators`. Cases are taken
 * through filing, dispatch, rework, return, closure and a repeat, and each indicator is read
 * before and after the step that must move it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createMetricsRegistry, silentLogger } from '../core/index.ts';
import { startNatsServer, tempDir, until, type Service } from '../test/harness.ts';
import { routerTestCity, testEvent, cellCentre } from '../test/router.ts';
import type { City } from '../config/index.ts';
import { CaseRouter } from '../router/index.ts';
import { ChdbStore, TelemetryStats, TelemetryWriter, migrate, statsCity, type Indicators, type TelemetryStore } from '../telemetry/index.ts';
import { citizenEvent } from '../domain/index.ts';
import { recordCaseSteps } from './case-telemetry.ts';

describe('indicators from the case steps in ClickHouse', () => {
  let nats: Service;
  let nc: NatsConnection;
  let city: City;
  let router: CaseRouter;
  let store: TelemetryStore;
  let writer: TelemetryWriter;
  let stats: TelemetryStats;
  let stop: () => void;
  const from = Date.now() - 60_000;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    // Citizens' sanitation reports wait for the supervision centre to file them, within 2 s.
    city = routerTestCity((raw) => {
      raw.categories.find((c: { code: string }) => c.code === 'sanitation').auto_file = ['camera', 'terminal'];
      raw.sla.unshift({ id: 'sanitation', categories: ['sanitation'], file_within_s: 2, sign_within_s: 600, resolve_within_s: 3600 });
      // C is an event of the moment: the day's rules hold at whatever hour the test runs.
      for (const rule of raw.routing.rules) delete rule.hours;
    });
    router = new CaseRouter({ city, nc, log: silentLogger() });
    await router.start();
    const dir = tempDir('gw-indicators-');
    store = await ChdbStore.open(dir, 'gridwatch');
    await migrate(store, { tz: city.config.city.timezone });
    writer = new TelemetryWriter({ store, dataDir: dir, log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), settings: { flushIntervalMs: 50 } });
    await writer.start();
    stop = recordCaseSteps(router, writer);
    stats = new TelemetryStats(store, statsCity(city));
  }, 60_000);

  afterAll(async () => {
    stop?.();
    await router?.stop();
    await writer?.stop();
    await store?.close();
    await nc?.close();
    await nats?.stop();
  });

  async function all(): Promise<Indicators> {
    await writer.flush();
    return (await stats.indicators({ from_ms: from, to_ms: Date.now() + 60_000 }))[0]!;
  }
  const ack = async (department: string, body: object) => JSON.parse((await nc.request(`gw.dispatch.ack.${department}`, JSON.stringify(body), { timeout: 5000 })).string());
  const state = (id: string, s: string) => until(`case ${id} ${s}`, () => router.get(id)?.state === s);

  it('moves each indicator as its definition says', async () => {
    // A: a camera's parking case, filed at once; resolved, sent back once (返工), resolved, verified and closed.
    const a = testEvent(city, { at: cellCentre(city, 'G0305'), confirmedAt: new Date(Date.UTC(2026, 0, 1, 4)).toISOString() });
    await router.publish(a);
    const aId = await until('case A', () => router.casesOfEvent(a.id)[0]);
    let i = await all();
    expect(i).toMatchObject({ reported: 1, filed: 1, filed_on_time: 1, dispatched: 1, on_time_filing_rate: 1, closure_rate: 0, rework_rate: null, repeat_rate: 0 });
    const dept = router.get(aId)!.department;
    expect((await ack(dept, { case_id: aId, action: 'sign' })).status).toBe('applied');
    expect((await ack(dept, { case_id: aId, action: 'resolve', result: 'moved' })).status).toBe('applied');
    i = await all();
    expect(i).toMatchObject({ resolved: 1, resolved_on_time: 1, on_time_handling_rate: 1 });
    await router.consoleAction(aId, { action: 'rework', actor: 'sup-1', reason: 'the car is still there on camera' });
    expect(router.get(aId)).toMatchObject({ state: 'signed', reworks: 1, deadline: { kind: 'resolve' } });
    i = await all();
    expect(i).toMatchObject({ reworked: 1, closed: 0, rework_rate: 1 }); // 返工 / (结案 + 返工) = 1 / 1
    expect((await ack(dept, { case_id: aId, action: 'resolve', result: 'towed' })).status).toBe('applied');
    await router.consoleAction(aId, { action: 'close', actor: 'sup-1' });
    i = await all();
    expect(i).toMatchObject({ resolved: 2, closed: 1, closed_on_time: 1, rework_rate: 0.5, closure_rate: 1, on_time_closure_rate: 1 });

    // B: a citizen's report waits, reported, for filing; it is filed late, dispatched, and returned once.
    const [lat, lon] = cellCentre(city, 'G0404');
    const b = citizenEvent({ id: `o311-ind-${Date.now()}`, channel: 'citizen', reporter: 'resident-1', category: 'sanitation', at: new Date(), lat, lon, path: [], evidence: [] });
    await router.publish(b);
    const bId = await until('case B', () => router.casesOfEvent(b.id)[0]);
    expect(router.get(bId)).toMatchObject({ state: 'reported', deadline: null });
    i = await all();
    expect(i).toMatchObject({ reported: 2, filed: 1, closure_rate: 1 }); // not filed yet: counts in neither
    await new Promise((r) => setTimeout(r, 2500)); // past its 2 s filing limit
    await router.consoleAction(bId, { action: 'file', actor: 'sup-1' });
    i = await all();
    expect(i).toMatchObject({ filed: 2, filed_on_time: 1, on_time_filing_rate: 0.5, closure_rate: 0.5 });
    await router.consoleAction(bId, { action: 'dispatch', actor: 'cmd-1' });
    await state(bId, 'dispatched');
    const bDept = router.get(bId)!.department;
    expect((await ack(bDept, { case_id: bId, action: 'return', reason: 'not ours' })).status).toBe('applied');
    i = await all();
    // Dispatches: A, B, and B re-routed after the return; one of three was not accurate.
    expect(i).toMatchObject({ dispatched: 3, returned: 1 });
    expect(i.accurate_dispatch_rate).toBeCloseTo(2 / 3, 6);

    // C: the same place and category after A was closed: a repeat case (重复案件).
    const c = testEvent(city, { at: cellCentre(city, 'G0305'), confirmedAt: new Date(Date.now() + 1000).toISOString() });
    await router.publish(c);
    const cId = await until('case C', () => router.casesOfEvent(c.id)[0]);
    expect(router.get(cId)!.repeat_of).toBe(aId);
    i = await all();
    expect(i).toMatchObject({ reported: 3, repeats: 1 });
    expect(i.repeat_rate).toBeCloseTo(1 / 3, 6);

    // By department, category, cell and street: the same steps, each under its own key.
    const byDept = await stats.indicators({ from_ms: from, to_ms: Date.now() + 60_000 }, 'department');
    expect(byDept.find((r) => r.key === dept)).toMatchObject({ reported: 2, repeats: 1, reworked: 1, closed: 1, rework_rate: 0.5 });
    expect(byDept.find((r) => r.key === bDept)).toMatchObject({ returned: 1, accurate_dispatch_rate: 0 });
    const byCategory = await stats.indicators({ from_ms: from, to_ms: Date.now() + 60_000 }, 'category');
    expect(byCategory.map((r) => [r.key, r.reported])).toEqual([['illegal_parking', 2], ['sanitation', 1]]);
    expect((await stats.indicators({ from_ms: from, to_ms: Date.now() + 60_000 }, 'cell')).map((r) => r.key)).toEqual(['G0305', 'G0404']);
    expect((await stats.indicators({ from_ms: from, to_ms: Date.now() + 60_000 }, 'street')).every((r) => r.key.startsWith('S'))).toBe(true);
    // The rows carry the category's codes.
    const coded = await store.query<{ n: unknown }>(`SELECT count() AS n FROM case_transitions WHERE case_id = '${aId}' AND standard_code = '0505' AND local_code = '605'`);
    expect(Number(coded[0]!.n)).toBeGreaterThanOrEqual(7);
  }, 120_000);
});
