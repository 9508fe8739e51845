// Benchmark: `tinysaver serve-model` (child process, binary tensors over HTTP on 127.0.0.1) vs raw
// in-process session.run, at equal batch size, one column per --inference-thread mode. Prints a
// table; asserts nothing. Target (issue 2): server >= 0.9 x raw throughput.
//
//   npm run build && node dist/bench/model-server.js [--batches 1,8,32,128] [--modes worker,main] [--rounds 3]
//
// Each request carries exactly one batch of B rows and the server runs with --max-batch-size B, so
// every session run has B rows on both sides. Equal compute for both sides:
// - raw runs in a child process (bench/model-server-raw.ts) with the server's session options, on the
//   same CPUs as the server, while this process (the load generator) is idle;
// - the load generator is lean (bench/model-server-load.ts: pre-encoded request bytes, replies only
//   framed), so it takes as little CPU as it can from a machine it shares with the server;
// - `--server-cpus` / `--client-cpus` pin them apart with taskset. The fair comparison on a small
//   machine (cores 0 and 1 here):
//
//     node dist/bench/model-server.js --server-cpus 1 --client-cpus 0 --intra-op-threads 1
//
//   gives the server and raw runs one core each and the client the other. Unpinned (the default)
//   all of them share every core, as a server would on a busy node. With one server core the worker
//   mode cannot overlap HTTP and inference (one core does both), so it is only expected to help where
//   the server has a core to spare; on a bigger machine pin e.g. --server-cpus 0-3 --client-cpus 4-7.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { decodeInferResponse, encodeInferRequest } from '../runtime/oip/codec.js';
import { loadZooManifest, zooModelPath } from '../models/zoo.js';
import { formatTable } from '../core/text/table.js';
import { benchFlags } from './flags.js';
import { LeanConnection, httpRequestBytes, images } from './model-server-load.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const RAW = fileURLToPath(new URL('./model-server-raw.js', import.meta.url));

type Mode = 'worker' | 'main';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `node args...`, under `taskset -c cpus` when cpus is set. */
function nodeCommand(cpus: string, args: string[]): [string, string[]] {
  return cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
}

async function rawThroughput(modelPath: string, batch: number, seconds: number, threads: number, cpus: string): Promise<number> {
  const [cmd, args] = nodeCommand(cpus, [
    RAW,
    '--model',
    modelPath,
    '--batch',
    String(batch),
    '--seconds',
    String(seconds),
    '--intra-op-threads',
    String(threads),
  ]);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`raw run failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { rowsPerSecond: number }).rowsPerSecond;
}

interface Server {
  child: ChildProcess;
  host: string;
  port: number;
  name: string;
}

async function startServer(modelPath: string, batch: number, threads: number, mode: Mode, cpus: string): Promise<Server> {
  const flags = [
    'serve-model',
    '--model',
    modelPath,
    '--port',
    '0',
    '--grpc-port',
    '0',
    '--max-batch-size',
    String(batch),
    '--max-queue-delay-ms',
    '1',
  ];
  flags.push('--intra-op-threads', String(threads), '--inference-thread', mode);
  const [cmd, args] = nodeCommand(cpus, [BIN, ...flags]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = /serving "([^"]+)" at http:\/\/([^/\s:]+):(\d+)\//.exec(err);
    if (m) return { child, name: m[1], host: m[2], port: Number(m[3]) };
    if (child.exitCode !== null) throw new Error(`serve-model exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`serve-model did not start: ${err}`);
}

async function stopServer(s: Server): Promise<void> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

async function serverThroughput(s: Server, batch: number, seconds: number, concurrency: number): Promise<number> {
  const enc = encodeInferRequest(
    { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28], data: images(batch) }] },
    { binaryInputs: true, binaryOutputs: true },
  );
  const bytes = httpRequestBytes(s.host, s.port, `/v2/models/${s.name}/infer`, enc.headers, enc.body);
  const conns = await Promise.all(Array.from({ length: concurrency }, () => LeanConnection.open(s.host, s.port, bytes)));
  try {
    // warm-up, and one full decode to check the server answers what it should
    for (let i = 0; i < 10; i++) await Promise.all(conns.map((c) => c.roundTrip()));
    const first = await conns[0].roundTrip();
    const hl = /\r\ninference-header-content-length:\s*(\d+)/i.exec(first.head);
    const res = decodeInferResponse(Buffer.from(first.body), hl ? Number(hl[1]) : undefined);
    if (res.outputs[0].shape[0] !== batch) throw new Error(`server answered ${res.outputs[0].shape[0]} rows for ${batch}`);
    let rows = 0;
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    await Promise.all(
      conns.map(async (c) => {
        while (performance.now() < end) {
          await c.roundTrip();
          rows += batch;
        }
      }),
    );
    return rows / ((performance.now() - t0) / 1000);
  } finally {
    for (const c of conns) c.close();
  }
}

async function main(): Promise<void> {
  const v = benchFlags(
    'node dist/bench/model-server.js [flags]',
    'Model server vs raw session.run at equal batch size, per inference-thread mode (prints a table).',
    {
      seconds: { kind: 'number', min: 0.1, default: 1, help: 'seconds per measurement' },
      rounds: { kind: 'int', min: 1, default: 3, help: 'interleaved rounds (the median is reported)' },
      batches: { kind: 'string', default: '1,8,32,128', help: 'comma-separated batch sizes' },
      concurrency: { kind: 'int', min: 1, default: 4, help: 'requests in flight (keep-alive connections)' },
      models: { kind: 'string', help: 'comma-separated bundled models (default: all)' },
      modes: { kind: 'string', default: 'worker,main', help: 'inference-thread modes to measure, one column each' },
      'intra-op-threads': { kind: 'int', min: 0, default: 0, help: 'onnxruntime threads, server and raw (0: onnxruntime default)' },
      'server-cpus': { kind: 'string', default: '', help: 'taskset CPU list for the server and the raw runs (empty: unpinned)' },
      'client-cpus': { kind: 'string', default: '', help: 'taskset CPU list for this process, the load generator (empty: unpinned)' },
    },
  );
  const seconds = v.seconds as number;
  const rounds = v.rounds as number;
  const threads = v['intra-op-threads'] as number;
  const concurrency = v.concurrency as number;
  const serverCpus = v['server-cpus'] as string;
  const clientCpus = v['client-cpus'] as string;
  const batches = (v.batches as string).split(',').map(Number);
  const modes = (v.modes as string).split(',') as Mode[];
  for (const m of modes) if (m !== 'worker' && m !== 'main') throw new Error(`--modes: "${m}" is not worker or main`);
  const names = v.models ? (v.models as string).split(',') : loadZooManifest().models.map((m) => m.name);
  const cpus = os.availableParallelism(); // before pinning: what the machine offers this process
  if (clientCpus) {
    // -a: every thread of this process (libuv, V8), not only the main one
    const r = spawnSync('taskset', ['-a', '-p', '-c', clientCpus, String(process.pid)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`taskset --client-cpus ${clientCpus}: ${r.stderr || r.error}`);
  }

  const header = ['model', 'batch', 'raw rows/s', ...modes.flatMap((m) => [`${m} rows/s`, `${m}/raw`])];
  const rows: string[][] = [];
  const load0 = os.loadavg()[0];
  for (const name of names) {
    const path = zooModelPath(name);
    for (const batch of batches) {
      const servers = new Map<Mode, Server>();
      try {
        for (const m of modes) servers.set(m, await startServer(path, batch, threads, m, serverCpus));
        // Interleaved rounds, medians: load on a shared machine drifts during a run.
        const raw: number[] = [];
        const srv = new Map<Mode, number[]>(modes.map((m) => [m, []]));
        for (let r = 0; r < rounds; r++) {
          raw.push(await rawThroughput(path, batch, seconds, threads, serverCpus));
          for (const m of modes) srv.get(m)!.push(await serverThroughput(servers.get(m)!, batch, seconds, concurrency));
        }
        const rawMed = median(raw);
        const row = [name, String(batch), rawMed.toFixed(0)];
        for (const m of modes) {
          const s = median(srv.get(m)!);
          row.push(s.toFixed(0), (s / rawMed).toFixed(2));
        }
        rows.push(row);
        console.error(`  ${row.join('  ')}`);
      } finally {
        for (const s of servers.values()) await stopServer(s);
      }
    }
  }
  const pin = serverCpus || clientCpus ? `server+raw on CPUs ${serverCpus || 'any'}, client on CPUs ${clientCpus || 'any'}` : 'unpinned';
  console.log(
    `model server vs raw session.run (equal batch size; ${concurrency} requests in flight; median of ${rounds} interleaved ${seconds}s rounds; ` +
      `intra-op threads ${threads || 'default'}; ${pin}; ${cpus} CPUs; load average ${load0.toFixed(2)} -> ${os.loadavg()[0].toFixed(2)})`,
  );
  console.log(formatTable(header, rows));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
