import { describe, expect, it } from 'vitest';
import { freePort } from '../core/index.ts';
import { RtspSession } from '../ingest/index.ts';
import { DATA_DIR } from '../test/ingest.ts';
import { until } from '../test/harness.ts';
import { assignScenes, startCameraFarm } from './index.ts';

describe('camera farm scenes', () => {
  it('serves a static scene whose P-frames are tiny beside the busy clip, with full keyframes', async () => {
    const port = await freePort();
    const farm = await startCameraFarm({ dataDir: DATA_DIR, port, cameras: [{ path: 'busy' }, { path: 'still', scene: 'static' }] });
    // What the in-process RTSP client's depacketiser hands over, per access unit.
    const seen = { busy: { p: [] as number[], k: [] as number[] }, still: { p: [] as number[], k: [] as number[] } };
    const sessions = (['busy', 'still'] as const).map((path) => new RtspSession({
      cameraId: path, url: farm.url(path),
      sink: { onAccessUnit: (au) => { (au.keyframe ? seen[path].k : seen[path].p).push(au.data.length); } },
    }));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    try {
      await Promise.all(sessions.map((s) => s.start()));
      // Two keyframes each (a 2 s GOP) and the P-frames between them.
      await until('two GOPs from each camera', () => seen.busy.k.length >= 2 && seen.still.k.length >= 2, 15_000);
      expect(seen.still.p.length).toBeGreaterThan(20);
      expect(seen.busy.p.length).toBeGreaterThan(20);
      // Measured here: still ~50 B per P-frame, busy ~2,400 B.
      expect(mean(seen.still.p)).toBeLessThan(mean(seen.busy.p) / 10);
      // A real picture in each keyframe, not an empty one: vtest.avi's plaza at 640x360.
      expect(Math.min(...seen.still.k)).toBeGreaterThan(10_000);
    } finally {
      await Promise.all(sessions.map((s) => s.stop()));
      await farm.stop();
    }
  }, 90_000);

  it('spreads a share of static scenes evenly over the cameras', () => {
    const cams = Array.from({ length: 10 }, (_, i) => ({ path: `cam-${i}` }));
    expect(assignScenes(cams, 0.5).map((c) => c.scene)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'busy' : 'static')));
    expect(assignScenes(cams, 0).every((c) => c.scene === 'busy')).toBe(true);
    expect(assignScenes(cams, 1).every((c) => c.scene === 'static')).toBe(true);
    expect(assignScenes(cams, 0.3).filter((c) => c.scene === 'static')).toHaveLength(3);
    expect(() => assignScenes(cams, 1.5)).toThrow(/0\.\.1/);
  });
});
