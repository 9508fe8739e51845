// Headless Chromium for the live view's browser test and scripts/view-screenshot.mjs: Debian's
// `chromium` (scripts/install-test-deps.sh installs it) driven by playwright-core, with a fresh profile
// and the flags of a quiet, offline, sandbox-less headless browser.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A browser context on a fresh --user-data-dir; close() also removes the profile. */
export async function launchChromium(viewport = { width: 1366, height: 860 }) {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/install-test-deps.sh does it for npm test)`);
  const profile = await mkdtemp(path.join(os.tmpdir(), 'tinysaver-chromium-'));
  // launchPersistentContext is playwright's way to pass --user-data-dir (a fresh directory here)
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
