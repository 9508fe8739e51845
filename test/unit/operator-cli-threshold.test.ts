// `tinysaver operator` threshold-controller flags: documented in --help, bad values are flag errors (exit 2)
// named after the flag, reported before any kubeconfig is read.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../cli/commands/operator.js';

afterEach(() => vi.restoreAllMocks());

function capture(stream: 'log' | 'error') {
  const lines: string[] = [];
  vi.spyOn(console, stream).mockImplementation((...a: unknown[]) => {
    lines.push(a.join(' '));
  });
  return lines;
}

describe('tinysaver operator threshold flags', () => {
  it('--help lists them with their defaults', async () => {
    const out = capture('log');
    expect(await run(['--help'])).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/--prometheus-url URL[\s\S]*\(default: scrape\)/);
    expect(text).toMatch(/--max-audit-rate F[\s\S]*\(default: 1, no cap\)/);
    expect(text).toMatch(/--strata N[\s\S]*\(default: 1\)/);
  });

  it.each([
    [['--max-audit-rate', '1.5'], /--max-audit-rate: expected a number in \[0, 1\], got "1.5"/],
    [['--max-audit-rate', 'x'], /--max-audit-rate: expected a number/],
    [['--strata', '0'], /--strata: expected an integer in \[1, 64\], got "0"/],
    [['--prometheus-url', 'prom:9090'], /--prometheus-url: expected an http\(s\) URL, got "prom:9090"/],
    [['--prometheus-url', 'not a url'], /--prometheus-url: expected an http\(s\) URL/],
  ])('%j is a flag error (exit 2)', async (argv, message) => {
    const err = capture('error');
    expect(await run(argv as string[])).toBe(2);
    expect(err.join('\n')).toMatch(message);
  });
});
