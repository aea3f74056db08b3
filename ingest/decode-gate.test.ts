import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/index.ts';
import { DEFAULT_SOURCE, startCameraFarm, type CameraFarm } from '../sim/index.ts';
import { thumbnail, thumbDiff } from '../detectors/index.ts';
import { tempDir } from '../test/harness.ts';
import { DATA_DIR, FAST_INGEST, testCamera } from '../test/ingest.ts';
import { CameraIngest, type Sample } from './index.ts';

const PERIOD_S = 2, REVERIFY_MS = 10_000, RUN_MS = 32_000;

/**
 * Gating before decoding on real streams: a still scene (one frame of the street clip with
 * sensor noise, encoded by ffmpeg) and the busy street clip, served over RTSP by the camera
 * farm. The detectors' own pixel gate (detectors/gate.ts, as the pool runs it) gives the
 * verdicts that teach each camera its noise band.
 */
describe('gating before decoding, on a still and a busy camera', () => {
  let busy: CameraFarm, still: CameraFarm, ingest: CameraIngest;
  const samples: Sample[] = [];
  const pixel = new Map<string, { thumb: Float32Array; inferredMs: number }>();

  /** The pool's gate: inferred when the picture changed or `reverify` passed, else unchanged. */
  const judge = (s: Sample): boolean => {
    const t = thumbnail(s.width, s.height, s.rgb);
    const last = pixel.get(s.cameraId);
    const inferred = !last || s.captureTimeMs - last.inferredMs >= REVERIFY_MS || thumbDiff(t, last.thumb) >= 0.01;
    if (inferred) pixel.set(s.cameraId, { thumb: t, inferredMs: s.captureTimeMs });
    return inferred;
  };

  beforeAll(async () => {
    const dir = tempDir('gw-still-');
    const frame = join(dir, 'frame.png'), clip = join(dir, 'still.mkv');
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-ss', '3', '-i', DEFAULT_SOURCE, '-frames:v', '1', frame]);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-i', frame, '-t', '8', '-vf', 'noise=alls=6:allf=t', '-pix_fmt', 'yuv420p', '-c:v', 'ffv1', clip]);
    const [bp, sp] = await Promise.all([freePort(), freePort()]);
    busy = await startCameraFarm({ dataDir: DATA_DIR, port: bp, cameras: [{ path: 'street' }, { path: 'parked', scene: 'static' }] });
    // Its own data folder: the farm caches clips by their settings, not their source.
    still = await startCameraFarm({ dataDir: dir, port: sp, cameras: [{ path: 'still' }], clip: { source: clip } });
    ingest = new CameraIngest({
      config: { ...FAST_INGEST, sample_period_s: PERIOD_S }, frameSize: { width: 320, height: 180 },
      gate: { reverifyMs: REVERIFY_MS, timing: (id) => id === 'still-timed' },
      // `parked` stands for detectors without a pixel gate (gate_threshold 0): every sample decoded is inferred.
      onSample: (s) => { samples.push(s); ingest.verdict(s.cameraId, s.captureTimeMs, s.cameraId === 'parked' || judge(s)); },
    });
    await ingest.start();
    await ingest.setCameras([
      testCamera('street', `rtsp://127.0.0.1:${bp}/street`),
      testCamera('still', `rtsp://127.0.0.1:${sp}/still`),
      testCamera('still-timed', `rtsp://127.0.0.1:${sp}/still`),
      testCamera('parked', `rtsp://127.0.0.1:${bp}/parked`),
    ]);
    await new Promise((r) => setTimeout(r, RUN_MS));
  }, RUN_MS + 120_000);

  afterAll(async () => {
    await ingest?.stop();
    await busy?.stop();
    await still?.stop();
  });

  it('skips the decodes of a still scene once its band is learnt, and reverifies it in time', () => {
    const g = ingest.gateStats('still')!;
    console.log(JSON.stringify({ still: g, street: ingest.gateStats('street'), timed: ingest.gateStats('still-timed'), parked: ingest.gateStats('parked') }));
    expect(g.banded).toBe(true);
    // About 15 samples: one inferred, three unchanged to learn the band, then skips but for reverifies.
    expect(g.decided).toBeGreaterThanOrEqual(12);
    expect(g.skipped / g.decided).toBeGreaterThan(0.4);
    // Decoded at least once per reverify period (the first decode past it is inferred).
    const times = samples.filter((s) => s.cameraId === 'still').map((s) => s.captureTimeMs);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(REVERIFY_MS + PERIOD_S * 1000);
    expect(ingest.status().sampler.gatedBeforeDecode).toBe(['still', 'street', 'still-timed', 'parked'].reduce((n, id) => n + ingest.gateStats(id)!.skipped, 0));
  });

  it('learns a picture-perfect still (P-frames under 1% of the keyframe) without the pixel gate', () => {
    const g = ingest.gateStats('parked')!;
    expect(g.banded).toBe(true);
    expect(g.skipped / g.decided).toBeGreaterThan(0.4);
    const times = samples.filter((s) => s.cameraId === 'parked').map((s) => s.captureTimeMs);
    expect(Math.max(...times.slice(1).map((t, i) => t - times[i]!))).toBeLessThanOrEqual(REVERIFY_MS + PERIOD_S * 1000);
  });

  it('decodes every sample of the busy street: its P-frames never fall to a noise band', () => {
    const g = ingest.gateStats('street')!;
    expect(g.decided).toBeGreaterThanOrEqual(12);
    expect(g.skipped).toBe(0);
  });

  it('decodes every sample of a camera whose rules are timing a dwell, however still', () => {
    const g = ingest.gateStats('still-timed')!;
    expect(g.decided).toBeGreaterThanOrEqual(12);
    expect(g.banded).toBe(true);
    expect(g.skipped).toBe(0);
  });
});
