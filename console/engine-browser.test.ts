/**
 * The console in real Chromium on the real engine: the camera farm streams the street clip (a
 * plaza with a parked van) to two cameras, one through gridwatch's own RTSP client and one
 * through a per-camera ffmpeg; the real pipeline samples, decodes and detects; the real router
 * makes the cases. No DemoFeed: whatever the console shows came from the engine.
 * Screenshots go to test-output/screenshots/ (`real-*.png`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { stringify } from 'yaml';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { demoSimulators } from '../sim/index.ts';
import { until, writeTestCity } from '../test/harness.ts';
import { ensureWebBuilt, launchChromium } from '../test/console.ts';

const SHOTS = join(import.meta.dirname, '..', 'test-output', 'screenshots');
const PASSWORD = 'engine-browser-admin';

describe('the console on the real engine, in Chromium', () => {
  let engine: Engine;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureWebBuilt();
    const t = await writeTestCity({ cameras: 2, terminals: 1, simulators: { camera_farm: true }, cameraFarmPort: await freePort() });
    t.raw.ingest = { sample_period_s: 1 };
    t.raw.detectors = { workers: 1, warmup_runs: 1, snapshot_period_s: 60 };
    for (const cam of t.raw.cameras) cam.zones[0].dwell_s = 3;
    // The second camera through a per-camera ffmpeg: both ingest modes feed the console.
    t.raw.cameras[1].type = 'ffmpeg';
    writeFileSync(t.file, stringify(t.raw));
    cityFile = t.file;
    engine = new Engine({ addOns: [demoSimulators], city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: PASSWORD } });
    await engine.start();
    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) errors.push(m.text()); });
    await logIn();
  }, 180_000);

  let cityFile = '';

  afterAll(async () => {
    await browser?.close();
    await engine?.stop();
  });

  async function logIn(): Promise<void> {
    await page.goto(engine.httpUrl);
    await page.fill('#login-user', 'admin');
    await page.fill('#login-pass', PASSWORD);
    await page.click('#login-submit');
    await page.waitForSelector('#link-status.link-live', { timeout: 15_000 });
  }

  it('every camera\'s latest sample reaches the console as a small JPEG, in both ingest modes: once per snapshot_period_s, and from every sample while an operator watches the camera', async () => {
    const frames = engine.console.hub.frames;
    await until('a frame from both cameras', () => frames.has('cam-0001') && frames.has('cam-0002'), 60_000);
    for (const id of ['cam-0001', 'cam-0002']) {
      const meta = await sharp(frames.get(id)!.jpeg).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: 480, height: 270 });
    }
    // Nobody watches the ffmpeg camera yet: its samples (one a second) make no new JPEG within the period.
    const first = frames.get('cam-0002')!.ts;
    const rested = engine.cameras.detectors!.status().snapshots.rested;
    await until('three samples resting', () => engine.cameras.detectors!.status().snapshots.rested >= rested + 3, 15_000);
    expect(frames.get('cam-0002')!.ts).toBe(first);
    // An operator asks for its frame (as the wall and the zone editor do): the next samples make JPEGs.
    const status = await page.evaluate(async () => (await fetch('/api/cameras/cam-0002/frame.jpg')).status);
    expect(status).toBe(200);
    await until('a newer frame from the watched camera', () => frames.get('cam-0002')!.ts > first, 15_000);
    const { pool, snapshots } = engine.cameras.detectors!.status();
    const samples = Object.values(pool.cameras).reduce((n, c) => n + c.received, 0);
    expect(snapshots.made).toBeGreaterThan(2);
    expect(snapshots.made + snapshots.skipped + snapshots.rested).toBeLessThanOrEqual(samples);
  });

  it('the camera wall and the zone editor show the real pictures; "refresh frame" fetches a newer one', async () => {
    await page.goto(`${engine.httpUrl}/#/cameras`);
    for (const id of ['cam-0001', 'cam-0002']) {
      const img = page.locator(`.tile[data-camera-id="${id}"] img`);
      await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth).catch(() => 0), { timeout: 30_000 }).toBe(480);
    }
    await page.screenshot({ path: join(SHOTS, 'real-cameras.png') });
    await page.goto(`${engine.httpUrl}/#/cameras/cam-0001`);
    const stamp = page.locator('#zone-frame-ts');
    await expect.poll(() => stamp.textContent(), { timeout: 10_000 }).not.toBe('');
    expect(await page.locator('#zone-frame').getAttribute('href')).toMatch(/^blob:/);
    // The picture under the zones is the camera's frame, as decoded in the page.
    const size = await page.evaluate(async () => {
      const href = document.querySelector('#zone-frame')!.getAttribute('href')!;
      const img = new Image();
      img.src = href;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    });
    expect(size).toEqual([480, 270]);
    const before = await stamp.textContent();
    // A newer sample comes within a few seconds (one a second here); each click fetches the latest.
    await expect.poll(async () => (await page.click('#zone-refresh-frame'), await new Promise((r) => setTimeout(r, 500)), stamp.textContent()), { timeout: 20_000, interval: 1000 }).not.toBe(before);
    await page.screenshot({ path: join(SHOTS, 'real-zone-editor.png') });
    expect(errors).toEqual([]);
  });

  it('the tuning view shows the real detector figures per camera, and the false-positive share of the operators\' verdicts', async () => {
    // The van raises its alert (dwell 3 s); the operator dismisses it as a false positive.
    const alertId = await until('the van\'s alert on cam-0001', () => [...engine.console.hub.alerts.values()].find((a) => a.alert.cameraId === 'cam-0001')?.alert.id, 90_000);
    await page.goto(`${engine.httpUrl}/#/alerts`);
    const card = page.locator(`.alert-card[data-alert-id="${alertId}"]`);
    await card.locator('select.dismiss-reason').selectOption('shadow');
    await card.locator('button.dismiss').click();
    await expect.poll(() => engine.console.hub.alerts.get(alertId)?.status).toBe('dismissed');
    // The reason in the operator's language, not its code.
    await page.click('#alerts-decided');
    await expect.poll(() => page.locator(`.alert-card[data-alert-id="${alertId}"] .decision`).textContent()).toContain('已排除: 阴影');
    // The router made the van's case invalid; the event may still be on its way to the router on a
    // busy machine, and is made invalid when it comes.
    const vanCases = () => engine.router.casesOfEvent(alertId).map((id) => engine.router.get(id)?.state).join();
    await until(() => `the van's case invalid (cases: ${vanCases() || 'none'})`, () => vanCases() === 'invalid', 30_000);
    await page.goto(`${engine.httpUrl}/#/tuning`);
    const dismissedRow = page.locator('#tuning-table tr[data-camera-id="cam-0001"][data-zone-id="kerb"]');
    await expect.poll(() => dismissedRow.locator('td.dismissed').textContent()).toBe('1');
    expect(await dismissedRow.locator('td.false-rate').textContent()).toContain('100.0%');
    const row = page.locator('#tuning-table tr[data-camera-id="cam-0002"][data-zone-id="kerb"]');
    await expect.poll(() => row.locator('td.p50').textContent(), { timeout: 20_000 }).toMatch(/^\d+\.\d$/);
    expect(await row.locator('td.p99').textContent()).toMatch(/^\d+\.\d$/);
    expect(Number(await row.locator('td.samples').textContent())).toBeGreaterThan(0);
    expect(await row.locator('td.dropped').textContent()).toMatch(/^\d+$/);
    expect(await row.locator('td.gated').textContent()).toMatch(/%$/);
    const rows = engine.cameras.detectorStats();
    const p50 = rows.find((r) => r.cameraId === 'cam-0001')!.inferenceMsP50!;
    expect(p50).toBeGreaterThan(1);
    expect(p50).toBeLessThan(5000);
    await page.screenshot({ path: join(SHOTS, 'real-tuning.png') });
  });

  it('after a restart the alerts, their decisions and their evidence are still there', async () => {
    const before = [...engine.console.hub.alerts.values()].map((a) => ({ id: a.alert.id, camera: a.alert.cameraId, status: a.status, reason: a.reason ?? '' }));
    expect(before.length).toBeGreaterThan(0);
    const dismissed = before.find((a) => a.status === 'dismissed')!;
    expect(dismissed).toBeDefined();
    await engine.stop();
    // No camera this time: whatever the console shows of the alerts comes from what was stored.
    engine = new Engine({ city: loadCity(cityFile), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: PASSWORD } });
    await engine.start();
    const after = [...engine.console.hub.alerts.values()].map((a) => ({ id: a.alert.id, camera: a.alert.cameraId, status: a.status, reason: a.reason ?? '' }));
    expect(after).toEqual(expect.arrayContaining(before));
    await logIn();
    await page.goto(`${engine.httpUrl}/#/alerts`);
    await page.click('#alerts-decided');
    const card = page.locator(`.alert-card[data-alert-id="${dismissed.id}"]`);
    await expect.poll(() => card.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: 10_000 }).toBe(640);
    expect(await card.locator('.decision').textContent()).toContain('已排除: 阴影');
    await page.screenshot({ path: join(SHOTS, 'real-alerts-after-restart.png') });
  });
});
