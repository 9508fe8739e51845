// Benchmark: `tinysaver simulate --decisions` and `tinysaver decisions` on large logs. Prints a table;
// asserts nothing.
//
//   npm run build && node dist/bench/decisions.js [--records 1000000] [--also 100000]
//
// Writes synthetic decision logs (the unit tests' known-truth traffic, logged through the real
// RouterDecisionLog at sample rate 1, audit rate 0.05), then runs each command in a child process
// (`node bin/tinysaver.js ...` as a user would) and reports records/s and the child's peak RSS.
// Two sizes, children under a small V8 heap cap (--heap-mib): the reader streams, so a 1M-record log
// must fit in the same heap as a 100k one.

import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable } from '../core/text/table.js';
import { benchFlags } from './flags.js';
import { logTraffic, population } from '../test/support/decision-traffic.js';

const MAIN = fileURLToPath(new URL('../cli/main.js', import.meta.url));

const f = benchFlags(
  'node dist/bench/decisions.js [--records N] [--also N]',
  'simulate --decisions / decisions throughput and peak memory on synthetic decision logs.',
  {
    records: { kind: 'int', min: 1000, default: 1_000_000, help: 'row records in the large log' },
    'heap-mib': {
      kind: 'int',
      min: 0,
      default: 64,
      help: 'V8 heap cap of the child (--max-old-space-size): a run that finishes under a small cap on a large log shows the live memory does not grow with it; 0: no cap (V8 then lets garbage pile up before collecting, so peak RSS says little)',
    },
    also: { kind: 'int', min: 0, default: 100_000, help: 'a smaller log for the memory comparison (0: none)' },
  },
);

async function writeLog(path: string, rows: number): Promise<number> {
  const pop = population(rows, 1);
  const out = createWriteStream(path);
  let buf: string[] = [];
  let n = 0;
  logTraffic(pop, { threshold: 0.8, auditRate: 0.05, sampleRate: 1, seed: 1, batch: 8 }, (r) => {
    buf.push(JSON.stringify(r));
    n++;
    if (buf.length >= 10_000) {
      const chunk = buf.join('\n') + '\n';
      buf = [];
      out.write(chunk);
    }
  });
  out.write(buf.join('\n') + '\n');
  await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
  return n;
}

/** Run one CLI command in a child; its wall time and peak RSS (KiB, from the child's own resourceUsage). */
function runCli(args: string[]): Promise<{ seconds: number; maxRssMiB: number; code: number }> {
  const script = `import(${JSON.stringify(MAIN)}).then(async (m) => { const code = await m.main(${JSON.stringify(args)}); process.stderr.write('MAXRSS ' + process.resourceUsage().maxRSS + '\\n'); process.exit(code); });`;
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(
      process.execPath,
      [...(heapMiB > 0 ? [`--max-old-space-size=${heapMiB}`] : []), '--input-type=module', '-e', script],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const m = /MAXRSS (\d+)/.exec(err);
      if (!m) return reject(new Error(`no MAXRSS from ${args.join(' ')}: ${err.slice(-500)}`));
      resolve({ seconds, maxRssMiB: Number(m[1]) / 1024, code: code ?? -1 });
    });
  });
}

const heapMiB = f['heap-mib'] as number;
const dir = mkdtempSync(join(os.tmpdir(), 'bench-decisions-'));
try {
  const sizes = [f.also as number, f.records as number].filter((n) => n > 0);
  const rows: string[][] = [];
  for (const size of sizes) {
    const path = join(dir, `log-${size}.jsonl`);
    const t0 = Date.now();
    const n = await writeLog(path, size);
    const mib = statSync(path).size / 2 ** 20;
    console.error(`wrote ${n} records (${mib.toFixed(0)} MiB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const [label, args] of [
      ['simulate --decisions', ['simulate', '--decisions', path, '--cost-ratio', '0.05']],
      ['decisions (5m buckets)', ['decisions', path]],
    ] as const) {
      const r = await runCli([...args]);
      if (r.code !== 0) throw new Error(`${label} exited ${r.code}`);
      rows.push([
        label,
        String(n),
        mib.toFixed(0),
        r.seconds.toFixed(2),
        Math.round(n / r.seconds).toLocaleString('en-US'),
        r.maxRssMiB.toFixed(0),
      ]);
    }
  }
  const load = os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
  console.log(`node ${process.version}, ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model ?? ''}; load average ${load}`);
  console.log(formatTable(['command', 'records', 'MiB', 'seconds', 'records/s', 'peak RSS MiB'], rows));
  console.log(
    `seconds: the whole child process (node start, module load, read, estimate, print); V8 heap capped at ${heapMiB || 'no'} MiB.`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
