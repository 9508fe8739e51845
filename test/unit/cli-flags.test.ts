import { describe, expect, it } from 'vitest';
import { ROUTE_FLAGS, routerOptionsFromFlags } from '../../cli/commands/route.js';
import { parseFlags } from '../../cli/flags.js';
import { ROUTER_DEFAULTS } from '../../runtime/router/options.js';

const parse = (argv: string[]) => parseFlags(argv, 'tinysaver route [flags]', 'summary', ROUTE_FLAGS);

describe('route flags', () => {
  it('defaults equal the contract (port 8000, model cascade) and the shared defaults', () => {
    const p = parse([]);
    expect(p.kind).toBe('ok');
    if (p.kind !== 'ok') return;
    const o = routerOptionsFromFlags(p.values);
    expect(o.port).toBe(8000);
    expect(o.name).toBe('cascade');
    expect(o).toMatchObject({ ...ROUTER_DEFAULTS });
    expect(o.thresholdFile).toBeUndefined();
  });

  it('--help lists every flag with its default', () => {
    const p = parse(['--help']);
    expect(p.kind).toBe('help');
    if (p.kind !== 'help') return;
    for (const name of Object.keys(ROUTE_FLAGS)) expect(p.text).toContain(`--${name}`);
    expect(p.text).toMatch(/--port PORT\s+port to listen on \(default: 8000\)/);
    expect(p.text).toMatch(/--audit-rate FRACTION .*\(default: 0.02\)/);
  });

  it.each([
    [['--threshold', '1.2'], /--threshold: 1.2 is outside \[0, 1\]/],
    [['--port', 'http'], /--port: "http" is not a number/],
    [['--port', '70000'], /--port: 70000 is not a port/],
    [['--failure-policy', 'retry'], /--failure-policy: "retry" is not one of fallback, error/],
    [['--saver-url', 'localhost:8001'], /--saver-url: only http:\/\/ URLs/],
    [['--breaker-failures', '0'], /--breaker-failures: 0 is below the minimum 1/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j is a clear error', (argv, msg) => {
    const p = parse(argv);
    expect(p.kind).toBe('error');
    if (p.kind === 'error') expect(p.message).toMatch(msg);
  });
});
