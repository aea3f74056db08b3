import { describe, expect, it, vi } from 'vitest';
import { Sampler, type Sample } from './sample.ts';
import type { DecoderPool } from './decoder-pool.ts';
import type { AccessUnit } from './rtsp/depacketizer.ts';
import { until } from '../test/harness.ts';

/** A decoder that answers at once with a frame that names the keyframe's first byte. */
function fakeDecoder(): DecoderPool {
  return { width: 2, height: 1, decode: (_codec: string, data: Uint8Array) => Promise.resolve(Uint8Array.of(data[0]!, 0, 0, 0, 0, 0)) } as unknown as DecoderPool;
}

const key = (tag: number, timeMs: number): AccessUnit => ({ codec: 'h264', data: Uint8Array.of(tag, 1, 2, 3), keyframe: true, rtpTimestamp: 0, timeMs });

/**
 * A decoder that records the order of its decodes (each keyframe's first byte, as a letter) and
 * holds the decode `holds` picks until `release()`: with one decode in flight, the rest queue.
 */
function heldDecoder(holds: (tag: string, n: number) => boolean): { decoder: DecoderPool; order: string[]; release: () => void } {
  const order: string[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const decoder = {
    width: 2, height: 1,
    decode: async (_codec: string, data: Uint8Array) => {
      const tag = String.fromCharCode(data[0]!);
      order.push(tag);
      if (holds(tag, order.length)) await gate;
      return new Uint8Array(6);
    },
  } as unknown as DecoderPool;
  return { decoder, order, release: () => release() };
}

describe('sampler', () => {
  it('takes the first keyframe after each due time, one per period, carrying camera and capture time', async () => {
    const got: Sample[] = [];
    const s = new Sampler({ defaultPeriodS: 0.2, decodeBudgetPerS: 1000, decoder: fakeDecoder(), onSample: (x) => got.push(x) });
    s.add('a');
    const end = Date.now() + 1100;
    let n = 0;
    while (Date.now() < end) { // keyframes every 50 ms, periods of 200 ms
      s.offerKeyframe('a', key(n++ % 200, 1_000 + n));
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got.length).toBeLessThanOrEqual(6);
    for (const g of got) {
      expect(g.cameraId).toBe('a');
      expect(g.captureTimeMs).toBeGreaterThan(1000);
      expect(g.rgb.length).toBe(6);
    }
    const dues = got.map((g) => g.dueMs);
    for (let i = 1; i < dues.length; i++) expect(dues[i]! - dues[i - 1]!).toBeGreaterThanOrEqual(199);
    s.stop();
  });

  it('shares a small decode budget round-robin so no camera starves', async () => {
    const got: Sample[] = [];
    // Budget of 10 decodes a second for 20 cameras that all want one now.
    const s = new Sampler({ defaultPeriodS: 0.001, decodeBudgetPerS: 10, decoder: fakeDecoder(), onSample: (x) => got.push(x) });
    const ids = Array.from({ length: 20 }, (_, i) => `cam-${i}`);
    for (const id of ids) s.add(id);
    await new Promise((r) => setTimeout(r, 5));
    const end = Date.now() + 2500;
    while (Date.now() < end) {
      // A noisy camera offers a keyframe ten times as often as the others.
      for (let k = 0; k < 10; k++) s.offerKeyframe('cam-0', key(0, 1));
      for (const id of ids.slice(1)) s.offerKeyframe(id, key(1, 1));
      await new Promise((r) => setTimeout(r, 20));
    }
    const served = new Set(got.map((g) => g.cameraId));
    expect(got.length).toBeLessThanOrEqual(10 * 2.5 + 12); // the budget holds (plus the initial burst)
    expect(served.size).toBeGreaterThanOrEqual(Math.min(ids.length, got.length) - 1);
    expect(got.filter((g) => g.cameraId === 'cam-0').length).toBeLessThanOrEqual(3);
    expect(s.stats().dropped.superseded).toBeGreaterThan(0);
    s.stop();
  });

  it('decodes the keyframe nearest its deadline first when decoders are busy', async () => {
    // One decode at a time; the first one is held until the test lets it go.
    const { decoder, order, release } = heldDecoder((_tag, n) => n === 1);
    const s = new Sampler({ defaultPeriodS: 60, decodeBudgetPerS: 1000, maxDecodesInFlight: 1, decoder, random: () => 0, onSample: () => undefined });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    s.add('x');
    s.add('a'); // due now
    await sleep(300);
    s.add('b'); // due 300 ms later than a
    s.offerKeyframe('x', key('x'.charCodeAt(0), 1)); // takes the only decoder
    s.offerKeyframe('b', key('b'.charCodeAt(0), 2)); // arrives first, but can wait longer
    await sleep(20);
    s.offerKeyframe('a', key('a'.charCodeAt(0), 3)); // arrives later in its window: tighter
    expect(s.stats().queued).toBe(2);
    release();
    await until('three decodes', () => order.length >= 3, 2000);
    expect(order).toEqual(['x', 'a', 'b']);
    s.stop();
  });

  it('holds keyframes back while the detectors are full, and decodes them once a result makes room', async () => {
    const got: Sample[] = [];
    let waiting = 3;
    const s = new Sampler({ defaultPeriodS: 60, decodeBudgetPerS: 1000, decoder: fakeDecoder(), random: () => 0, downstream: { waiting: () => waiting, limit: 3 }, onSample: (x) => got.push(x) });
    for (const id of ['a', 'b']) s.add(id);
    s.offerKeyframe('a', key('a'.charCodeAt(0), 1));
    s.offerKeyframe('b', key('b'.charCodeAt(0), 2));
    await new Promise((r) => setTimeout(r, 120)); // past a few retries: still full
    expect(got).toHaveLength(0);
    expect(s.stats().queued).toBe(2);
    waiting = 2; // a result left the detectors' queue
    s.wake();
    await until('both decoded', () => got.length === 2, 2000);
    expect(got.map((x) => x.cameraId)).toEqual(['a', 'b']);
    s.stop();
  });

  it('decodes a camera the rules are timing before the others, even when its keyframe is late', async () => {
    const { decoder, order, release } = heldDecoder((_tag, n) => n === 1);
    const timing = new Set(['t']);
    const s = new Sampler({ defaultPeriodS: 60, decodeBudgetPerS: 1000, maxDecodesInFlight: 1, decoder, random: () => 0, onTimeMs: 100, urgent: (id) => timing.has(id), onSample: () => undefined });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (const id of ['x', 't']) s.add(id);
    await sleep(150);
    for (const id of ['a', 'b']) s.add(id); // due now; t has been due for 150 ms: late
    s.offerKeyframe('x', key('x'.charCodeAt(0), 1)); // takes the only decoder
    s.offerKeyframe('a', key('a'.charCodeAt(0), 2));
    s.offerKeyframe('b', key('b'.charCodeAt(0), 3));
    s.offerKeyframe('t', key('t'.charCodeAt(0), 4)); // last, late, and timed by the rules
    expect(s.stats().queued).toBe(3);
    release();
    await until('four decodes', () => order.length >= 4, 2000);
    expect(order).toEqual(['x', 't', 'a', 'b']);
    s.stop();
  });

  it('decodes the keyframe the gate marks as a camera\'s reverify before routine ones, even when it is late', async () => {
    const { decoder, order, release } = heldDecoder((_tag, n) => n === 1);
    const s = new Sampler({ defaultPeriodS: 60, decodeBudgetPerS: 1000, maxDecodesInFlight: 1, decoder, random: () => 0, onTimeMs: 100, gate: { decide: (id) => (id === 'r' ? 'reverify' : 'decode') }, onSample: () => undefined });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (const id of ['x', 'r']) s.add(id);
    await sleep(150);
    for (const id of ['a', 'b']) s.add(id); // due now; r has been due for 150 ms: late
    for (const [i, id] of ['x', 'a', 'b', 'r'].entries()) s.offerKeyframe(id, key(id.charCodeAt(0), i + 1));
    expect(s.stats().queued).toBe(3);
    release();
    await until('four decodes', () => order.length >= 4, 2000);
    // Routine, r would have been set aside as late, behind a and b, and lost to the next keyframe under overload.
    expect(order).toEqual(['x', 'r', 'a', 'b']);
    s.stop();
  });

  it('serves a camera whose next period would pass starvedAfterMs undecoded before the others', async () => {
    // The second round's first decode ('X') holds the decoder.
    const { decoder, order, release } = heldDecoder((tag) => tag === 'X');
    const s = new Sampler({ defaultPeriodS: 1, decodeBudgetPerS: 1000, maxDecodesInFlight: 1, decoder, random: () => 0, starvedAfterMs: 1800, onSample: () => undefined });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (const id of ['x', 'a', 'b', 's']) s.add(id); // all due now, then every second
    // First period, 400 ms in: x, a and b are decoded; s sends no keyframe.
    await sleep(400);
    for (const id of ['x', 'a', 'b']) s.offerKeyframe(id, key(id.charCodeAt(0), 1));
    await until('three decodes', () => order.length >= 3, 2000);
    await sleep(620);
    // Second period, the same due time for all: x holds the decoder, then a, b and s arrive in
    // that order. a and b were decoded about 620 ms ago, s never (added about 1,020 ms ago).
    s.offerKeyframe('x', key('X'.charCodeAt(0), 2));
    for (const id of ['a', 'b', 's']) s.offerKeyframe(id, key(id.toUpperCase().charCodeAt(0), 2));
    release();
    await until('seven decodes', () => order.length >= 7, 2000);
    // s, which would pass 1,800 ms undecoded by its next period (a and b would not), goes before a
    // and b (first come otherwise).
    expect(order.slice(3)).toEqual(['X', 'S', 'A', 'B']);
    s.stop();
  });

  it('samples a camera added at once (a hand-over) without waiting for its phase, then keeps its own phase', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout'] });
    try {
      const got: Sample[] = [];
      // The phase would put both cameras' first slot 1 s on (random 0.1 of a 10 s period).
      const s = new Sampler({ defaultPeriodS: 10, decodeBudgetPerS: 100, decoder: fakeDecoder(), random: () => 0.1, onSample: (x) => got.push(x) });
      const t0 = Date.now();
      s.add('cold');
      s.add('handed-over', undefined, undefined, true);
      for (let t = 0; t < 30_000; t += 250) { // keyframes every second, 250 ms after each
        if (t % 1000 === 250) for (const id of ['cold', 'handed-over']) s.offerKeyframe(id, key(1, Date.now()));
        await vi.advanceTimersByTimeAsync(250);
      }
      const at = (id: string) => got.filter((g) => g.cameraId === id).map((g) => g.pickedMs - t0);
      expect(at('cold')).toEqual([1250, 11_250, 21_250]);
      // At once, then at its phase moved a period on (1 s was under half a period away).
      expect(at('handed-over')).toEqual([250, 11_250, 21_250]);
      // The extra slot counts as due, and was on time.
      expect(s.stats()).toMatchObject({ expected: 6, delivered: 6, onTime: 6 });
      s.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('moves due times to just before a keyframe once the cadence is steady and divides the period', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout'] });
    try {
      const got: Sample[] = [];
      const s = new Sampler({ defaultPeriodS: 10, decodeBudgetPerS: 100, decoder: fakeDecoder(), random: () => 0, keyframeLeadMs: 500, onSample: (x) => got.push(x) });
      const t0 = Date.now();
      s.add('gop2'); // first due now; keyframes every 2 s, 1.5 s after each due time
      s.add('gop3'); // keyframes every 3 s: no phase lets every period end just before one
      s.add('gop10'); // one keyframe a period, 6.5 s after each due time: late until aligned
      for (let t = 0; t < 60_000; t += 500) {
        if (t % 2000 === 1500) s.offerKeyframe('gop2', key(1, Date.now()));
        if (t % 3000 === 1500) s.offerKeyframe('gop3', key(2, Date.now()));
        if (t % 10_000 === 6500) s.offerKeyframe('gop10', key(3, Date.now()));
        await vi.advanceTimersByTimeAsync(500);
      }
      const aligned = got.filter((g) => g.cameraId === 'gop2');
      // Until the cadence is known each sample waits 1.5 s for its keyframe; then 0.5 s.
      expect(aligned.map((g) => g.pickedMs - g.dueMs)).toEqual([1500, 1500, 500, 500, 500, 500]);
      const fixed = got.filter((g) => g.cameraId === 'gop3');
      expect(fixed.map((g) => g.dueMs - t0)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000]);
      // A GOP as long as the period: the move goes forward, so no slot is skipped.
      const long = got.filter((g) => g.cameraId === 'gop10');
      expect(long.map((g) => g.pickedMs - g.dueMs)).toEqual([6500, 6500, 6500, 6500, 500, 500]);
      // The moves keep the count of due slots; the long waits are late.
      const late = [...fixed, ...long].filter((g) => g.pickedMs - g.dueMs > 2000).length;
      expect(late).toBeGreaterThan(4);
      expect(s.stats()).toMatchObject({ expected: 18, delivered: 18, onTime: 18 - late });
      s.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
