import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from '../../core/index.ts';
import { CameraIngest, type Sample, type VideoCodec } from '../index.ts';
import { DEFAULT_CLIP, prepareClip, startCameraFarm } from '../../sim/index.ts';
import { DATA_DIR, FAST_INGEST, testCamera } from '../../test/ingest.ts';
import { until } from '../../test/harness.ts';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'gst-rtsp-server.py');
const started: ChildProcess[] = [];

/** GStreamer's RTSP server (not written here) looping real footage, with Digest auth. */
async function gstServer(codec: VideoCodec): Promise<number> {
  const file = await prepareClip(DATA_DIR, { ...DEFAULT_CLIP, codec, durationS: codec === 'h265' ? 6 : undefined });
  const port = await freePort();
  const p = spawn('/usr/bin/python3', [SERVER, String(port), file, codec, 'admin', 'gst-secret'], { stdio: ['ignore', 'pipe', 'inherit'] });
  started.push(p);
  await waitForPort(port, '127.0.0.1', 20_000);
  return port;
}

afterAll(() => {
  for (const p of started) if (p.pid && p.exitCode === null) process.kill(p.pid, 'SIGTERM');
});

describe.each(['h264', 'h265'] as const)('interop with GStreamer rtsp-server, %s', (codec) => {
  it('ingests its stream: Digest auth, depacketisation, keyframes, decoded samples', async () => {
    const port = await gstServer(codec);
    const samples: Sample[] = [];
    const ingest = new CameraIngest({ config: FAST_INGEST, frameSize: { width: 256, height: 144 }, onSample: (s) => samples.push(s) });
    try {
      await ingest.start();
      await ingest.setCameras([testCamera('gst', `rtsp://127.0.0.1:${port}/cam`, { username: 'admin', password: 'gst-secret' })]);
      await until('two samples', () => samples.length >= 2, 30_000);
      const st = ingest.status().cameras[0]!;
      expect(st).toMatchObject({ state: 'streaming', codec });
      expect(st.counters.gaps).toBe(0);
      expect(st.counters.keyframes).toBeGreaterThanOrEqual(2);
      expect(samples[1]!.captureTimeMs).toBeGreaterThan(samples[0]!.captureTimeMs);
      const mean = samples[0]!.rgb.reduce((a, b) => a + b, 0) / samples[0]!.rgb.length;
      expect(mean).toBeGreaterThan(20);
    } finally {
      await ingest.stop();
    }
  }, 90_000);
});

describe('the farm in H.265', () => {
  it('serves H.265 that the in-process client depacketises and the decoder pool decodes', async () => {
    const port = await freePort();
    const farm = await startCameraFarm({ dataDir: DATA_DIR, port, cameras: [{ path: 'hevc' }], clip: { codec: 'h265', durationS: 6 } });
    const samples: Sample[] = [];
    const ingest = new CameraIngest({ config: FAST_INGEST, frameSize: { width: 256, height: 144 }, onSample: (s) => samples.push(s) });
    try {
      await ingest.start();
      await ingest.setCameras([testCamera('hevc', `rtsp://127.0.0.1:${port}/hevc`)]);
      await until('an H.265 sample', () => samples.length >= 1, 30_000);
      expect(ingest.status().cameras[0]).toMatchObject({ state: 'streaming', codec: 'h265' });
    } finally {
      await ingest.stop();
      await farm.stop();
    }
  }, 90_000);
});
