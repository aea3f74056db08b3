import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { applyZoneTypeDefaults, Zone, type ZoneT } from '../config/index.ts';
import { COCO_CLASSES, Detector, detectorOptions, DwellRules, compileZones, ensureDefaultModel, readImage, readVideo, type RgbFrame, type Violation } from './index.ts';

const DATA = process.env['GRIDWATCH_DATA_DIR'] ?? './data';
const DOG = '/usr/share/darknet/data/dog.jpg';
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

function zone(over: Record<string, unknown>, w: number, h: number): ZoneT {
  const raw = [{ id: 'all', polygon: [[0, 0], [w, 0], [w, h], [0, h], [0, 0]], ...over }];
  applyZoneTypeDefaults(raw);
  return Value.Default(Zone, raw[0]) as ZoneT;
}

/** The rules over what the real model finds in each frame, one sample every `stepS` seconds of capture time. */
async function replayFrames(detector: Detector, frames: readonly RgbFrame[], z: ZoneT, stepS: number): Promise<Violation[]> {
  const { width, height } = frames[0]!;
  const rules = new DwellRules({ model: { name: 'nanodet-g-416', version: '1' } });
  rules.setZones('cam', compileZones('cam', [z], COCO_CLASSES, [width, height]));
  const out: Violation[] = [];
  for (let i = 0; i < frames.length; i++) out.push(...rules.observe('cam', i * stepS * 1000, (await detector.detect(frames[i]!)).detections));
  return [...out, ...rules.flush()];
}

describe('street-order rules on real frames through the real model', () => {
  let detector: Detector;
  beforeAll(async () => {
    ensureDefaultModel(DATA);
    detector = await Detector.load(detectorOptions({ type: 'nanodet', score_threshold: 0.3, iou_threshold: 0.5 }, DATA));
  }, 60_000);
  afterAll(async () => { await detector?.release(); });

  it('raises non_motor_parking for the bicycle left in darknet dog.jpg, once it has stood dwell_s', async () => {
    const img = await readImage(DOG);
    // A still camera: the same scene at every sample, 10 s apart, for 6 minutes.
    const frames = Array.from({ length: 37 }, () => img);
    const got = await replayFrames(detector, frames, zone({ type: 'non_motor_parking', dwell_s: 300 }, img.width, img.height), 10);
    const news = got.filter((v) => v.state === 'new');
    expect(news).toHaveLength(1);
    expect(news[0]).toMatchObject({ rule: 'non_motor_parking', class: 'bicycle', count: 1, confirmedMs: 300_000 });
    // Not before: five minutes less one sample raise nothing.
    expect((await replayFrames(detector, frames.slice(0, 30), zone({ type: 'non_motor_parking', dwell_s: 300 }, img.width, img.height), 10)).filter((v) => v.state === 'new')).toEqual([]);
  }, 120_000);

  it('raises crowd_gathering on vtest.avi\'s plaza for five people held 15 s, and not for more than it ever holds', async () => {
    const frames: RgbFrame[] = [];
    for await (const f of readVideo(VTEST, 1, 24)) frames.push(f);
    // People the model finds in each frame (all of them, whatever the zone's score and size floors).
    const counts: number[] = [];
    for (const f of frames) counts.push((await detector.detect(f)).detections.filter((d) => d.label === 'person').length);
    expect(Math.min(...counts.slice(4))).toBeGreaterThanOrEqual(5); // after the first seconds, five or more cross the plaza
    const { width, height } = frames[0]!;
    const crowd = await replayFrames(detector, frames, zone({ type: 'crowd_gathering', min_people: 5, dwell_s: 15 }, width, height), 1);
    const raised = crowd.filter((v) => v.state === 'new');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ rule: 'crowd_gathering', class: 'person' });
    expect(raised[0]!.count).toBeGreaterThanOrEqual(5);
    expect(raised[0]!.confirmedMs - raised[0]!.firstSeenMs).toBeGreaterThanOrEqual(15_000);
    const more = await replayFrames(detector, frames, zone({ type: 'crowd_gathering', min_people: Math.max(...counts) + 1, dwell_s: 15 }, width, height), 1);
    expect(more).toEqual([]);
  }, 180_000);
});
