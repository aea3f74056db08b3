/**
 * The first log-in on a fresh engine, in real Chromium: started with no GRIDWATCH_ADMIN_PASSWORD,
 * the engine logs a one-time password, and the console opens only once the admin has replaced it.
 * Its own file: chdb allows one data folder per process, and browser.test.ts runs an engine too.
 */
import { writeFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../core/index.ts';
import { loadCity } from '../config/index.ts';
import { Engine } from '../engine/index.ts';
import { writeTestCity } from '../test/harness.ts';
import { ensureWebBuilt, launchChromium } from '../test/console.ts';

describe('first log-in on a fresh engine', () => {
  let browser: Browser;
  beforeAll(async () => {
    await ensureWebBuilt();
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('the first admin must replace the one-time password before the console opens', async () => {
    // A second engine, started with no GRIDWATCH_ADMIN_PASSWORD: it logs a one-time password.
    const t = await writeTestCity({ cameras: 2, terminals: 0, cameraFarmPort: await freePort() });
    t.raw.detectors = { workers: 1, warmup_runs: 1 };
    writeFileSync(t.file, stringify(t.raw));
    const logLines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
    const engine2 = new Engine({ city: loadCity(t.file), log, env: {} });
    await engine2.start();
    const fresh = { url: engine2.httpUrl, svc: engine2.console, stop: () => engine2.stop() };
    try {
      const oneTime = logLines.find((l) => l.level === 40 && typeof l.password === 'string')!.password as string;
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'en-GB' });
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(fresh.url);
      await page.fill('#login-user', 'admin');
      await page.fill('#login-pass', oneTime);
      await page.click('#login-submit');
      await page.locator('#pw-form').waitFor();
      expect(await page.locator('nav.tabs').count()).toBe(0);
            await page.fill('#pw-current', oneTime);
      await page.fill('#pw-new', 'new-admin-password');
      await page.fill('#pw-again', 'other-admin-password');
      await page.click('#pw-submit');
      await expect.poll(() => page.locator('#pw-error').textContent()).not.toBe('');
      await page.fill('#pw-again', 'new-admin-password');
      await page.click('#pw-submit');
      // Checking the old password and hashing the new one are two scrypt hashes (N=2^17).
      await page.waitForSelector('#link-status.link-live', { timeout: 60_000 });
      await page.locator('nav.tabs a[data-route="users"]').waitFor();
      expect(await fresh.svc.users.authenticate('admin', 'new-admin-password')).toEqual({ username: 'admin', role: 'admin' });
      expect(fresh.svc.users.mustChangePassword('admin')).toBe(false);
      expect(errors).toEqual([]);
      await ctx.close();
    } finally {
      await fresh.stop();
    }
  }, 180_000);
});
