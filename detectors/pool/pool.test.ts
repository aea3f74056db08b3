import { afterEach, describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../../core/index.ts';
import { DetectorPool, detectorOptions, ensureDefaultModel, readImage, type PoolOptions, type SampleResult } from '../index.ts';
import { until } from '../../test/harness.ts';

const DATA = process.env['GRIDWATCH_DATA_DIR'] ?? './data';
const DOG = '/usr/share/darknet/data/dog.jpg';

function options(over: Partial<PoolOptions> & { results: SampleResult[] }): PoolOptions {
  ensureDefaultModel(DATA);
  return {
    detector: detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5 }, DATA),
    workers: 1, queuePerCamera: 2, gateThreshold: 0.01, reverifyS: 60, inferTimeoutMs: 10_000,
    maxRestarts: 3, restartWindowS: 600, warmupRuns: 1,
    onResult: (r) => { over.results.push(r); },
    ...over,
  };
}

let pool: DetectorPool | undefined;
afterEach(async () => { await pool?.stop(); pool = undefined; });

describe('DetectorPool', () => {
  it('stops behind a backlog without terminating a worker inside a model run: the queued samples are dropped and counted, the job in flight finishes', async () => {
    const results: SampleResult[] = [];
    const metrics = createMetricsRegistry({ defaults: false });
    // A drain deadline far shorter than the backlog: 100 cameras of dog.jpg at 25 ms or more a run.
    pool = new DetectorPool(options({ results, metrics, inferTimeoutMs: 1000, gateThreshold: 0 }));
    await pool.start();
    const img = await readImage(DOG);
    for (let i = 0; i < 100; i++) pool.submit({ cameraId: `cam-${i}`, captureTimeMs: 1000, width: img.width, height: img.height, rgb: img.rgb.slice() });
    await pool.stop();
    const st = pool.status();
    expect(st.state).toBe('stopped');
    expect(st.inferred).toBeGreaterThan(0);
    expect(st.inferred).toBeLessThan(100);
    expect(st.inferred + st.dropped).toBe(100);
    expect(await metrics.metrics()).toMatch(/gridwatch_stage_dropped_total\{stage="detectors",reason="shutdown"\} \d+/);
    pool = undefined;
  });

  it('infers in a worker, gates an unchanged frame, re-verifies after reverify_s, drops the oldest when a queue is full', async () => {
    const results: SampleResult[] = [];
    const metrics = createMetricsRegistry({ defaults: false });
    pool = new DetectorPool(options({ results, metrics }));
    await pool.start();
    expect(pool.status().state).toBe('ready');
    const img = await readImage(DOG);
    const sample = (t: number, cameraId = 'cam-1') => ({ cameraId, captureTimeMs: t, width: img.width, height: img.height, rgb: img.rgb.slice() });

    pool.submit(sample(1000));
    await pool.drain();
    expect(results[0]!.inferred).toBe(true);
    expect(results[0]!.detections.map((d) => d.label)).toContain('dog');

    // Same picture 5 s later: gated, with the last detections repeated.
    pool.submit(sample(6000));
    expect(results[1]!.inferred).toBe(false);
    expect(results[1]!.detections).toEqual(results[0]!.detections);
    // 61 s after the last inference: re-verified although nothing changed.
    pool.submit(sample(62_000));
    await pool.drain();
    expect(results[2]!.inferred).toBe(true);

    // Flood one camera with changing frames: its queue of 2 drops the oldest, counted.
    const before = pool.status().cameras['cam-2']?.dropped ?? 0;
    for (let i = 0; i < 6; i++) {
      const s = sample(100_000 + i * 1000, 'cam-2');
      s.rgb.fill(i * 40, 0, s.rgb.length / 2);
      pool.submit(s);
    }
    await pool.drain();
    const st = pool.status();
    expect(st.cameras['cam-2']!.dropped - before).toBeGreaterThanOrEqual(3);
    expect(st.cameras['cam-2']!.inferred + st.cameras['cam-2']!.dropped).toBe(6);
    expect(st.gatingSaved).toBeGreaterThan(0);
    expect(st.p50Ms).toBeGreaterThan(0);
    const text = await metrics.metrics();
    expect(text).toMatch(/gridwatch_detector_queue_depth\{camera="cam-2"\} 0/);
    expect(text).toMatch(/gridwatch_stage_dropped_total\{stage="detectors",reason="queue_full"\} [3-9]/);
  });

  it('restarts a stuck worker and a crashed one, and keeps serving', async () => {
    const results: SampleResult[] = [];
    const errors: string[] = [];
    pool = new DetectorPool(options({ results, inferTimeoutMs: 1500, gateThreshold: 0, onError: (cam, err) => { errors.push(`${cam}: ${err.message}`); } }));
    await pool.start();
    const img = await readImage(DOG);
    pool.debugWorker(0, { stall: 8000 });
    pool.submit({ cameraId: 'cam-a', captureTimeMs: 1, width: img.width, height: img.height, rgb: img.rgb.slice() });
    await until('the first restart', () => pool!.status().restarts === 1 && pool!.status().workers[0]!.state === 'idle', 30_000);
    expect(errors.join()).toMatch(/cam-a: detector worker 0 was stuck/);

    pool.debugWorker(0, 'crash');
    await until('the second restart', () => pool!.status().restarts === 2 && pool!.status().workers[0]!.state === 'idle', 30_000);
    pool.submit({ cameraId: 'cam-b', captureTimeMs: 2, width: img.width, height: img.height, rgb: img.rgb.slice() });
    await pool.drain();
    expect(results.some((r) => r.cameraId === 'cam-b' && r.inferred)).toBe(true);
    expect(pool.health().state).toBe('up');
  });

  it('keeps results in capture order: a gated sample waits for the inference before it', async () => {
    const results: SampleResult[] = [];
    pool = new DetectorPool(options({ results }));
    await pool.start();
    const img = await readImage(DOG);
    pool.submit({ cameraId: 'c', captureTimeMs: 1000, width: img.width, height: img.height, rgb: img.rgb.slice() });
    pool.submit({ cameraId: 'c', captureTimeMs: 2000, width: img.width, height: img.height, rgb: img.rgb.slice() });
    expect(results).toHaveLength(0);
    await pool.drain();
    await until('two results', () => results.length === 2, 30_000);
    expect(results.map((r) => [r.captureTimeMs, r.inferred])).toEqual([[1000, true], [2000, false]]);
    expect(results[1]!.detections).toEqual(results[0]!.detections);
  });

  it('gives fewer region crops to each sample while cameras wait, and all of them when none do', async () => {
    const results: SampleResult[] = [];
    const img = await readImage(DOG);
    // Zone tiles over the whole photo: more than 8 of them at min_object_px 12.
    const settings = { mode: 'zones' as const, maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: 0, y: 0, w: img.width, h: img.height }] };
    pool = new DetectorPool(options({ results, regionsFor: () => settings }));
    await pool.start();
    const sample = (cameraId: string) => ({ cameraId, captureTimeMs: 1000, width: img.width, height: img.height, rgb: img.rgb.slice() });
    pool.submit(sample('alone'));
    await pool.drain();
    expect(results.map((r) => r.inferences)).toEqual([9]);
    // Ten cameras at once on one worker: the first goes straight in with every crop; the next
    // sees eight waiting and gets one crop in eight; the last, alone again, all of them.
    for (let i = 0; i < 10; i++) pool.submit(sample(`busy-${i}`));
    await pool.drain();
    await until('eleven results', () => results.length === 11, 60_000);
    const busy = results.slice(1).map((r) => r.inferences);
    expect(busy).toEqual([9, 2, 2, 2, 2, 3, 3, 5, 9, 9]);
  }, 120_000);

  it('counts the keyframes waiting for a decoder as waiting: a lone sample gets fewer crops while ingest is behind', async () => {
    const results: SampleResult[] = [];
    const img = await readImage(DOG);
    const settings = { mode: 'zones' as const, maxCrops: 8, minObjectPx: 12, cropVehicleMinScore: 0.5, zones: [{ x: 0, y: 0, w: img.width, h: img.height }] };
    let backlog = 3;
    pool = new DetectorPool(options({ results, regionsFor: () => settings, upstreamBacklog: () => backlog }));
    await pool.start();
    const sample = (cameraId: string) => ({ cameraId, captureTimeMs: 1000, width: img.width, height: img.height, rgb: img.rgb.slice() });
    pool.submit(sample('behind'));
    await pool.drain();
    backlog = 0;
    pool.submit(sample('caught-up'));
    await pool.drain();
    await until('two results', () => results.length === 2, 30_000);
    // One worker, three waiting upstream: a third of the 8 crops (2), plus the whole frame; then all 8.
    expect(results.map((r) => r.inferences)).toEqual([3, 9]);
  }, 60_000);

  it('reports a corrupt frame for its camera without stopping others', async () => {
    const results: SampleResult[] = [];
    const errors: string[] = [];
    pool = new DetectorPool(options({ results, onError: (cam, err) => { errors.push(`${cam}: ${err.message}`); } }));
    await pool.start();
    pool.submit({ cameraId: 'broken', captureTimeMs: 1, width: 640, height: 360, rgb: new Uint8Array(100) });
    expect(errors[0]).toMatch(/broken: frame of 640x360 has 100 bytes/);
    const img = await readImage(DOG);
    pool.submit({ cameraId: 'fine', captureTimeMs: 1, width: img.width, height: img.height, rgb: img.rgb });
    await pool.drain();
    expect(results.map((r) => r.cameraId)).toEqual(['fine']);
  });
});
