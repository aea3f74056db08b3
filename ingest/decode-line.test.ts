import { describe, expect, it } from 'vitest';
import { DecodeLine, type InLine } from './decode-line.ts';

interface Cam extends InLine { id: string; late: boolean }
const cam = (id: string, late = false): Cam => ({ id, late, queued: undefined, ticket: 0 });

describe('the line of cameras waiting for a decoder', () => {
  it('serves urgent cameras first, then by deadline, then the late ones set aside', () => {
    const line = new DecodeLine<Cam>();
    const [a, b, l, u] = [cam('a'), cam('b'), cam('late', true), cam('urgent', true)];
    line.queue(l, 'waiting', 100); // earliest deadline, but late by now
    line.queue(b, 'waiting', 300);
    line.queue(a, 'waiting', 200);
    line.queue(u, 'urgent', 400); // late too, but urgent ones are never set aside
    expect(line.size).toBe(4);
    const order: string[] = [];
    for (let c = line.next((x) => x.late); c; c = line.next((x) => x.late)) order.push(c.id);
    expect(order).toEqual(['urgent', 'a', 'b', 'late']);
    expect(line.size).toBe(0);
  });

  it('counts cameras, not the stale entries they leave when they move', () => {
    const line = new DecodeLine<Cam>();
    const cams = Array.from({ length: 10 }, (_, i) => cam(`c${i}`, true));
    for (const c of cams) line.queue(c, 'waiting', 0);
    // Overload: in each round an on-time camera is served and every other one is found late and
    // set aside; each one's next keyframe then queues it afresh, as the sampler does (in the last
    // round a third of them become urgent: a dwell, a reverify).
    for (let round = 1; round <= 50; round++) {
      const onTime = cam(`on-time-${round}`);
      line.queue(onTime, 'waiting', round + 0.5);
      expect(line.next((c) => c.late)).toBe(onTime);
      for (const [i, c] of cams.entries()) line.queue(c, i % 3 === 0 && round === 50 ? 'urgent' : 'waiting', round);
      expect(line.size).toBe(10);
    }
    const served: string[] = [];
    for (let c = line.next((x) => x.late); c; c = line.next((x) => x.late)) served.push(c.id);
    // Each camera once, the urgent ones first, though each left 50 entries behind.
    expect(served.slice(0, 4).sort()).toEqual(['c0', 'c3', 'c6', 'c9']);
    expect([...served].sort()).toEqual(cams.map((c) => c.id).sort());
    expect(line.size).toBe(0);
  });

  it('forgets a camera that leaves, wherever it waited', () => {
    const line = new DecodeLine<Cam>();
    const [a, b] = [cam('a'), cam('b')];
    line.queue(a, 'urgent', 0);
    line.queue(b, 'waiting', 0);
    line.leave(a);
    line.leave(a); // twice does no harm
    expect(line.size).toBe(1);
    expect(line.next(() => false)?.id).toBe('b');
    expect(line.next(() => false)).toBeUndefined();
    line.queue(a, 'waiting', 0);
    line.clear();
    expect(line.size).toBe(0);
    expect(a.queued).toBeUndefined();
  });
});
