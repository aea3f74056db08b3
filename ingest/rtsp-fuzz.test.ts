import { describe, expect, it } from 'vitest';
import { freePort } from '../core/index.ts';
import { startCameraFarm } from '../sim/index.ts';
import { DATA_DIR } from '../test/ingest.ts';
import { DAMAGE, startHostileCamera } from '../test/rtsp-fuzz.ts';
import { IngestError, RtspSession } from './index.ts';

const SEED = 20261207;
const CONNECTIONS = 160;
const AT_ONCE = 8;
const MB = 1024 * 1024;

type Outcome = { damage: string; streamed: boolean; units: number; error?: IngestError | Error; settledMs: number };

/**
 * A camera that breaks the protocol in every way a broken or hostile device might (seeded, so
 * a failure replays), against the RTSP client the engine runs for each camera.
 */
describe('RTSP: a hostile camera', () => {
  it(`${CONNECTIONS} damaged sessions each end with a camera error that names the camera, or stream; memory stays bounded; a clean session still streams`, async () => {
    const farmPort = await freePort();
    const farm = await startCameraFarm({ dataDir: DATA_DIR, port: farmPort, cameras: Array.from({ length: CONNECTIONS }, (_, i) => ({ path: `c${i}` })) });
    const hostile = await startHostileCamera(farmPort, SEED);
    const outcomes: Outcome[] = [];
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const one = async (i: number): Promise<void> => {
        const cameraId = `hostile-${i}`;
        let units = 0;
        let closed: IngestError | undefined;
        const s = new RtspSession({
          cameraId, url: `rtsp://127.0.0.1:${hostile.port}/c${i}`, connectTimeoutMs: 1000, requestTimeoutMs: 1000,
          sink: { onAccessUnit: () => { units++; } }, onClose: (err) => { closed = err; },
        });
        const t0 = performance.now();
        let error: Error | undefined;
        let streamed = false;
        try {
          await s.start();
          streamed = true;
          await new Promise((r) => setTimeout(r, 400));
        } catch (err) {
          error = err as Error;
        }
        await s.stop();
        outcomes.push({ damage: hostile.damageOf.get(i) ?? 'none (no request)', streamed, units, error: error ?? closed, settledMs: performance.now() - t0 });
      };
      for (let i = 0; i < CONNECTIONS; i += AT_ONCE) await Promise.all(Array.from({ length: Math.min(AT_ONCE, CONNECTIONS - i) }, (_, k) => one(i + k)));
    } finally {
      clearInterval(sampler);
      await hostile.stop();
    }
    try {
      const byDamage: Record<string, { n: number; streamed: number; failed: Record<string, number> }> = {};
      for (const o of outcomes) {
        const d = (byDamage[o.damage] ??= { n: 0, streamed: 0, failed: {} });
        d.n++;
        if (o.streamed && !o.error) d.streamed++;
        if (o.error) { const k = (o.error as IngestError).code ?? o.error.name; d.failed[k] = (d.failed[k] ?? 0) + 1; }
      }
      console.log(`hostile camera, seed ${SEED}: ${JSON.stringify(byDamage)}; RSS grew ${((peak - base) / MB).toFixed(1)} MB at most`);
      expect(outcomes).toHaveLength(CONNECTIONS);
      expect(new Set(outcomes.map((o) => o.damage))).toEqual(new Set(DAMAGE));
      for (const o of outcomes) {
        // Every failure is a camera error with a stable code and the camera in its message or fields.
        if (o.error) {
          expect(o.error, `${o.damage}: ${o.error.message}`).toBeInstanceOf(IngestError);
          expect((o.error as IngestError).code).toMatch(/^INGEST_RTSP_/);
          expect(o.error.message, o.damage).toMatch(/camera hostile-\d+/);
        }
        // Nothing hangs: the request timeout bounds every step.
        expect(o.settledMs, o.damage).toBeLessThan(8000);
      }
      // The damage that leaves the protocol intact still streams; so does junk between messages
      // (before this test, junk ahead of an answer timed the request out: 3 of 18 streamed).
      for (const d of ['server-requests', 'garbage', 'slow'] as const) expect(byDamage[d]!.streamed, d).toBe(byDamage[d]!.n);
      expect(peak - base).toBeLessThan(200 * MB);
      // And a clean session after all that.
      let units = 0;
      const clean = new RtspSession({ cameraId: 'clean', url: farm.url('c0'), sink: { onAccessUnit: () => { units++; } } });
      await clean.start();
      await new Promise((r) => setTimeout(r, 1500));
      await clean.stop();
      expect(units).toBeGreaterThan(10);
    } finally {
      await farm.stop();
    }
  }, 180_000);
});
