// Benchmark: what the decision log costs the router. Prints a table; asserts nothing.
//
//   npm run build && node dist/bench/decision-log.js [--requests 3000] [--batch 1] [--rounds 3]
//
// One base model server and three routers (in-process saver, audit rate 0.02, threshold 0.9), each its own
// process on 127.0.0.1, as deployed: log off; log on at sample rate 0.01 (plus every audited row) to a file;
// log on at sample rate 1 to a file. The client (this process) sends the Fashion-MNIST test images at
// concurrency 1 and 32, routers interleaved in rounds so machine load drifts hit all alike, and reports
// p50/p99 latency and throughput per router. Target (issue 15): <= 5 % throughput loss at 1 % + audits.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFashionMnist } from '../models/dataset/fashion-mnist.js';
import { zooModelPath } from '../models/zoo.js';
import { V2Client } from '../runtime/oip/client.js';
import type { InferRequest } from '../runtime/oip/types.js';
import { percentile } from '../runtime/replay/replay.js';
import { formatTable } from '../core/text/table.js';
import { benchFlags } from './flags.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));

const f = benchFlags(
  'node dist/bench/decision-log.js [--requests N] [--batch B] [--rounds R]',
  'Router latency and throughput with the decision log off, at 1 % sampling and at 100 % to a file.',
  {
    requests: { kind: 'int', min: 100, default: 3000, help: 'requests per router per concurrency, over all rounds' },
    batch: { kind: 'int', min: 1, default: 1, help: 'rows per request' },
    rounds: { kind: 'int', min: 1, default: 3, help: 'interleaved rounds (routers take turns)' },
    saver: { kind: 'string', default: 'saver-tinycnn', help: 'zoo saver (run in the router)' },
    base: { kind: 'string', default: 'base-cnn', help: 'zoo base model' },
  },
);

interface Child {
  child: ChildProcess;
  url: string;
}

async function spawnServer(args: string[], pattern: RegExp): Promise<Child> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = pattern.exec(err);
    if (m) return { child, url: m[1] };
    if (child.exitCode !== null) throw new Error(`${args[0]} exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${args[0]} did not start: ${err}`);
}

async function stop(c: Child): Promise<void> {
  if (c.child.exitCode !== null) return;
  c.child.kill('SIGTERM');
  await new Promise((r) => c.child.once('exit', r));
}

const dir = mkdtempSync(join(os.tmpdir(), 'bench-dlog-'));
const images = (await loadFashionMnist('test')).images;
const count = images.length / 784;
const batch = f.batch as number;
const req = (k: number): InferRequest => {
  const data = new Float32Array(batch * 784);
  for (let i = 0; i < batch; i++) {
    const row = (k * batch + i) % count;
    data.set(images.subarray(row * 784, (row + 1) * 784), i * 784);
  }
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28], data }] };
};

const base = await spawnServer(
  [
    'serve-model',
    '--grpc-port',
    '0',
    '--model',
    zooModelPath(f.base as string),
    '--name',
    'base',
    '--port',
    '0',
    '--max-queue-delay-ms',
    '0',
    '--inference-thread',
    'main',
  ],
  /at (http:\/\/[^/\s]+)\//,
);
const common = [
  'route',
  '--port',
  '0',
  '--grpc-port',
  '0',
  '--saver-onnx',
  zooModelPath(f.saver as string),
  '--saver-model',
  'saver',
  '--base-url',
  base.url,
  '--base-model',
  'base',
  '--threshold',
  '0.9',
  '--audit-rate',
  '0.02',
];
const configs: Array<{ label: string; extra: string[] }> = [
  { label: 'log off', extra: [] },
  { label: '1 % + audits, file', extra: ['--decision-log', join(dir, 'one.jsonl'), '--decision-sample-rate', '0.01'] },
  { label: '100 %, file', extra: ['--decision-log', join(dir, 'all.jsonl'), '--decision-sample-rate', '1'] },
];
const routers: Child[] = [];
try {
  for (const c of configs) routers.push(await spawnServer([...common, ...c.extra], /at (http:\/\/[^/\s]+) /));
  const clients = routers.map((r) => new V2Client(r.url));
  const rows: string[][] = [];
  for (const conc of [1, 32]) {
    const lat = configs.map(() => [] as number[]);
    const busy = configs.map(() => 0); // seconds spent serving, per router
    for (const c of clients) for (let i = 0; i < 100; i++) await c.infer('cascade', req(i)); // warm-up
    const rounds = f.rounds as number;
    const per = Math.ceil((f.requests as number) / rounds);
    let k = 0;
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < clients.length; j++) {
        const idx = (r + j) % clients.length;
        let left = per;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: conc }, async () => {
            while (left-- > 0) {
              const s = performance.now();
              await clients[idx].infer('cascade', req(k++));
              lat[idx].push(performance.now() - s);
            }
          }),
        );
        busy[idx] += (performance.now() - t0) / 1000;
      }
    }
    const tput = configs.map((_, i) => (lat[i].length * batch) / busy[i]);
    configs.forEach((c, i) =>
      rows.push([
        String(conc),
        c.label,
        percentile(lat[i], 50).toFixed(3),
        percentile(lat[i], 99).toFixed(3),
        Math.round(tput[i]).toLocaleString('en-US'),
        i === 0 ? '-' : `${((100 * (tput[i] - tput[0])) / tput[0]).toFixed(1)} %`,
      ]),
    );
  }
  for (const c of clients) c.close();
  const logBytes = readdirSync(dir)
    .map((n) => `${n} ${(statSync(join(dir, n)).size / 1024).toFixed(0)} KiB`)
    .join(', ');
  console.log(
    `node ${process.version}, ${os.cpus().length} CPU(s); load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}; batch ${batch}, saver ${f.saver} in the router, base ${f.base}; logs: ${logBytes}`,
  );
  console.log(formatTable(['concurrency', 'router', 'p50 ms', 'p99 ms', 'rows/s', 'vs off'], rows));
} finally {
  for (const r of routers) await stop(r);
  await stop(base);
  rmSync(dir, { recursive: true, force: true });
}
