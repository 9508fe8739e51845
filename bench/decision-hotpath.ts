// Benchmark: CPU cost of the decision log per request, in-process (no servers), so machine load moves it
// less than an end-to-end run. Prints a table; asserts nothing.
//
//   npm run build && node dist/bench/decision-hotpath.js [--requests 200000]
//
// request(): what the router's request path adds (sampling draws + record objects pushed to the queue).
// drain: what the queue's drain loop spends per record (JSON + write to a file), off the request path but
// on the same event loop. Audit rate 0.02, threshold 0.9 as the router's defaults; Fashion-like confidences.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { formatTable } from '../core/text/table.js';
import { seededRandom } from '../core/random.js';
import { sampleAuditRows } from '../runtime/router/audit.js';
import { RouterDecisionLog } from '../runtime/decisions/router-log.js';
import { RotatingFileSink } from '../runtime/decisions/sink.js';
import { DecisionLog } from '../runtime/decisions/writer.js';
import { benchFlags } from './flags.js';

const f = benchFlags('node dist/bench/decision-hotpath.js [--requests N]', 'Per-request CPU cost of the decision log (in-process).', {
  requests: { kind: 'int', min: 1000, default: 200_000, help: 'requests per configuration' },
});
const n = f.requests as number;
const dir = mkdtempSync(join(os.tmpdir(), 'bench-hot-'));
const rows: string[][] = [];
try {
  for (const batch of [1, 32]) {
    const rand = seededRandom(1);
    const conf = Float64Array.from({ length: batch * 64 }, () => 0.5 + 0.5 * Math.sqrt(rand()));
    const top1 = Int32Array.from({ length: batch * 64 }, (_, i) => i % 10);
    for (const rate of [0, 0.01, 1]) {
      let pushed = 0;
      const sinkLog = { push: () => (pushed++, true) };
      const log = new RouterDecisionLog({
        log: sinkLog,
        cascade: 'c',
        saver: 'sha256:s',
        base: 'b@1',
        sampleRate: rate,
        includeInputs: 'none',
        seed: 1,
        pod: 'p',
        threshold: 0.9,
        auditRate: 0.02,
      });
      const audit = seededRandom(2);
      const req = { inputs: [] };
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < n; k++) {
        const off = (k % 64) * batch;
        const c = conf.subarray(off, off + batch);
        const routes: string[] = [];
        const saverRows: number[] = [];
        for (let i = 0; i < batch; i++) {
          if (c[i] >= 0.9) {
            routes.push('saver');
            saverRows.push(i);
          } else routes.push('base');
        }
        const picked = sampleAuditRows(saverRows, 0.02, audit);
        const h = log.request({
          req,
          confidence: c,
          saverTop1: top1.subarray(off, off + batch),
          routes,
          audited: picked,
          threshold: 0.9,
          auditRate: 0.02,
          ms: { saver: 0.1, total: 0.2 },
        });
        h?.done(picked.map(() => 1));
      }
      const usPerReq = Number(process.hrtime.bigint() - t0) / 1e3 / n;
      rows.push([String(batch), String(rate), usPerReq.toFixed(2), (pushed / n).toFixed(3)]);
    }
  }
  console.log(
    `node ${process.version}, ${os.cpus().length} CPU(s); load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  console.log('request path (sampling + record objects; audits at 0.02 included in every row):');
  console.log(formatTable(['rows/request', 'sample rate', 'µs/request', 'records/request'], rows));
  // drain: JSON + file write per record
  const sink = new RotatingFileSink({ path: join(dir, 'd.jsonl'), maxFileBytes: 64 * 2 ** 20, maxTotalBytes: 256 * 2 ** 20 });
  const q = new DecisionLog({ sink, maxQueue: 1 << 20 });
  const log = new RouterDecisionLog({
    log: q,
    cascade: 'c',
    saver: 'sha256:' + 'a'.repeat(64),
    base: 'b@1',
    sampleRate: 1,
    includeInputs: 'none',
    seed: 1,
    pod: 'router-7d9f8-abcde',
    threshold: 0.9,
    auditRate: 0.02,
  });
  const m = Math.min(n, 200_000);
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < m; k++)
    log.request({
      req: { id: `req-${k}`, inputs: [] },
      confidence: [0.95],
      saverTop1: [3],
      routes: ['saver'],
      audited: [],
      threshold: 0.9,
      auditRate: 0.02,
      ms: { saver: 0.1, total: 0.2 },
    });
  await q.close(600_000);
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / m;
  console.log(`queue + drain to a file: ${us.toFixed(2)} µs per record end to end (${m} records, ${q.stats.dropped} dropped)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
