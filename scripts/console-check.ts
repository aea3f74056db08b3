/**
 * Looks at a running engine's console as a user does, in Chromium (Debian's `chromium` through
 * playwright-core): logs in, waits until every camera on the wall shows a picture (and says how
 * long that took), opens a zone editor, reads the tuning view and the alerts, and saves
 * screenshots. Prints one JSON object.
 *
 *   npx tsx scripts/console-check.ts --url http://127.0.0.1:8080 --user admin --password … \
 *     [--out docs/img] [--camera cam-0001] [--wait-s 60] [--started-ms <when the engine started>]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: a } = parseArgs({ options: {
  url: { type: 'string' }, user: { type: 'string', default: 'admin' }, password: { type: 'string' }, out: { type: 'string', default: 'test-output/console-check' },
  camera: { type: 'string', default: 'cam-0001' }, 'wait-s': { type: 'string', default: '60' }, 'started-ms': { type: 'string' }, lang: { type: 'string', default: 'zh-CN' },
} });
if (!a.url || !a.password) throw new Error('--url and --password are needed');
mkdirSync(a.out!, { recursive: true });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: a.lang })).newPage();
const out: Record<string, unknown> = {};
try {
  await page.goto(a.url);
  await page.fill('#login-user', a.user!);
  await page.fill('#login-pass', a.password);
  await page.click('#login-submit');
  await page.waitForSelector('#link-status.link-live', { timeout: 15_000 });
  await page.goto(`${a.url}/#/cameras`);
  const until = Date.now() + Number(a['wait-s']) * 1000;
  let shown = { tiles: 0, withPicture: 0 };
  for (;;) {
    shown = await page.evaluate(() => {
      const tiles = [...document.querySelectorAll('#camera-wall .tile')];
      return { tiles: tiles.length, withPicture: tiles.filter((t) => { const img = t.querySelector('img'); return !!img && img.complete && img.naturalWidth > 0; }).length };
    });
    if ((shown.tiles > 0 && shown.withPicture === shown.tiles) || Date.now() > until) break;
    await page.waitForTimeout(500);
  }
  out.wall = { ...shown, allShownAtS: a['started-ms'] ? Math.round((Date.now() - Number(a['started-ms'])) / 100) / 10 : undefined };
  await page.screenshot({ path: join(a.out!, 'console-camera-wall.png') });
  await page.goto(`${a.url}/#/cameras/${a.camera}`);
  await page.waitForFunction(() => (document.querySelector('#zone-frame-ts')?.textContent ?? '') !== '', undefined, { timeout: 15_000 });
  out.zoneEditor = { frame: await page.locator('#zone-frame-ts').textContent(), href: (await page.locator('#zone-frame').getAttribute('href'))?.slice(0, 5) };
  await page.screenshot({ path: join(a.out!, 'console-zone-editor.png') });
  await page.goto(`${a.url}/#/tuning`);
  await page.locator('#tuning-table').waitFor({ timeout: 15_000 });
  out.tuning = await page.evaluate(() => [...document.querySelectorAll('#tuning-table tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())));
  await page.screenshot({ path: join(a.out!, 'console-tuning.png') });
  const alerts = await page.evaluate(async () => (await (await fetch('/api/cases')).json()) as unknown);
  out.cases = (alerts as { cases: { id: string; state: string; alerts: string[] }[] }).cases.map((c) => ({ id: c.id, state: c.state, alerts: c.alerts.length }));
  await page.goto(`${a.url}/#/alerts`);
  await page.waitForTimeout(1000);
  out.alerts = await page.evaluate(() => [...document.querySelectorAll('.alert-card')].map((c) => c.querySelector('.meta')?.textContent?.trim()));
  await page.screenshot({ path: join(a.out!, 'console-alerts.png') });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out, null, 1));
