import { describe, it, expect } from 'vitest';
import type { JetStreamClient } from '@nats-io/jetstream';
import { terminalEvent } from '../domain/index.ts';
import { publishWithRetry, publishBackoffMs } from './index.ts';

const event = terminalEvent({
  id: 'tr-T1-1795000000000-0123456789abcdef', terminalId: 'T1', category: 'sanitation', seenAt: new Date(1795000000000), receivedAt: new Date(1795000000100),
  lat: 43.87, lon: 125.3, path: ['D01', 'S01', 'S01C1', 'G0101'], text: 'x', evidence: [],
});

/** A JetStream client whose first `failures` publishes fail. */
function flakyJs(failures: number): { js: JetStreamClient; calls: { subject: string; msgID?: string }[] } {
  const calls: { subject: string; msgID?: string }[] = [];
  const js = {
    publish: async (subject: string, _data: string, opts?: { msgID?: string }) => {
      calls.push({ subject, msgID: opts?.msgID });
      if (calls.length <= failures) throw new Error('no responders (simulated)');
      return { stream: 'GW_EVENTS', seq: calls.length, duplicate: false };
    },
  } as unknown as JetStreamClient;
  return { js, calls };
}

describe('publishWithRetry', () => {
  it('waits 200 ms, 400 ms, … at most 5 s between tries', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(publishBackoffMs)).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('tries again until JetStream takes the event, with its id as Nats-Msg-Id', async () => {
    const { js, calls } = flakyJs(2);
    const gaveUp: number[] = [];
    expect(await publishWithRetry(js, event, { onGiveUp: (_e, n) => gaveUp.push(n) })).toBe(true);
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.subject === 'gw.events.sanitation.D01.S01.G0101' && c.msgID === event.id)).toBe(true);
    expect(gaveUp).toEqual([]);
  });

  it('gives up after the last try and reports it once', async () => {
    const { js, calls } = flakyJs(Infinity);
    const gaveUp: [string, number][] = [];
    expect(await publishWithRetry(js, event, { attempts: 2, onGiveUp: (e, n) => gaveUp.push([(e as Error).message, n]) })).toBe(false);
    expect(calls).toHaveLength(2);
    expect(gaveUp).toHaveLength(1);
    expect(gaveUp[0]![0]).toMatch(/no responders/);
    expect(gaveUp[0]![1]).toBe(2);
  });

  it('stops after a failed try once its signal is aborted', async () => {
    const { js, calls } = flakyJs(Infinity);
    const ac = new AbortController();
    ac.abort();
    let gaveUp = 0;
    expect(await publishWithRetry(js, event, { signal: ac.signal, onGiveUp: () => gaveUp++ })).toBe(false);
    expect([calls.length, gaveUp]).toEqual([1, 1]);
  });
});
