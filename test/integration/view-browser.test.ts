// The live view in a real browser: headless Chromium (Debian's `chromium`, installed by npm test's
// pretest hook) driven by playwright-core loads the page from a live `tinysaver up --control adaptive`
// fed by `replay --drift`, waits for data, and finds the threshold series and decisions; a screenshot
// is taken and checked to be non-blank (decoded by the browser itself). Then the telemetry stops
// (numbers turn into "no data"), `up` goes away (the page says so and keeps polling) and a new `up`
// on the same view port comes back (the page reconnects and shows the new run).
//
// The callbacks given to page.evaluate / page.waitForFunction run in the page, hence the DOM types.
/// <reference lib="dom" />

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Child, requireDist, spawnCli, startUp } from './up-helpers.js';
import { CHROMIUM, launchChromium } from '../../scripts/chromium.mjs';

const children: Child[] = [];
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

beforeAll(() => {
  requireDist();
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: npm test's pretest hook installs Debian's chromium (scripts/install-test-deps.sh)`);
});
afterAll(async () => {
  await browser?.close();
  for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
});

/** Share of pixels that differ from the most common colour, and the number of distinct colours, of a PNG (decoded in the browser). */
async function pngStats(page: Page, png: Buffer): Promise<{ width: number; height: number; nonBackground: number; colours: number }> {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth;
    c.height = img.naturalHeight;
    const g = c.getContext('2d')!;
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const counts = new Map<number, number>();
    for (let i = 0; i < px.length; i += 4) {
      const k = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const top = Math.max(...counts.values());
    const n = px.length / 4;
    return { width: c.width, height: c.height, nonBackground: (n - top) / n, colours: counts.size };
  }, png.toString('base64'));
}

test('the live view shows the threshold series and decisions, says "no data" when telemetry stops, and reconnects to a new up', async () => {
  const control = ['--control', 'adaptive', '--interval', '1s', '--window', '6s', '--min-audits', '50'];
  const up = await startUp(control);
  children.push(up);
  const replay = spawnCli([
    'replay',
    '--url',
    up.router,
    '--base-url',
    up.base,
    '--drift',
    'noise',
    '--severity',
    '0.5',
    '--schedule',
    'step',
    '--period',
    '4000',
    '--loop',
    '--rate',
    '400',
    '--batch-size',
    '20',
  ]);
  children.push(replay);

  browser = await launchChromium({ width: 1366, height: 860 });
  const { page, context } = browser;
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${up.view}/`);

  // data arrives: the threshold series is drawn, decisions are listed, the readouts hold numbers
  await page.locator('#c-threshold path[data-series="threshold"]').waitFor({ timeout: 60_000 });
  await page.locator('#decisions li.decision').first().waitFor({ timeout: 60_000 });
  await page.waitForFunction(
    () =>
      /live/.test(document.getElementById('conn')!.textContent ?? '') && /%/.test(document.getElementById('v-share')!.textContent ?? ''),
    undefined,
    { timeout: 60_000 },
  );
  expect(await page.locator('#v-threshold').textContent()).toMatch(/^0\.\d+$|^1$/);
  expect(await page.locator('#v-mode').textContent()).toBe('adaptive');
  const path0 = await page.locator('#c-threshold path[data-series="threshold"]').getAttribute('d');
  expect(path0).toMatch(/^M[\d.]+,[\d.]+/);
  // axis ticks are round values
  const ticks = await page.locator('#c-threshold svg text').allTextContents();
  for (const t of ticks.filter((x) => /^\d+\.\d+$/.test(x))) expect(Number(t) * 10 - Math.round(Number(t) * 10)).toBeCloseTo(0, 9);
  expect(await page.locator('#decisions li.decision .reason').first().textContent()).toMatch(/^[A-Z][A-Za-z]+$/);

  const shot = await page.screenshot({ fullPage: false });
  if (process.env.TINYSAVER_SCREENSHOT) await writeFile(process.env.TINYSAVER_SCREENSHOT, shot);
  const blank = await context.newPage();
  const stats = await pngStats(blank, shot);
  await blank.close();
  expect(stats.width).toBe(1366);
  expect(stats.nonBackground).toBeGreaterThan(0.05); // charts, text and panels, not an empty page
  expect(stats.colours).toBeGreaterThan(50);

  // telemetry stops: no new rows -> the readouts say "no data" instead of the last numbers
  expect(await replay.stop()).toBe(0);
  await page.waitForFunction(() => document.getElementById('v-share')!.textContent === 'no data', undefined, { timeout: 30_000 });
  expect(await page.locator('#c-share text.nodata').textContent()).toMatch(/no (traffic|data)/);

  // up goes away: the page says so, every number is "no data", and it keeps polling
  const viewPort = new URL(up.view!).port;
  const oldInstance = await page.evaluate(async () => (await (await fetch('api/live')).json()).instance as string);
  expect(await up.stop()).toBe(0);
  await page.waitForFunction(() => /disconnected/.test(document.getElementById('conn')!.textContent ?? ''), undefined, { timeout: 30_000 });
  for (const id of ['v-threshold', 'v-bound', 'v-share', 'v-audit']) expect(await page.locator(`#${id}`).textContent()).toBe('no data');

  // a new up on the same view port: the page reconnects and draws the new run
  const again = await startUp([...control, '--view-port', viewPort]);
  children.push(again);
  await page.waitForFunction(() => !/disconnected/.test(document.getElementById('conn')!.textContent ?? ''), undefined, {
    timeout: 60_000,
  });
  await page.locator('#decisions li.decision').first().waitFor({ timeout: 60_000 });
  const newInstance = await page.evaluate(async () => (await (await fetch('api/live')).json()).instance as string);
  expect(newInstance).not.toBe(oldInstance);
  expect(await again.stop()).toBe(0);
  expect(errors).toEqual([]);
}, 240_000);
