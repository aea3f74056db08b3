import { describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { silentLogger } from '../core/index.ts';
import { until } from '../test/harness.ts';
import { natsForSuite, subjectCounts } from '../test/nats-suite.ts';
import { CaseRouter, CASE_LOG_STREAM, DISPATCH_STREAM, NOTIFY_STREAM } from './index.ts';
import { routerTestCity, testEvent, cellCentre } from '../test/router.ts';

describe("the router's streams keep what the cases keep", () => {
  const suite = natsForSuite();

  it('gives existing dispatch and notice streams keep_closed_days as max age, and drops the log of every removed case', async () => {
    const { nc } = suite;
    // Streams as an older gridwatch made them: no max age, an order and the log of a case long gone.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: DISPATCH_STREAM, subjects: ['gw.dispatch.*'], duplicate_window: 600e9 });
    await jsm.streams.add({ name: CASE_LOG_STREAM, subjects: ['gw.cases.log.>'], duplicate_window: 600e9 });
    await jsm.streams.add({ name: NOTIFY_STREAM, subjects: ['gw.notify.>'], duplicate_window: 600e9 });
    const js = jetstream(nc);
    await js.publish('gw.dispatch.sanitation', JSON.stringify({ case_id: 'C-gone', old: true }));
    await js.publish('gw.notify.street.S01', JSON.stringify({ case_id: 'C-gone' }));
    await js.publish('gw.cases.log.C-gone', JSON.stringify({ case_id: 'C-gone', seq: 1 }));

    const keepS = 3;
    const city = routerTestCity((raw) => {
      raw.routing.keep_closed_days = keepS / 86_400;
    });
    const router = new CaseRouter({ city, nc, log: silentLogger(), tickMs: 100 });
    await router.start();
    try {
      for (const name of [DISPATCH_STREAM, NOTIFY_STREAM]) expect((await jsm.streams.info(name)).config.max_age, name).toBe(keepS * 1e9);
      // The log lives as long as its case: not by age, so that an open case keeps all of it.
      expect((await jsm.streams.info(CASE_LOG_STREAM)).config.max_age).toBe(0);
      await until('the orphan log dropped', async () => (await subjectCounts(nc, CASE_LOG_STREAM))['gw.cases.log.C-gone'] === undefined || undefined, 5000);
      await until('the old order and notice expired', async () => ((await jsm.streams.info(DISPATCH_STREAM)).state.messages === 0 && (await jsm.streams.info(NOTIFY_STREAM)).state.messages === 0) || undefined, 15_000);

      // A case closed now: gone from the bucket and its log after keep_closed_days; an open one keeps all.
      const done = testEvent(city, { at: cellCentre(city, 'G0101') });
      const open = testEvent(city, { at: cellCentre(city, 'G0404') });
      await router.publish(done);
      await router.publish(open);
      const doneId = await until('the first case', () => router.casesOfEvent(done.id)[0]);
      const openId = await until('the second case', () => router.casesOfEvent(open.id)[0]);
      await router.act(doneId, { action: 'invalidate', actor: 'operator-7', reason: 'a shadow' });
      await until('the closed case removed', () => router.get(doneId) === null, 20_000);
      await until('its log dropped', async () => (await subjectCounts(nc, CASE_LOG_STREAM))[`gw.cases.log.${doneId}`] === undefined || undefined, 5000);
      expect((await subjectCounts(nc, CASE_LOG_STREAM))[`gw.cases.log.${openId}`]).toBe(router.get(openId)!.seq);
    } finally {
      await router.stop();
    }
  }, 60_000);
});
