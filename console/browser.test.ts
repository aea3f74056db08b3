/**
 * The console in real Chromium (Debian's `chromium`, driven by playwright-core) on the real
 * engine: the real router makes and routes the cases, the terminal simulator's beacons come in
 * over MQTT, the cameras' states are the pipeline's own (nothing answers at their URLs here; the
 * wall with real frames is in engine-browser.test.ts). Log in, see an alert arrive, confirm it,
 * follow the case's light on the map as the department signs and resolves it (its acks go to the
 * router), check a clerk's view, and see a dismissal on the tuning page. Screenshots of each view
 * go to test-output/screenshots/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { cameraAlert, demoSimulators, sceneJpeg } from '../sim/index.ts';
import { writeTestCity } from '../test/harness.ts';
import { ensureWebBuilt, launchChromium } from '../test/console.ts';
import type { Actor } from './index.ts';

const SHOTS = join(import.meta.dirname, '..', 'test-output', 'screenshots');
const ADMIN_PASSWORD = 'browser-test-admin-pw';

describe('console in Chromium', () => {
  let engine: Engine;
  let browser: Browser;
  let caseId = '';
  // What the tests used from the stand-in console server, now the engine's parts.
  const s = {
    get url() { return engine.httpUrl; },
    get city() { return engine.city; },
    get svc() { return engine.console; },
    addUser: (actor: Actor, password: string) => engine.console.users.put(actor, password),
  };

  async function open(username: string, password: string): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // A CSP violation is only a console message; count it as an error too.
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) errors.push(m.text()); });
    (page as Page & { errors: string[] }).errors = errors;
    await page.goto(s.url);
    await page.fill('#login-user', username);
    await page.fill('#login-pass', password);
    await page.click('#login-submit');
    // A log-in is one scrypt hash at N=2^17: well under a second alone, far more on a busy machine.
    await page.waitForSelector('#link-status.link-live', { timeout: 60_000 });
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`) });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureWebBuilt();
    // Twelve cameras that nothing serves (down, with the pipeline's reason), twelve simulated terminals over MQTT.
    const t = await writeTestCity({ routeAllDay: true, cameras: 12, terminals: 12, cameraFarmPort: await freePort(), simulators: { terminals: true } });
    t.raw.detectors = { workers: 1, warmup_runs: 1 };
    writeFileSync(t.file, stringify(t.raw));
    engine = new Engine({ addOns: [demoSimulators], city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    await engine.start();
    await s.addUser({ username: 'op', role: 'operator' }, 'operator-pass');
    await s.addUser({ username: 'sup', role: 'supervisor' }, 'supervisor-pass');
    await s.addUser({ username: 'tp', role: 'clerk', department: 'traffic_police' }, 'clerk-pass-1');
    await s.addUser({ username: 'mk', role: 'clerk', department: 'market_reg' }, 'clerk-pass-2');
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await engine?.stop();
  });

  /** The department's dispatch system acks through the router, as on gw.dispatch.ack.<department>. */
  const ack = (id: string, action: 'sign' | 'resolve', result?: string) => {
    const c = engine.router.get(id)!;
    return engine.router.act(id, { action, actor: `dept:${c.department}`, department: c.department, ...(result ? { result } : {}) });
  };

  it('an operator sees an alert arrive, confirms it, and follows the case blue → yellow → green on the map', async () => {
    const page = await open('op', 'operator-pass');
    const alert = cameraAlert(s.city, 'cam-0002', 'kerb', 1);
    s.svc.feed.alert(alert, await sceneJpeg({ variant: 3, kind: 'car', label: alert.id }));
    const card = page.locator(`.alert-card[data-alert-id="${alert.id}"]`);
    await card.waitFor();
    await expect.poll(() => card.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(640);
    await shot(page, 'alerts');
    await card.locator('button.confirm').click();
    await expect.poll(() => s.svc.hub.alerts.get(alert.id)?.caseId ?? '').not.toBe('');
    caseId = s.svc.hub.alerts.get(alert.id)!.caseId!;

    await page.goto(`${s.url}/#/map`);
    const light = page.locator(`circle.case-light[data-case-id="${caseId}"]`);
    await expect.poll(() => light.getAttribute('data-light')).toBe('blue');
    expect(await page.locator('polygon.cell').count()).toBe(120);
    expect(await page.locator('rect.camera').count()).toBe(12);
    await expect.poll(() => page.locator('circle.terminal').count(), { timeout: 20_000 }).toBe(12);
    await shot(page, 'map-blue');

    // The router dispatched it by the city's rules; the department signs and resolves.
    expect(engine.router.get(caseId)!.state).toBe('dispatched');
    await ack(caseId, 'sign');
    await expect.poll(() => light.getAttribute('data-light')).toBe('yellow');
    await shot(page, 'map-yellow');
    await ack(caseId, 'resolve', 'car towed');
    await expect.poll(() => light.getAttribute('data-light')).toBe('green');
    await light.click({ force: true });
    await expect.poll(() => page.locator('#map-detail').getAttribute('data-id')).toBe(caseId);
    await shot(page, 'map-green');

    await page.goto(`${s.url}/#/cases/${caseId}`);
    await page.locator(`#case-board .case-card[data-case-id="${caseId}"]`).waitFor();
    await expect.poll(() => page.locator('#case-state').textContent()).toBe('已处置');
    // An operator may not verify and close; the button is not offered.
    expect(await page.locator('button[data-action="close"]').count()).toBe(0);
    await shot(page, 'cases');
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await page.context().close();
  });

  it('a supervisor verifies and closes from the case view; statistics show it', async () => {
    const page = await open('sup', 'supervisor-pass');
    await page.goto(`${s.url}/#/cases/${caseId}`);
    await page.locator('button[data-action="close"]').click();
    await expect.poll(() => page.locator('#case-state').textContent()).toBe('已结案');
    await page.goto(`${s.url}/#/stats`);
    await page.locator('#chart-per-day rect').first().waitFor({ state: 'attached' });
    expect(await page.locator('#dept-table tbody tr').count()).toBeGreaterThan(0);
    await shot(page, 'stats');
    await page.context().close();
  });

  it('a department clerk cannot see another department\'s case', async () => {
    const other = await s.svc.actions.confirmAlert(cameraAlert(s.city, 'cam-0006', 'kerb', 7), { username: 'op', role: 'operator' });
    expect(other.departments).toEqual(['traffic_police']);
    const mk = await open('mk', 'clerk-pass-2');
    await mk.goto(`${s.url}/#/cases`);
    await mk.locator('#case-board').waitFor();
    expect(await mk.locator(`.case-card[data-case-id="${other.id}"]`).count()).toBe(0);
    const status = await mk.evaluate(async (id) => (await fetch(`/api/cases/${id}`)).status, other.id);
    expect(status).toBe(404);
    expect(await mk.locator('nav.tabs a[data-route="alerts"]').count()).toBe(0);
    await mk.goto(`${s.url}/#/map`);
    await mk.locator('polygon.cell').first().waitFor();
    expect(await mk.locator(`circle[data-case-id="${other.id}"]`).count()).toBe(0);
    await shot(mk, 'clerk-other-department');
    await mk.context().close();

    const tp = await open('tp', 'clerk-pass-1');
    await tp.goto(`${s.url}/#/cases`);
    await tp.locator(`.case-card[data-case-id="${other.id}"]`).waitFor();
    await shot(tp, 'clerk-own-department');
    await tp.context().close();
  });

  it('dismissing an alert shows on the tuning page; markup in data stays text; a dropped socket resumes', async () => {
    const page = await open('sup', 'supervisor-pass');
    const evil = { ...cameraAlert(s.city, 'cam-0005', 'walk', 3), className: '<img src=x onerror="window.__xss=1">' };
    s.svc.feed.alert(evil, await sceneJpeg({ variant: 5, kind: 'stall', label: evil.id }));
    const card = page.locator(`.alert-card[data-alert-id="${evil.id}"]`);
    await card.waitFor();
    expect(await card.textContent()).toContain('<img src=x');
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await card.locator('select.dismiss-reason').selectOption('shadow');
    await card.locator('button.dismiss').click();
    await expect.poll(() => s.svc.hub.alerts.get(evil.id)?.status).toBe('dismissed');

    // Drop the socket, raise an alert while it is down: it arrives after the resume.
    await page.evaluate(() => (window as unknown as { gridwatch: { link: { drop(): void } } }).gridwatch.link.drop());
    const missed = cameraAlert(s.city, 'cam-0007', 'kerb', 4);
    s.svc.feed.alert(missed, await sceneJpeg({ variant: 6, label: missed.id }));
    await page.locator(`.alert-card[data-alert-id="${missed.id}"]`).waitFor();

    await page.goto(`${s.url}/#/tuning`);
    const row = page.locator('#tuning-table tr[data-camera-id="cam-0005"][data-zone-id="walk"]');
    await expect.poll(() => row.locator('td.dismissed').textContent()).toBe('1');
    await shot(page, 'tuning');
    await page.context().close();
  });

  it('admin: the camera wall, the zone editor and the English switch', async () => {
    const page = await open('admin', ADMIN_PASSWORD);
    await page.goto(`${s.url}/#/cameras`);
    // Nothing answers at the cameras' URLs: the pipeline reports them down, with its reason.
    await page.locator('.tile[data-camera-id="cam-0004"].cam-down').waitFor({ timeout: 30_000 });
    expect(await page.locator('.tile[data-camera-id="cam-0004"] .reason').textContent()).not.toBe('');
    await shot(page, 'cameras');
    await page.goto(`${s.url}/#/cameras/cam-0001`);
    const canvas = page.locator('#zone-canvas');
    await canvas.waitFor();
    const box = (await canvas.boundingBox())!;
    for (const [fx, fy] of [[0.1, 0.6], [0.5, 0.6], [0.5, 0.9], [0.1, 0.9]] as const) await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
    await page.click('#zone-finish');
    await page.fill('#zone-dwell', '90');
    await page.locator('#zone-dwell').dispatchEvent('change');
    await page.click('#zone-save');
    await expect.poll(() => page.locator('#zone-msg').textContent()).toContain('无需重启');
    expect(s.svc.city.cameras.get('cam-0001')!.zones.map((z) => z.dwell_s)).toEqual([60, 120, 60, 90]);
    await shot(page, 'zone-editor');
    await page.goto(`${s.url}/#/users`);
    await page.fill('#user-name', 'clerk2');
    await page.selectOption('#user-role', 'clerk');
    await page.selectOption('#user-dept', 'sanitation');
    await page.fill('#user-pass', 'clerk2-password');
    await page.click('#user-form button[type="submit"]');
    await page.locator('tr[data-user="clerk2"]').waitFor();
    expect(s.svc.users.list().find((u) => u.username === 'clerk2')).toEqual({ username: 'clerk2', role: 'clerk', department: 'sanitation' });
    await shot(page, 'users');
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await page.click('#lang-switch');
    await expect.poll(() => page.locator('nav.tabs').textContent()).toContain('One map');
    await page.goto(`${s.url}/#/map`);
    await page.locator('polygon.cell').first().waitFor();
    await shot(page, 'map-english');
    await page.context().close();
  });
});
