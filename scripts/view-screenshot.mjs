#!/usr/bin/env node
/* global setTimeout */
// Regenerates the README's picture of the live view (docs/live-view.png) from a real run: the README's
// walkthrough, `tinysaver up --control adaptive` plus `tinysaver replay --drift blur --loop`, for a few
// minutes on this machine, then a headless Chromium screenshot (scripts/chromium.mjs).
//
//   npm run build && node scripts/view-screenshot.mjs [--seconds 240] [--rate 200] [--batch-size 10] [--period 36000] [--out docs/live-view.png]
//
// Ports are picked free, so a running `npm start` is not disturbed.

import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchChromium } from './chromium.mjs';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '240' },
    rate: { type: 'string', default: '200' },
    'batch-size': { type: 'string', default: '10' },
    period: { type: 'string', default: '36000' },
    drift: { type: 'string', default: 'blur' },
    out: { type: 'string', default: 'docs/live-view.png' },
  },
});
const BIN = fileURLToPath(new URL('../bin/tinysaver.js', import.meta.url));
const say = (s) => console.log(`view-screenshot: ${s}`);

function start(args) {
  const proc = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', (c) => (out += c));
  const exit = new Promise((r) => proc.once('exit', r));
  return { proc, out: () => out, exit, stop: () => (proc.exitCode === null && proc.kill('SIGINT'), exit) };
}

const up = start(['up', '--control', 'adaptive', '--port', '0', '--saver-port', '0', '--base-port', '0', '--view-port', '0']);
let replay;
let browser;
try {
  const deadline = Date.now() + 60_000;
  while (!/Threshold decisions/.test(up.out())) {
    if (Date.now() > deadline || up.proc.exitCode !== null) throw new Error(`up did not start:\n${up.out()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const router = /cascade\s+(http:\/\/\S+)\/v2\/models\/cascade/.exec(up.out())[1];
  const base = /base\s+(http:\/\/\S+)\/v2\/models\//.exec(up.out())[1];
  const view = /view\s+(http:\/\/\S+?)\/\s/.exec(up.out())[1];
  const replayArgs = [
    'replay',
    '--url',
    router,
    '--base-url',
    base,
    '--drift',
    values.drift,
    '--loop',
    '--rate',
    values.rate,
    '--batch-size',
    values['batch-size'],
    '--period',
    values.period,
  ];
  say(`up at ${router}, view at ${view}; tinysaver ${replayArgs.join(' ')} for ${values.seconds} s`);
  replay = start(replayArgs);
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  browser = await launchChromium({ width: 1366, height: 860 });
  await browser.page.goto(`${view}/`);
  await browser.page.locator('#c-threshold path[data-series="threshold"]').waitFor({ timeout: 30_000 });
  await browser.page.locator('#decisions li.decision').first().waitFor({ timeout: 30_000 });
  await new Promise((r) => setTimeout(r, 1500)); // one more poll and layout
  const png = await browser.page.screenshot();
  await writeFile(values.out, png);
  const decisions = up
    .out()
    .split('\n')
    .filter((l) => /^\d\d:\d\d:\d\d {2}t [\d.]+ -> /.test(l));
  say(`wrote ${values.out} (${png.length} bytes); threshold changes during the run:`);
  for (const l of decisions) console.log(`  ${l}`);
  const running = replay
    .out()
    .split('\n')
    .filter((l) => l.startsWith('rows '));
  say(`replay's running line (last of ${running.length}): ${running[running.length - 1] ?? 'none'}`);
} finally {
  await browser?.close();
  await replay?.stop();
  await up.stop();
}
