// Declarative flags for the CLI commands: one table gives parseArgs its
// options, `--help` its text (every flag with its default) and the checks that turn a bad value into
// an error naming the flag. Kept tiny on purpose; node:util parseArgs does the tokenizing.

import { parseArgs } from 'node:util';

export type FlagKind = 'string' | 'number' | 'int' | 'port' | 'fraction' | 'boolean' | 'url';

export interface FlagDef {
  kind: FlagKind;
  help: string;
  default?: string | number | boolean;
  /** allowed values (string flags) */
  choices?: readonly string[];
  /** inclusive lower bound (number/int flags) */
  min?: number;
  /** placeholder in --help, e.g. PATH */
  meta?: string;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export type ParsedFlags = { kind: 'ok'; values: FlagValues } | { kind: 'help'; text: string } | { kind: 'error'; message: string };

export function helpText(usage: string, summary: string, defs: Record<string, FlagDef>): string {
  const rows = Object.entries(defs).map(([name, d]) => {
    const left = d.kind === 'boolean' ? `--${name}` : `--${name} ${d.meta ?? (d.choices ? d.choices.join('|') : d.kind.toUpperCase())}`;
    const dflt = d.default === undefined ? '' : ` (default: ${d.default})`;
    return [left, `${d.help}${dflt}`];
  });
  rows.push(['--help', 'show this help']);
  const width = Math.max(...rows.map((r) => r[0].length));
  return [`Usage: ${usage}`, '', summary, '', 'Flags:', ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`)].join('\n');
}

function convert(name: string, d: FlagDef, raw: string | boolean): string | number | boolean {
  if (d.kind === 'boolean') return raw === true;
  const s = String(raw);
  switch (d.kind) {
    case 'string':
      if (d.choices && !d.choices.includes(s)) throw new Error(`--${name}: "${s}" is not one of ${d.choices.join(', ')}`);
      return s;
    case 'url': {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        throw new Error(`--${name}: "${s}" is not a URL (expected e.g. http://127.0.0.1:8001)`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'grpc:')
        throw new Error(`--${name}: only http:// URLs are supported (grpc:// for a gRPC base), got "${s}"`);
      return s.replace(/\/+$/, '');
    }
    default: {
      const n = s.trim() === '' ? NaN : Number(s);
      if (!Number.isFinite(n)) throw new Error(`--${name}: "${s}" is not a number`);
      if ((d.kind === 'int' || d.kind === 'port') && !Number.isInteger(n)) throw new Error(`--${name}: "${s}" is not an integer`);
      if (d.kind === 'port' && (n < 0 || n > 65535)) throw new Error(`--${name}: ${n} is not a port (0-65535)`);
      if (d.kind === 'fraction' && (n < 0 || n > 1)) throw new Error(`--${name}: ${n} is outside [0, 1]`);
      if (d.min !== undefined && n < d.min) throw new Error(`--${name}: ${n} is below the minimum ${d.min}`);
      return n;
    }
  }
}

export function parseFlags(argv: string[], usage: string, summary: string, defs: Record<string, FlagDef>): ParsedFlags {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const [name, d] of Object.entries(defs)) options[name] = { type: d.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (e) {
    return { kind: 'error', message: (e as Error).message };
  }
  if (parsed.values.help) return { kind: 'help', text: helpText(usage, summary, defs) };
  const values: FlagValues = {};
  try {
    for (const [name, d] of Object.entries(defs)) {
      const raw = parsed.values[name] as string | boolean | undefined;
      if (raw === undefined) {
        values[name] =
          d.default === undefined ? undefined : convert(name, d, typeof d.default === 'boolean' ? d.default : String(d.default));
      } else {
        values[name] = convert(name, d, raw);
      }
    }
  } catch (e) {
    return { kind: 'error', message: (e as Error).message };
  }
  return { kind: 'ok', values };
}

/**
 * The URL a server listens on, for startup lines: its own URL, except that a wildcard --host (0.0.0.0, ::)
 * is shown as bound (every interface, reachable from other hosts) instead of the loopback URL the server
 * object carries for local clients.
 */
export function listenUrl(host: string, url: string): string {
  if (host !== '0.0.0.0' && host !== '::') return url;
  return `http://${host === '::' ? '[::]' : host}:${new URL(url).port}`;
}
