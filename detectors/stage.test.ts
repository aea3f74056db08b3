import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from 'typebox/value';
import sharp from 'sharp';
import { Camera, Detectors } from '../config/index.ts';
import type { CameraT, DetectorsT } from '../config/index.ts';
import { createMetricsRegistry, HealthRegistry, silentLogger } from '../core/index.ts';
import { annotatedEvidence, Detector, DetectorStage, detectorOptions, ensureDefaultModel, ensureInt8Model, readVideo, type Violation, type RgbFrame } from './index.ts';
import { until } from '../test/harness.ts';

const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

describe('DetectorStage on vtest.avi', () => {
  it('flags the van parked at the top, writes evidence, and keeps its dwell across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-stage-'));
    const camera = Value.Default(Camera, {
      id: 'cam-vtest', url: 'rtsp://127.0.0.1:8554/vtest', lat: 31.2, lon: 121.4, detect: { regions: 'whole' },
      zones: [
        { id: 'top-curb', type: 'no_parking', dwell_s: 60, polygon: [[600, 10], [768, 10], [768, 140], [600, 140], [600, 10]] },
        { id: 'bad', type: 'no_parking', polygon: [[0, 0], [2000, 0], [2000, 10], [0, 0]] },
      ],
    }) as CameraT;
    const cfg = Value.Default(Detectors, { workers: 1 }) as DetectorsT;
    const frames: RgbFrame[] = [];
    for await (const f of readVideo(VTEST, 1, 16)) frames.push(f);
    const ctx = () => ({ log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), health: new HealthRegistry(), dataDir });
    const got: Violation[] = [];
    // One sample every 6 s of capture time; the engine restarts after the 7th.
    const feed = async (stage: DetectorStage, from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const f = frames[i]!;
        stage.submit({ cameraId: 'cam-vtest', captureTimeMs: 1_700_000_000_000 + i * 6000, width: f.width, height: f.height, rgb: f.rgb.slice() });
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    // Dwell state saved every millisecond: the timer's saves overlap each other and stop's.
    const a = new DetectorStage({ cameras: [camera], config: cfg, ctx: ctx(), onViolation: (v) => { got.push(v); }, saveEveryMs: 1 });
    await a.start();
    await feed(a, 0, 7);
    await a.stop();
    expect(got).toEqual([]);
    expect(readdirSync(join(dataDir, 'detectors'))).toEqual(['dwell.json']);
    expect(JSON.parse(readFileSync(join(dataDir, 'detectors', 'dwell.json'), 'utf8'))).toBeTypeOf('object');
    expect(a.status().zoneErrors['cam-vtest']).toMatch(/zone bad: polygon point \[2000, 0\] lies outside the 768x576 image/);
    expect(existsSync(join(dataDir, 'detectors', 'dwell.json'))).toBe(true);

    const b = new DetectorStage({ cameras: [{ ...camera, zones: camera.zones.slice(0, 1) }], config: cfg, ctx: ctx(), onViolation: (v) => { got.push(v); } });
    await b.start();
    await feed(b, 7, 16);
    await b.stop();
    const v = got.find((x) => x.state === 'new');
    expect(v).toBeDefined();
    expect(v).toMatchObject({ cameraId: 'cam-vtest', zoneId: 'top-curb', rule: 'illegal_parking', firstSeenMs: 1_700_000_000_000 });
    expect(['truck', 'car', 'bus']).toContain(v!.class);
    expect(v!.dwellS).toBeGreaterThanOrEqual(60);
    expect(v!.model.name).toBe('nanodet-g-416');
    expect(v!.box[1] + v!.box[3]).toBeLessThan(140);
    // The annotated JPEG is drawn when first read, from the clean one and the sidecar's overlay.
    expect(existsSync(join(dataDir, v!.evidence!.annotated))).toBe(false);
    const [drawn, again] = await Promise.all([annotatedEvidence(dataDir, v!.evidence!.annotated), annotatedEvidence(dataDir, v!.evidence!.annotated)]);
    expect(again).toBe(drawn);
    expect(await sharp(drawn!).metadata()).toMatchObject({ format: 'jpeg', width: 768, height: 576 });
    expect(readFileSync(join(dataDir, v!.evidence!.annotated))).toEqual(drawn);
    const clean = await sharp(join(dataDir, v!.evidence!.clean)).raw().toBuffer();
    const annotated = await sharp(drawn!).raw().toBuffer();
    // The caption bar darkens the bottom rows; the zone and boxes are drawn over the rest.
    const rowMean = (b: Buffer, y: number) => { let t = 0; for (let x = 0; x < 768 * 3; x++) t += b[y * 768 * 3 + x]!; return t / (768 * 3); };
    expect(rowMean(annotated, 570)).toBeLessThan(rowMean(clean, 570) * 0.7);
    expect((await sharp(drawn!).metadata()).exif?.toString('latin1')).toContain('gridwatch camera cam-vtest');
    expect(await annotatedEvidence(dataDir, v!.evidence!.clean.replace(/-clean\.jpg$/, '-nothing.jpg'))).toBeNull();
    const side = JSON.parse(readFileSync(join(dataDir, v!.evidence!.clean.replace(/-clean\.jpg$/, '.json')), 'utf8'));
    expect(side).toMatchObject({ camera: 'cam-vtest', violation: v!.id, model: { name: 'nanodet-g-416' } });
    expect(side.capture_time).toBe(new Date(v!.confirmedMs).toISOString());
  }, 120_000);

  it('hands each camera\'s violation steps on in order, and one camera\'s slow hand-over does not hold up another\'s', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-stage-'));
    const zones = [{ id: 'top-curb', type: 'no_parking', dwell_s: 30, polygon: [[600, 10], [768, 10], [768, 140], [600, 140], [600, 10]] }];
    const cameras = ['cam-a', 'cam-b'].map((id) => Value.Default(Camera, { id, url: `rtsp://127.0.0.1:8554/${id}`, lat: 31.2, lon: 121.4, detect: { regions: 'whole' }, zones }) as CameraT);
    const frames: RgbFrame[] = [];
    for await (const f of readVideo(VTEST, 1, 12)) frames.push(f);
    const got: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const stage = new DetectorStage({
      cameras, config: Value.Default(Detectors, { workers: 1 }) as DetectorsT, ctx: { log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), health: new HealthRegistry(), dataDir },
      // cam-a's consumer is stuck (a slow bus, a slow disk) until released.
      onViolation: async (v) => { if (v.cameraId === 'cam-a') await held; got.push(`${v.cameraId}:${v.state}`); },
    });
    await stage.start();
    for (let i = 0; i < frames.length; i++) {
      for (const id of ['cam-a', 'cam-b']) stage.submit({ cameraId: id, captureTimeMs: 1_700_000_000_000 + i * 6000, width: frames[i]!.width, height: frames[i]!.height, rgb: frames[i]!.rgb.slice() });
      // Both samples through the rules before the next pair, so that neither camera loses one.
      await until('the pair done', () => { const p = stage.status().pool; return p.inferred + p.gated + p.dropped >= 2 * (i + 1); }, 30_000);
    }
    await until('cam-b\'s alert while cam-a\'s is held', () => got.includes('cam-b:new'), 60_000).catch((err: Error) => { throw new Error(`${err.message}; got ${got.join(', ') || 'nothing'}, active ${stage.status().violations.active}, raised ${stage.status().violations.raised}`); });
    expect(got.filter((g) => g.startsWith('cam-a'))).toEqual([]);
    release();
    await stage.stop();
    const a = got.filter((g) => g.startsWith('cam-a'));
    expect(a[0]).toBe('cam-a:new');
    expect(a.slice(1).every((g) => g !== 'cam-a:new')).toBe(true);
  }, 120_000);

  it('takes edited zones without a restart: a refused zone is gone once the city is fixed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-stage-zones-'));
    const zones = [
      { id: 'top-curb', type: 'no_parking', dwell_s: 60, polygon: [[600, 10], [768, 10], [768, 140], [600, 140], [600, 10]] },
      { id: 'bad', type: 'no_parking', polygon: [[0, 0], [2000, 0], [2000, 10], [0, 0]] },
    ];
    const camera = (zs: unknown[]) => Value.Default(Camera, { id: 'cam-vtest', url: 'rtsp://127.0.0.1:8554/vtest', lat: 31.2, lon: 121.4, zones: zs }) as CameraT;
    const [frame] = await (async () => { const out: RgbFrame[] = []; for await (const f of readVideo(VTEST, 1, 1)) out.push(f); return out; })();
    const stage = new DetectorStage({ cameras: [camera(zones)], config: Value.Default(Detectors, { workers: 1 }) as DetectorsT, ctx: { log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), health: new HealthRegistry(), dataDir }, onViolation: () => undefined });
    await stage.start();
    const sample = (i: number) => ({ cameraId: 'cam-vtest', captureTimeMs: 1_700_000_000_000 + i * 6000, width: frame!.width, height: frame!.height, rgb: frame!.rgb.slice() });
    stage.submit(sample(0));
    await until('the refused zone reported', () => 'cam-vtest' in stage.status().zoneErrors, 10_000);
    expect('cam-vtest' in stage.status().zoneErrors).toBe(true);
    stage.setCameras([camera([zones[0]])]);
    stage.submit(sample(1));
    await until('the zone error cleared', () => !('cam-vtest' in stage.status().zoneErrors), 10_000);
    expect('cam-vtest' in stage.status().zoneErrors).toBe(false);
    await stage.stop();
  }, 60_000);

  it('with detect.regions whole behaves as before: one inference per sample, the whole frame\'s detections; auto adds crops, counted', async () => {
    const frames: RgbFrame[] = [];
    for await (const f of readVideo(VTEST, 1, 3)) frames.push(f);
    const run = async (regions: 'whole' | 'auto') => {
      const dataDir = mkdtempSync(join(tmpdir(), `gw-stage-${regions}-`));
      const camera = Value.Default(Camera, { id: 'cam-vtest', url: 'rtsp://127.0.0.1:8554/vtest', lat: 31.2, lon: 121.4, detect: { regions },
        zones: [{ id: 'top-curb', type: 'no_parking', dwell_s: 60, polygon: [[600, 10], [768, 10], [768, 140], [600, 140], [600, 10]] }] }) as CameraT;
      const metrics = createMetricsRegistry({ defaults: false });
      const results: { detections: unknown[]; inferences: number }[] = [];
      const stage = new DetectorStage({ cameras: [camera], config: Value.Default(Detectors, { workers: 1, gate_threshold: 0 }) as DetectorsT, ctx: { log: silentLogger(), metrics, health: new HealthRegistry(), dataDir }, onViolation: () => undefined, onDetections: (r) => { results.push(r); } });
      await stage.start();
      frames.forEach((f, i) => stage.submit({ cameraId: 'cam-vtest', captureTimeMs: 1_700_000_000_000 + i * 1000, width: f.width, height: f.height, rgb: f.rgb.slice() }));
      await until('three results', () => results.length === 3, 60_000);
      const status = stage.status().pool.cameras['cam-vtest']!;
      const metric = (await metrics.getSingleMetric('gridwatch_detector_inferences_per_sample')!.get()).values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum'))!.value;
      await stage.stop();
      return { results, status, metric };
    };
    const whole = await run('whole');
    expect(whole.results.map((r) => r.inferences)).toEqual([1, 1, 1]);
    expect(whole.status).toMatchObject({ inferred: 3, inferences: 3 });
    expect(whole.metric).toBe(3);
    const modelDir = mkdtempSync(join(tmpdir(), 'gw-stage-model-'));
    ensureDefaultModel(modelDir);
    await ensureInt8Model(modelDir);
    // The stage's default model: int8.
    const detector = await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5, precision: 'int8' }, modelDir));
    for (let i = 0; i < 3; i++) expect(whole.results[i]!.detections).toEqual((await detector.detect(frames[i]!)).detections);
    await detector.release();
    const auto = await run('auto');
    // The zone's tiles at least, and crops around the walkers that moved.
    expect(auto.results.every((r) => r.inferences > 1)).toBe(true);
    expect(auto.status.inferences).toBeGreaterThan(auto.status.inferred);
    expect(auto.metric).toBe(auto.status.inferences);
  }, 180_000);

  it('with detectors.region_model { type: yolov5 } runs region cameras on YOLOv5s and whole-frame ones on NanoDet-g, and stamps each violation with its model', async () => {
    const frames: RgbFrame[] = [];
    for await (const f of readVideo(VTEST, 1, 8)) frames.push(f);
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-stage-region-model-'));
    const zones = [{ id: 'top-curb', type: 'no_parking', dwell_s: 30, polygon: [[600, 10], [768, 10], [768, 140], [600, 140], [600, 10]] }];
    const cameras = (['whole', 'auto'] as const).map((regions) => Value.Default(Camera, { id: `cam-${regions}`, url: `rtsp://127.0.0.1:8554/${regions}`, lat: 31.2, lon: 121.4, detect: { regions }, zones }) as CameraT);
    const results: { cameraId: string; detections: { label: string }[]; inferences: number }[] = [];
    const got: Violation[] = [];
    const stage = new DetectorStage({ cameras, config: Value.Default(Detectors, { workers: 1, gate_threshold: 0, region_model: { type: 'yolov5' } }) as DetectorsT, ctx: { log: silentLogger(), metrics: createMetricsRegistry({ defaults: false }), health: new HealthRegistry(), dataDir }, onViolation: (v) => { got.push(v); }, onDetections: (r) => { results.push(r); } });
    await stage.start();
    expect(stage.status().pool).toMatchObject({ model: { name: 'nanodet-g-416' }, regionModel: { name: 'yolov5s' } });
    for (let i = 0; i < frames.length; i++) {
      for (const c of cameras) stage.submit({ cameraId: c.id, captureTimeMs: 1_700_000_000_000 + i * 6000, width: frames[i]!.width, height: frames[i]!.height, rgb: frames[i]!.rgb.slice() });
      await until(`sample ${i}`, () => results.length === 2 * (i + 1), 30_000);
    }
    await stage.stop();
    const of = (id: string) => results.filter((r) => r.cameraId === id);
    expect(of('cam-whole').every((r) => r.inferences === 1)).toBe(true);
    expect(of('cam-auto').every((r) => r.inferences > 1)).toBe(true);
    // The plaza's walkers.
    expect(of('cam-auto').every((r) => r.detections.filter((d) => d.label === 'person').length >= 3)).toBe(true);
    // The van parked at the top, once per camera, each stamped with the model that saw it.
    const raised = got.filter((v) => v.state === 'new');
    expect(raised.map((v) => [v.cameraId, v.model.name]).sort()).toEqual([['cam-auto', 'yolov5s'], ['cam-whole', 'nanodet-g-416']]);
  }, 120_000);
});

