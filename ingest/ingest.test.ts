import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from '../core/index.ts';
import { CameraIngest, type CameraStatus, type Sample } from './index.ts';
import { startCameraFarm, type CameraFarm, type FarmCamera } from '../sim/index.ts';
import { DATA_DIR, FAST_INGEST, testCamera } from '../test/ingest.ts';
import { until } from '../test/harness.ts';

const run = promisify(execFile);
const USER = 'admin';
const PASS = 'pa55-word';

describe('camera ingest against the camera farm', () => {
  let farm: CameraFarm;
  let lonely: CameraFarm; // a second farm that is stopped mid-stream
  let ingest: CameraIngest;
  let port: number;
  let lonelyPort: number;
  let closedPort: number;
  const samples: Sample[] = [];
  const cam = (path: string, fault?: FarmCamera['fault']): FarmCamera => ({ path, username: USER, password: PASS, fault, faultAfterS: 3 });
  const url = (path: string, p = port) => `rtsp://127.0.0.1:${p}/${path}`;
  const status = (id: string): CameraStatus => ingest.status().cameras.find((c) => c.id === id)!;
  const samplesOf = (id: string) => samples.filter((s) => s.cameraId === id);

  beforeAll(async () => {
    [port, lonelyPort, closedPort] = await Promise.all([freePort(), freePort(), freePort()]);
    farm = await startCameraFarm({
      dataDir: DATA_DIR, port,
      cameras: [cam('good-1'), cam('good-2'), cam('auth'), cam('not-video', 'no-video'), cam('mjpeg', 'mjpeg'), cam('corrupt', 'corrupt'), cam('stall', 'stall'), cam('drop', 'drop'), cam('resize', 'resolution'), cam('refuse', 'refuse')],
    });
    lonely = await startCameraFarm({ dataDir: DATA_DIR, port: lonelyPort, cameras: [{ path: 'lonely' }] });
    ingest = new CameraIngest({ config: FAST_INGEST, frameSize: { width: 320, height: 180 }, onSample: (s) => samples.push(s) });
    await ingest.start();
    const creds = { username: USER, password: PASS };
    await ingest.setCameras([
      testCamera('good-1', url('good-1'), creds),
      testCamera('good-2', url('good-2'), creds),
      testCamera('wrong-password', url('auth'), { username: USER, password: 'nope' }),
      testCamera('unknown-path', url('no-such-camera'), creds),
      testCamera('not-video', url('not-video'), creds),
      testCamera('mjpeg', url('mjpeg'), creds),
      testCamera('corrupt', url('corrupt'), creds),
      testCamera('stall', url('stall'), creds),
      testCamera('drop', url('drop'), creds),
      testCamera('resize', url('resize'), creds),
      testCamera('refuse', url('refuse'), creds),
      testCamera('closed-port', `rtsp://127.0.0.1:${closedPort}/x`),
      testCamera('lonely', url('lonely', lonelyPort)),
      testCamera('ffmpeg-mode', url('good-1'), { ...creds, type: 'ffmpeg' }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await ingest?.stop();
    await farm?.stop();
    await lonely?.stop();
  });

  it('streams good cameras with Digest auth and delivers RGB samples of the asked size', async () => {
    await until('samples from both good cameras', () => samplesOf('good-1').length >= 2 && samplesOf('good-2').length >= 2);
    const s = samplesOf('good-1')[0]!;
    expect(s).toMatchObject({ cameraId: 'good-1', width: 320, height: 180, source: 'rtsp' });
    expect(s.rgb.length).toBe(320 * 180 * 3);
    expect(Math.abs(s.captureTimeMs - Date.now())).toBeLessThan(30_000);
    const mean = s.rgb.reduce((a, b) => a + b, 0) / s.rgb.length;
    expect(mean).toBeGreaterThan(20); // real footage, not a black frame
    const st = status('good-1');
    expect(st.state).toBe('streaming');
    expect(st.codec).toBe('h264');
    expect(st.counters.keyframes).toBeGreaterThan(0);
    expect(st.counters.accessUnits).toBeGreaterThan(st.counters.keyframes);
    expect(st.counters.lastKeyframeMs).toBeGreaterThan(0);
  }, 30_000);

  it('gives each bad camera a status with the reason an operator needs, and backs off', async () => {
    const want: Record<string, string[]> = {
      'wrong-password': ['401'], 'unknown-path': ['404'], 'not-video': ['no video'], mjpeg: ['unsupported codec'],
      refuse: ['closed by server'], 'closed-port': ['refused'],
    };
    await until('every bad camera to fail', () => Object.keys(want).every((id) => status(id).state === 'failed'));
    for (const [id, reasons] of Object.entries(want)) {
      const st = status(id);
      expect(reasons, `${id}: ${st.message}`).toContain(st.reason);
      expect(st.message).toBeTruthy();
      expect(st.retryAt === undefined || st.retryAt >= Date.now() - 1000).toBe(true);
    }
    await until('retries with backoff', () => status('wrong-password').counters.reconnects >= 2);
    expect(status('wrong-password').message).toMatch(/username and password/);
  }, 30_000);

  it('takes the per-camera ffmpeg mode samples in the same shape', async () => {
    await until('an ffmpeg-mode sample', () => samplesOf('ffmpeg-mode').length >= 1, 20_000);
    expect(samplesOf('ffmpeg-mode')[0]).toMatchObject({ width: 320, height: 180, source: 'ffmpeg' });
    expect(status('ffmpeg-mode')).toMatchObject({ type: 'ffmpeg', state: 'streaming' });
  }, 30_000);

  it('notices stalls and dropped connections, reconnects, and survives corrupt packets and resolution changes', async () => {
    await until('the stall to be seen', () => status('stall').counters.reconnects >= 1 || status('stall').state === 'stalled', 20_000);
    await until('the drop to be seen', () => status('drop').counters.reconnects >= 1, 20_000);
    const before = samplesOf('resize').length;
    await until('samples across resolution changes', () => samplesOf('resize').length >= before + 4, 20_000);
    expect(samplesOf('resize').every((s) => s.rgb.length === 320 * 180 * 3)).toBe(true);
    const c = status('corrupt');
    expect(c.counters.badPackets + c.counters.garbageBytes + c.counters.gaps).toBeGreaterThan(0);
    expect(ingest.status().decoders.every((d) => d.restarts <= 3)).toBe(true);
  }, 45_000);

  it('marks a camera whose server stops mid-stream, leaving the others undisturbed', async () => {
    await until('lonely to stream', () => status('lonely').state === 'streaming');
    const good = samplesOf('good-2').length;
    await lonely.stop();
    await until('lonely to fail', () => status('lonely').state === 'failed');
    expect(['closed by server', 'refused']).toContain(status('lonely').reason);
    await until('good-2 to go on', () => samplesOf('good-2').length > good + 1);
    expect(status('good-2').state).toBe('streaming');
  }, 30_000);

  it('adds and removes cameras at run time', async () => {
    const all = ingest.status().cameras.map((c) => c.id);
    const keep = all.filter((id) => id !== 'good-2');
    const cams = [testCamera('good-1', url('good-1'), { username: USER, password: PASS }), testCamera('late', url('good-2'), { username: USER, password: PASS })];
    await ingest.setCameras(cams);
    expect(ingest.status().cameras.map((c) => c.id).sort()).toEqual(['good-1', 'late']);
    expect(keep).toContain('good-1');
    const n = samplesOf('late').length;
    await until('the added camera to sample', () => samplesOf('late').length > n);
    expect(status('good-1').state).toBe('streaming');
  }, 30_000);

  it('serves streams that ffprobe and ffmpeg read', async () => {
    const u = `rtsp://${USER}:${PASS}@127.0.0.1:${port}/good-1`;
    const probe = await run('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', u], { timeout: 20_000 });
    expect(probe.stdout.trim()).toBe('h264,640,360');
    const dec = await run('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', u, '-t', '3', '-f', 'null', '-'], { timeout: 20_000 });
    expect(dec.stderr.trim()).toBe('');
  }, 45_000);
});
