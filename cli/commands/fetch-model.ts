// `tinysaver fetch-model URL DEST`: the init-container helper that downloads an http(s) model into the pod's
// model volume. Streams to DEST.partial with a size limit and optional SHA-256 check, then renames, so the
// model server never sees a half-written or tampered file.
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

const HELP = `Usage: tinysaver fetch-model URL DEST [flags]

Downloads URL (http or https) to the file DEST.

Flags:
  --sha256 HEX        expected SHA-256 of the file (64 hex chars); mismatch fails (default: not checked)
  --max-bytes N       refuse files larger than N bytes (default: 4294967296 = 4 GiB)
  --timeout-ms MS     give up after MS milliseconds in total (default: 600000)
  -h, --help          show this help`;

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        sha256: { type: 'string' },
        'max-bytes': { type: 'string' },
        'timeout-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`tinysaver fetch-model: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const [url, dest] = positionals;
  const fail = (msg: string) => {
    console.error(`tinysaver fetch-model: ${msg}`);
    return 2;
  };
  if (!url || !dest || positionals.length > 2) return fail('expected exactly two arguments: URL DEST');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(`URL: "${url}" is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return fail(`URL: only http and https are supported, got ${parsed.protocol}`);
  const sha = values.sha256 as string | undefined;
  if (sha !== undefined && !/^[a-fA-F0-9]{64}$/.test(sha)) return fail('--sha256: expected 64 hex characters');
  const maxBytes = Number(values['max-bytes'] ?? 4 * 1024 ** 3);
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0)
    return fail(`--max-bytes: expected a positive integer, got "${values['max-bytes']}"`);
  const timeoutMs = Number(values['timeout-ms'] ?? 600_000);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0)
    return fail(`--timeout-ms: expected a positive integer, got "${values['timeout-ms']}"`);

  const partial = `${dest}.partial`;
  try {
    await mkdir(dirname(dest), { recursive: true });
    const res = await fetch(parsed, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    if (!res.ok || !res.body) throw new Error(`${parsed.origin}${parsed.pathname}: HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) throw new Error(`file is ${declared} bytes, over --max-bytes ${maxBytes}`);
    const hash = createHash('sha256');
    const out = createWriteStream(partial, { mode: 0o644 });
    let size = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > maxBytes) throw new Error(`download exceeds --max-bytes ${maxBytes}`);
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    } finally {
      await new Promise<void>((r, j) => out.end((err?: Error | null) => (err ? j(err) : r())));
    }
    const digest = hash.digest('hex');
    if (sha && digest !== sha.toLowerCase()) throw new Error(`sha256 mismatch: expected ${sha.toLowerCase()}, got ${digest}`);
    await rename(partial, dest);
    console.log(JSON.stringify({ url: `${parsed.origin}${parsed.pathname}`, dest, bytes: size, sha256: digest }));
    return 0;
  } catch (err) {
    await rm(partial, { force: true });
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is its cause
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause ? ` (${[cause.code, cause.message].filter(Boolean).join(': ')})` : '';
    console.error(`tinysaver fetch-model: ${parsed.origin}${parsed.pathname}: ${(err as Error).message}${why}`);
    return 1;
  }
}
