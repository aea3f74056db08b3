import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { FrameSnapshots, type FrameSnapshot } from './index.ts';
import { until } from '../test/harness.ts';

describe('FrameSnapshots', () => {
  it('makes a small JPEG of a sample, at most one in the making per camera; a sample that finds one is skipped and counted', async () => {
    const got: FrameSnapshot[] = [];
    const snaps = new FrameSnapshots({ widthPx: 320, onSnapshot: (s) => got.push(s) });
    const w = 640, h = 360;
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < rgb.length; i += 3) rgb[i] = Math.floor((((i / 3) % w) * 255) / (w - 1)); // a red ramp: the picture is the sample's
    expect(snaps.offer('a', 1000, w, h, rgb)).toBe(true);
    expect(snaps.offer('a', 2000, w, h, rgb)).toBe(false); // the first is still being made
    expect(snaps.offer('b', 2000, w, h, rgb)).toBe(true); // another camera is not held up
    await until('both JPEGs', () => got.length === 2);
    expect(snaps.counts).toEqual({ made: 2, skipped: 1, rested: 0, errors: 0 });
    const a = got.find((s) => s.cameraId === 'a')!;
    expect(a).toMatchObject({ captureTimeMs: 1000, width: 320, height: 180 });
    const { data, info } = await sharp(a.jpeg).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([320, 180]);
    // Left dark, right bright red: the ramp survived the resize.
    expect(data[(90 * 320 + 300) * 3]!).toBeGreaterThan(data[(90 * 320 + 10) * 3]! + 150);
    expect(snaps.offer('a', 3000, w, h, rgb)).toBe(true); // free again once done
    await until('the third JPEG', () => got.length === 3);
  });

  it('remakes a camera\'s JPEG once per period, and from every sample while an operator watches it', async () => {
    const got: FrameSnapshot[] = [];
    const watched = new Set<string>();
    const snaps = new FrameSnapshots({ widthPx: 160, periodMs: 30_000, watched: (id) => watched.has(id), onSnapshot: (s) => got.push(s) });
    const w = 320, h = 180, rgb = new Uint8Array(w * h * 3).fill(128);
    const offer = async (id: string, ts: number): Promise<boolean> => {
      const n = got.length;
      const made = snaps.offer(id, ts, w, h, rgb);
      if (made) await until(`the JPEG of ${id} at ${ts}`, () => got.length === n + 1);
      return made;
    };
    // Samples every 10 s: the first, then one per 30 s of capture time.
    const made: boolean[] = [];
    for (const s of [0, 10, 20, 30, 40]) made.push(await offer('a', s * 1000));
    expect(made).toEqual([true, false, false, true, false]);
    expect(snaps.counts).toMatchObject({ made: 2, rested: 3 });
    watched.add('a');
    expect(await offer('a', 50_000)).toBe(true);
    expect(await offer('a', 60_000)).toBe(true);
    watched.delete('a');
    expect(await offer('a', 70_000)).toBe(false);
    expect(await offer('a', 90_000)).toBe(true);
    // Another camera keeps its own clock.
    expect(await offer('b', 95_000)).toBe(true);
    expect(got.map((g) => `${g.cameraId}@${g.captureTimeMs / 1000}`)).toEqual(['a@0', 'a@30', 'a@50', 'a@60', 'a@90', 'b@95']);
  });

  it('rests each camera longer when the node has more cameras than maxPerS allows at the period, and first pictures wait their turn too', async () => {
    const got: FrameSnapshot[] = [];
    let nowMs = 0;
    // Six cameras at no more than one JPEG per 10 s: each rests 60 s, not 30.
    const snaps = new FrameSnapshots({ widthPx: 160, periodMs: 30_000, maxPerS: 0.1, watched: (id) => id === 'f', onSnapshot: (s) => got.push(s), clock: () => nowMs });
    const w = 320, h = 180, rgb = new Uint8Array(w * h * 3).fill(128);
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const round = async (s: number): Promise<string[]> => {
      nowMs = s * 1000;
      const n = got.length;
      const made = ids.filter((id) => snaps.offer(id, s * 1000, w, h, rgb));
      await until(`the JPEGs at ${s} s`, () => got.length === n + made.length);
      return made;
    };
    // A start: every camera's first sample wants a picture, but they share the budget (the
    // watched one does not wait), so 1,000 cameras do not make 1,000 JPEGs in one period.
    expect(await round(0)).toEqual(['a', 'f']);
    expect(await round(10)).toEqual(['b', 'f']);
    expect(await round(20)).toEqual(['c', 'f']);
    expect(await round(30)).toEqual(['d', 'f']);
    expect(await round(40)).toEqual(['e', 'f']);
    expect(await round(50)).toEqual(['f']); // every camera has one, none is 60 s old
    expect(await round(60)).toEqual(['a', 'f']);
    expect(await round(70)).toEqual(['b', 'f']);
    expect(snaps.counts.rested).toBe(33); // 8 rounds of 5 unwatched cameras, 7 pictures made
  });
});
