#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript (npm install / npm run build produce dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('tinysaver: dist/ is missing; run `npm install` (or `npm run build`) first.');
  process.exit(2);
}
const { main } = await import(entry.href);
try {
  // Servers resolve only once they have shut down; one-shot commands resolve with their exit code.
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(`tinysaver: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
