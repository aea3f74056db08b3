/**
 * The supervision centre's verification (核查) in real Chromium on the real engine: a supervisor
 * sends a resolved case back (返工) with a reason, the department resolves it again, the
 * supervisor verifies and closes it (核查结案); the statistics view then shows the assessment
 * indicators read from ClickHouse (`GET /api/stats/indicators`) as docs/telemetry.md defines
 * them. Its own engine, so its own file: chdb allows one data folder per process.
 * Screenshots go to test-output/screenshots/ (`rework-*.png`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, silentLogger } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { cameraAlert } from '../sim/index.ts';
import { writeTestCity } from '../test/harness.ts';
import { ensureWebBuilt, launchChromium } from '../test/console.ts';

const SHOTS = join(import.meta.dirname, '..', 'test-output', 'screenshots');
const ADMIN_PASSWORD = 'rework-browser-admin-pw';

describe('a supervisor verifies in Chromium, and the indicators follow', () => {
  let engine: Engine;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    await ensureWebBuilt();
    // Cameras that nothing serves: the case comes from an operator's confirmed alert.
    const t = await writeTestCity({ routeAllDay: true, cameras: 2, terminals: 1, cameraFarmPort: await freePort() });
    t.raw.detectors = { workers: 1, warmup_runs: 1 };
    writeFileSync(t.file, stringify(t.raw));
    engine = new Engine({ city: loadCity(t.file), log: silentLogger(), env: { GRIDWATCH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    await engine.start();
    await engine.console.users.put({ username: 'sup', role: 'supervisor' }, 'supervisor-pass');
    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    page = await ctx.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) errors.push(m.text()); });
    await page.goto(engine.httpUrl);
    await page.fill('#login-user', 'sup');
    await page.fill('#login-pass', 'supervisor-pass');
    await page.click('#login-submit');
    await page.waitForSelector('#link-status.link-live', { timeout: 60_000 });
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

  /** Opens the statistics view once the engine's case-step rows are in ClickHouse; answers the indicator row's cells. */
  async function indicatorsShown(by: '' | 'department', key: string): Promise<Record<string, string>> {
    await engine.telemetryWriter.flush();
    await page.goto(`${engine.httpUrl}/#/stats`);
    if (by) {
      // The table of the whole city first, then the breakdown the selector asks for.
      await page.locator('#indicator-table tbody tr[data-key="all"]').waitFor();
      await page.selectOption('#indicators-by', by);
    }
    const row = page.locator(`#indicator-table[data-by="${by}"] tbody tr[data-key="${key}"]`);
    await row.waitFor();
    const cells: Record<string, string> = {};
    for (const k of ['key', 'reported', 'closed', 'reworked', 'on_time_filing_rate', 'accurate_dispatch_rate', 'on_time_handling_rate', 'closure_rate', 'on_time_closure_rate', 'rework_rate', 'repeat_rate']) {
      cells[k] = (await row.locator(`td.${k}`).textContent()) ?? '';
    }
    return cells;
  }

  it('sends a resolved case back with a reason, then verifies and closes it; rework and closure rates show as defined', async () => {
    const c = await engine.console.actions.confirmAlert(cameraAlert(engine.city, 'cam-0001', 'kerb', 1), { username: 'op', role: 'operator' });
    const id = c.id;
    await expect.poll(() => engine.router.get(id)?.state).toBe('dispatched');
    const dept = engine.router.get(id)!.department;
    await ack(id, 'sign');
    await ack(id, 'resolve', 'car moved');

    // 返工: the supervisor sends it back, with a reason; the case goes back to the department, counted.
    await page.goto(`${engine.httpUrl}/#/cases/${id}`);
    await expect.poll(() => page.locator('#case-state').textContent()).toBe('已处置');
    await page.fill('#action-reason', 'the car is still there on camera');
    await page.locator('button[data-action="rework"]').click();
    await expect.poll(() => page.locator('#case-state').textContent()).toBe('已签收');
    await expect.poll(() => page.locator('#case-reworks').textContent()).toBe('1');
    expect(engine.router.get(id)).toMatchObject({ state: 'signed', reworks: 1 });
    expect(await page.locator('.timeline').textContent()).toContain('the car is still there on camera');
    await page.screenshot({ path: join(SHOTS, 'rework-sent-back.png') });

    // Before the close: one verification, and it failed. 返工率 = 返工 / (结案 + 返工) = 1/1; 结案率 = 结案 / 立案 = 0/1.
    let shown = await indicatorsShown('', 'all');
    expect(shown).toMatchObject({ key: '全部', reported: '1', closed: '0', reworked: '1', rework_rate: '100.0%', closure_rate: '0.0%' });

    // The department resolves again; the supervisor verifies and closes (核查结案).
    await ack(id, 'resolve', 'car towed');
    await page.goto(`${engine.httpUrl}/#/cases/${id}`);
    await expect.poll(() => page.locator('#case-state').textContent()).toBe('已处置');
    await page.locator('button[data-action="close"]').click();
    await expect.poll(() => page.locator('#case-state').textContent()).toBe('已结案');
    expect(await page.locator('#case-reworks').textContent()).toBe('1');
    expect(engine.router.get(id)).toMatchObject({ state: 'closed', reworks: 1 });

    // After: two verifications, one sent back (50%); the one filed case closed (100%), within its limits.
    shown = await indicatorsShown('', 'all');
    expect(shown).toMatchObject({
      reported: '1', closed: '1', reworked: '1', rework_rate: '50.0%', closure_rate: '100.0%',
      on_time_filing_rate: '100.0%', accurate_dispatch_rate: '100.0%', on_time_handling_rate: '100.0%', on_time_closure_rate: '100.0%', repeat_rate: '0.0%',
    });
    // By department: the same figures under the department that handled it, named as the city names it.
    shown = await indicatorsShown('department', dept);
    const deptName = engine.city.config.departments.find((d) => d.id === dept)!.name_zh;
    expect(shown).toMatchObject({ key: deptName, closed: '1', reworked: '1', rework_rate: '50.0%', closure_rate: '100.0%' });
    expect(await page.locator('#indicators thead').textContent()).toContain('返工率');
    await page.screenshot({ path: join(SHOTS, 'rework-indicators.png') });
    expect(errors).toEqual([]);
  }, 120_000);
});
