// Types for scripts/chromium.mjs (imported by the TypeScript browser test; keep in step with the .mjs).
import type { BrowserContext, Page } from 'playwright-core';

/** The Chromium binary: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export const CHROMIUM: string;
export const CHROMIUM_FLAGS: string[];

/** A browser context on a fresh --user-data-dir; close() also removes the profile. */
export function launchChromium(viewport?: { width: number; height: number }): Promise<{
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}>;
