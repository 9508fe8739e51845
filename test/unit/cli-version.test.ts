import { readFileSync } from 'node:fs';
import { expect, test, vi } from 'vitest';
import { main, version } from '../../cli/main.js';

test('tinysaver --version prints the package.json version and exits 0', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(version()).toBe(pkg.version);
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    expect(await main(['--version'])).toBe(0);
    expect(log).toHaveBeenCalledWith(`tinysaver ${pkg.version}`);
  } finally {
    log.mockRestore();
  }
});
