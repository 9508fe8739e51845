// Benchmark: the cascade router. Prints tables; asserts nothing.
//
//   npm run build && node dist/bench/router.js [--seconds 3] [--requests 2000] [--saver saver-mlp] [--base base-cnn]
//                                               [--batches 1,32] [--concurrency 32] [--intra-op-threads 1]
//
// Every server is its own process, as deployed (saver model server, base model server, router),
// all on 127.0.0.1; the client is this process. Two router layouts (--modes): `sidecar` (the router
// calls the saver model server over localhost HTTP, the operator's default pod) and `in-router`
// (`route --saver-onnx`: the router runs the saver itself, one HTTP hop less; spec.saver.mode InRouter).
// 1. Router overhead: latency of routed requests that the saver answers (threshold 0, no audits) vs
//    direct saver calls, interleaved so load drift hits both alike; concurrency 1 and 32 (at 32 the
//    router coalesces concurrent requests into shared saver calls). Concurrency 1 twice: direct and
//    routed requests alternating one by one (every process idles between its requests: low load),
//    and in alternating blocks (back-to-back traffic, processes stay warm).
//    Target: <= 0.3 ms p50 added at concurrency 1.
// 2. Cascade throughput vs base-only on the Fashion-MNIST test images (real confidence mix), next to
//    the ideal speed-up 1 / (s + (1 - r)): r = measured saver share, s = measured per-sample time ratio
//    saver/base (from saver-only and base-only throughput), MACs ratio beside it. Target: >= 0.8 of ideal.
//    The ideal assumes one shared compute budget: on a multi-core box base-only runs one process while
//    the cascade spreads over three, so pin everything to one core for that comparison:
//      taskset -c 0 node dist/bench/router.js
//    At batch 1 transport dominates these small models (s is near 1: the saver is not cheaper per
//    request than the base), which the router offsets by coalescing concurrent requests.

import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadFashionMnist } from '../models/dataset/fashion-mnist.js';
import { loadZooManifest, zooModelPath } from '../models/zoo.js';
import { V2Client } from '../runtime/oip/client.js';
import type { InferRequest } from '../runtime/oip/types.js';
import { percentile } from '../runtime/replay/replay.js';
import { parseRoutes } from '../runtime/router/row-params.js';
import { formatTable } from '../core/text/table.js';
import { benchFlags } from './flags.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));

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

const serveModel = (name: string, threads: number, thread: string) =>
  spawnServer(
    [
      'serve-model',
      '--model',
      zooModelPath(name),
      '--name',
      name,
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--max-queue-delay-ms',
      '0',
      '--intra-op-threads',
      String(threads),
      '--inference-thread',
      thread,
    ],
    /at (http:\/\/[^/\s]+)\//,
  );

type Mode = 'sidecar' | 'in-router';
const MODES: readonly Mode[] = ['sidecar', 'in-router'];

const route = (mode: Mode, saver: Child, saverName: string, base: Child, baseName: string, threads: number, extra: string[]) =>
  spawnServer(
    [
      'route',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--saver-model',
      saverName,
      '--base-url',
      base.url,
      '--base-model',
      baseName,
      ...(mode === 'sidecar'
        ? ['--saver-url', saver.url]
        : ['--saver-onnx', zooModelPath(saverName), '--saver-intra-op-threads', String(threads)]),
      ...extra,
    ],
    /at (http:\/\/[^/\s]+) /,
  );

async function stop(c: Child): Promise<void> {
  if (c.child.exitCode !== null) return;
  c.child.kill('SIGTERM');
  await new Promise((r) => c.child.once('exit', r));
}

function batchOf(images: Float32Array, count: number, start: number, batch: number): InferRequest {
  const data = new Float32Array(batch * 784);
  for (let i = 0; i < batch; i++) {
    const row = (start + i) % count;
    data.set(images.subarray(row * 784, (row + 1) * 784), i * 784);
  }
  return { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28], data }] };
}

/**
 * Latencies (ms) of `n` requests per target at concurrency c; targets interleaved request by request
 * (c = 1, unless `blocks`) or in 6 alternating rounds. Request-by-request interleaving leaves each
 * process idle while the other target is served, so every request pays the wake-ups of an idle
 * system (low load); blocks measure back-to-back traffic, where the processes stay warm.
 */
async function latencies(
  targets: Array<{ client: V2Client; model: string }>,
  req: InferRequest,
  n: number,
  c: number,
  blocks = false,
): Promise<number[][]> {
  const out = targets.map(() => [] as number[]);
  for (const t of targets) for (let i = 0; i < 50; i++) await t.client.infer(t.model, req); // warm-up
  const rounds = c === 1 && !blocks ? n : 6;
  const perRound = Math.ceil(n / rounds);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(r + k) % targets.length];
      const lat = out[(r + k) % targets.length];
      let left = perRound;
      const worker = async () => {
        while (left-- > 0) {
          const t0 = performance.now();
          await t.client.infer(t.model, req);
          lat.push(performance.now() - t0);
        }
      };
      await Promise.all(Array.from({ length: c }, worker));
    }
  }
  return out;
}

async function throughput(
  client: V2Client,
  model: string,
  images: Float32Array,
  count: number,
  batch: number,
  c: number,
  seconds: number,
  routes?: Record<string, number>,
): Promise<number> {
  let next = 0;
  for (let i = 0; i < 20; i++) await client.infer(model, batchOf(images, count, i * batch, batch));
  let rows = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() < end) {
      const start = next;
      next += batch;
      const res = await client.infer(model, batchOf(images, count, start, batch));
      rows += batch;
      if (routes) for (const x of parseRoutes(res.parameters)) routes[x] = (routes[x] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: c }, worker));
  return rows / ((performance.now() - t0) / 1000);
}

function table(title: string, header: string[], rows: string[][]): void {
  console.log(`\n${title}\n${formatTable(header, rows)}`);
}

async function main(): Promise<void> {
  const values = benchFlags(
    'node dist/bench/router.js [flags]',
    'Router overhead and cascade vs base-only throughput (prints tables; see the header comment).',
    {
      seconds: { kind: 'string', default: '3', help: 'seconds per throughput measurement' },
      requests: { kind: 'string', default: '2000', help: 'requests per overhead measurement' },
      saver: { kind: 'string', default: 'saver-mlp', help: 'bundled saver model' },
      base: { kind: 'string', default: 'base-cnn', help: 'bundled base model' },
      batches: { kind: 'string', default: '1,32', help: 'comma-separated batch sizes for the throughput table' },
      concurrency: { kind: 'string', default: '32', help: 'requests in flight for the loaded measurements' },
      'intra-op-threads': { kind: 'string', default: '1', help: 'onnxruntime threads per model server' },
      threshold: { kind: 'string', default: '0.9', help: 'cascade threshold for the throughput table' },
      // main by default: a worker thread adds ~0.2 ms of wake-up to every lone direct saver call, which
      // would flatter the router's added latency.
      'inference-thread': {
        kind: 'string',
        default: 'main',
        help: 'serve-model --inference-thread of the saver and base servers (main, worker, auto)',
      },
      modes: {
        kind: 'string',
        default: MODES.join(','),
        help: 'router layouts to measure: sidecar (saver over localhost HTTP), in-router (route --saver-onnx)',
      },
    },
  ) as Record<string, string>;
  const modes = values.modes!.split(',') as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: "${m}" is not one of ${MODES.join(', ')}`);
  const seconds = Number(values.seconds);
  const n = Number(values.requests);
  const batches = values.batches!.split(',').map(Number);
  const conc = Number(values.concurrency);
  const saverName = values.saver!;
  const baseName = values.base!;
  const threads = Number(values['intra-op-threads']);
  const test = await loadFashionMnist('test');
  const manifest = loadZooManifest();
  const macs = (name: string) => manifest.models.find((m) => m.name === name)!.macs;

  console.log(
    `machine: ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? '?'}), load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; node ${process.version}`,
  );
  console.log(
    `saver ${saverName}, base ${baseName}; onnxruntime intra-op threads ${threads}; model servers' inference thread ${values['inference-thread']}`,
  );
  const saver = await serveModel(saverName, threads, values['inference-thread']!);
  const base = await serveModel(baseName, threads, values['inference-thread']!);
  const children: Child[] = [saver, base];
  const clients: V2Client[] = [];
  const client = (url: string) => {
    const c = new V2Client(url, { maxSockets: 64 });
    clients.push(c);
    return c;
  };
  try {
    // 1. overhead: every row answered by the saver, no audits
    const plain: Child[] = [];
    for (const mode of modes) {
      plain.push(await route(mode, saver, saverName, base, baseName, threads, ['--threshold', '0', '--audit-rate', '0']));
      children.push(plain[plain.length - 1]);
    }
    const direct = { client: client(saver.url), model: saverName };
    const routed = plain.map((p) => ({ client: client(p.url), model: 'cascade' }));
    const req = batchOf(test.images, test.count, 0, 1);
    const rows: string[][] = [];
    const own: string[] = [];
    for (const [c, blocks] of [
      [1, false],
      [1, true],
      [conc, false],
    ] as const) {
      const [d, ...rs] = await latencies([direct, ...routed], req, n, c, blocks);
      const p = (xs: number[], q: number) => percentile(xs, q);
      for (let k = 0; k < modes.length; k++) {
        const r = rs[k];
        if (c === 1 && !blocks) {
          // The router's own time per request at concurrency 1 (no queueing, no coalescing), from its
          // metrics: stage total minus stage saver, i.e. without the HTTP hops (sidecar) or without
          // the saver's inference (in-router).
          const text = await (await fetch(`${plain[k].url}/metrics`)).text();
          const stat = (stage: string, what: 'sum' | 'count') =>
            Number(new RegExp(`^tinysaver_request_duration_seconds_${what}\\{stage="${stage}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
          const count = stat('total', 'count');
          own.push(
            `${modes[k]} ${(((stat('total', 'sum') - stat('saver', 'sum')) / count) * 1000).toFixed(3)} ms (mean over ${count} requests)`,
          );
        }
        rows.push([
          blocks ? `${c} back-to-back` : c === 1 ? '1 interleaved' : String(c),
          modes[k],
          p(d, 50).toFixed(3),
          p(r, 50).toFixed(3),
          (p(r, 50) - p(d, 50)).toFixed(3),
          p(d, 99).toFixed(3),
          p(r, 99).toFixed(3),
          (p(r, 99) - p(d, 99)).toFixed(3),
        ]);
      }
    }
    table(
      `router overhead: saver-answered 1-row requests via the router vs direct saver calls (${n} requests each, ms)`,
      ['concurrency', 'router', 'direct p50', 'routed p50', 'added p50', 'direct p99', 'routed p99', 'added p99'],
      rows,
    );
    console.log(`router logic per request at concurrency 1 (stage total - stage saver): ${own.join('; ')}`);

    // 2. throughput on real images
    // Only the measured routers run now: idle processes still cost wake-ups on a small box.
    for (const p of plain) await stop(p);
    const cascades: Child[] = [];
    for (const mode of modes) {
      cascades.push(await route(mode, saver, saverName, base, baseName, threads, ['--threshold', values.threshold!]));
      children.push(cascades[cascades.length - 1]);
    }
    const trows: string[][] = [];
    for (const batch of batches) {
      // Alternating short rounds, so load drift from other processes hits all targets alike.
      const rounds = 4;
      const sums = { saver: 0, base: 0, cascade: modes.map(() => 0) };
      const routes = modes.map(() => ({}) as Record<string, number>);
      const [cs, cb] = [client(saver.url), client(base.url)];
      const cc = cascades.map((c) => client(c.url));
      for (let k = 0; k < rounds; k++) {
        sums.saver += await throughput(cs, saverName, test.images, test.count, batch, conc, seconds / rounds);
        sums.base += await throughput(cb, baseName, test.images, test.count, batch, conc, seconds / rounds);
        for (let m = 0; m < modes.length; m++) {
          sums.cascade[m] += await throughput(cc[m], 'cascade', test.images, test.count, batch, conc, seconds / rounds, routes[m]);
        }
      }
      const [thrSaver, thrBase] = [sums.saver / rounds, sums.base / rounds];
      // s: per-sample time of the saver model server over the base's, the same for both layouts.
      const s = thrBase / thrSaver;
      for (let m = 0; m < modes.length; m++) {
        const thrCascade = sums.cascade[m] / rounds;
        const total = Object.values(routes[m]).reduce((a, b) => a + b, 0);
        const r = (routes[m].saver ?? 0) / total;
        const ideal = 1 / (s + (1 - r));
        const achieved = thrCascade / thrBase;
        trows.push([
          String(batch),
          modes[m],
          thrSaver.toFixed(0),
          thrBase.toFixed(0),
          thrCascade.toFixed(0),
          r.toFixed(3),
          s.toFixed(3),
          (macs(saverName) / macs(baseName)).toFixed(4),
          ideal.toFixed(2),
          achieved.toFixed(2),
          (achieved / ideal).toFixed(2),
        ]);
      }
    }
    table(
      `cascade vs base-only throughput, rows/s (Fashion-MNIST test images, threshold ${values.threshold}, audit rate 0.02, ${conc} requests in flight, ${seconds}s each)`,
      [
        'batch',
        'router',
        'saver-only',
        'base-only',
        'cascade',
        'share r',
        'time ratio s',
        'MACs ratio',
        'ideal 1/(s+1-r)',
        'achieved',
        'achieved/ideal',
      ],
      trows,
    );
  } finally {
    for (const c of clients) c.close();
    for (const c of children.reverse()) await stop(c);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
