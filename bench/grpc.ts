// Benchmark: the three v2 edges side by side — REST with JSON tensors, REST with binary tensors, and
// gRPC (raw_input_contents) — on the model server and on the router. Prints tables; asserts nothing.
//
//   npm run build && node dist/bench/grpc.js [--seconds 2] [--saver saver-mlp] [--batches 1,32] [--concurrency 1,32]
//
// Every server is its own process on 127.0.0.1: the saver model server (`serve-model`, what a Sidecar
// router calls and what the "model server" rows measure), a base model server (the router needs one to
// start; never called here) and the router in its default layout (InRouter: `route --saver-onnx`) with
// threshold 0 and no audits, so the saver answers every row and the router rows show the router's own
// cost. Router overhead = router p50 - model server p50 at the same protocol, batch and concurrency 1.
// Load: REST through the project's lean keep-alive load generator (bench/model-server-load.ts:
// pre-encoded request bytes, replies only framed; one connection per concurrent client); gRPC through
// ghz (Go module github.com/bojand/ghz, built once by scripts/build-go-tools.sh; one HTTP/2 connection,
// `-c` concurrent calls on it; --grpc-connections per-client opens one per call: measured the same). Targets
// (issue 14): gRPC at batch 32 >= REST binary throughput; router overhead over gRPC <= over REST. The load
// generators share the machine's cores with the servers, so each cell also reports the CPU time per request
// of the server process (all its threads, from /proc) and of the load generator: where the time goes.
// --rounds N repeats every cell N times, interleaved, and reports medians (a shared machine's load drifts);
// --node-args "--cpu-prof --cpu-prof-dir=DIR" profiles the measured servers.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatTable } from '../core/text/table.js';
import { zooModelPath } from '../models/zoo.js';
import { encodeInferRequest } from '../runtime/oip/codec.js';
import { PROTO_PATH } from '../runtime/oip/grpc.js';
import { percentile } from '../runtime/replay/replay.js';
import { benchFlags } from './flags.js';
import { LeanConnection, httpRequestBytes, images } from './model-server-load.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const BUILD_TOOLS = fileURLToPath(new URL('../../scripts/build-go-tools.sh', import.meta.url));

const flags = benchFlags('node dist/bench/grpc.js [flags]', 'REST JSON vs REST binary vs gRPC on the model server and the router.', {
  seconds: { kind: 'number', min: 0.2, default: 2, help: 'load time per table cell' },
  saver: { kind: 'string', default: 'saver-mlp', help: 'bundled saver model served and routed' },
  base: { kind: 'string', default: 'base-cnn', help: 'bundled base model (the router needs one; not called)' },
  batches: { kind: 'string', default: '1,32', help: 'rows per request, comma-separated' },
  concurrency: { kind: 'string', default: '1,32', help: 'requests in flight, comma-separated' },
  targets: { kind: 'string', default: 'server,router', help: 'which servers to load: server (model server), router' },
  protocols: { kind: 'string', default: 'json,binary,grpc', help: 'which edges: json (REST JSON), binary (REST binary), grpc' },
  'node-args': {
    kind: 'string',
    default: '',
    help: 'extra node flags for the measured servers, space-separated (e.g. "--cpu-prof --cpu-prof-dir=DIR": where the time goes)',
  },
  'grpc-connections': {
    kind: 'string',
    default: '1',
    help: 'HTTP/2 connections ghz opens: a number (ghz default 1) or per-client (one per concurrent call, like the REST load generator)',
  },
  rounds: { kind: 'number', min: 1, default: 1, help: 'passes over every cell, interleaved; each figure is the median over the passes' },
});
const seconds = flags.seconds as number;
const batches = String(flags.batches).split(',').map(Number);
const concurrencies = String(flags.concurrency).split(',').map(Number);

interface Proc {
  child: ChildProcess;
  pid: number;
  http: URL;
  grpc: string;
}

async function spawnServer(args: string[], nodeArgs: string[] = []): Promise<Proc> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /at (http:\/\/[^/\s]+)[/ ].*and gRPC (\S+)/.exec(err);
    if (m) return { child, pid: child.pid!, http: new URL(m[1]), grpc: m[2] };
    if (child.exitCode !== null) throw new Error(`${args[0]} exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${args[0]} did not start: ${err}`);
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null) return;
  p.child.kill('SIGTERM');
  await new Promise((r) => p.child.once('exit', r));
}

interface Cell {
  rowsPerSecond: number;
  p50: number;
  p99: number;
  /** CPU time (user + system) the server process spent per request, µs */
  serverCpuUs: number;
  /** CPU time the load generator spent per request, µs */
  clientCpuUs: number;
}

const TICK_US = 1e6 / 100; // USER_HZ: /proc times are in 1/100 s on Linux

/** CPU time (user + system) of a process so far, µs, from /proc (NaN where there is no /proc). */
function processCpuUs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US; // fields 14 and 15 (utime, stime), counted after the ")"
  } catch {
    return NaN;
  }
}

type Protocol = 'REST JSON' | 'REST binary' | 'gRPC';
const PROTOCOL_FLAGS: Readonly<Record<string, Protocol>> = { json: 'REST JSON', binary: 'REST binary', grpc: 'gRPC' };
const PROTOCOLS: readonly Protocol[] = listFlag('protocols', PROTOCOL_FLAGS);
const TARGETS = listFlag('targets', { server: 'model server', router: 'router (InRouter)' } as const);
const rounds = flags.rounds as number;
const grpcConnections = String(flags['grpc-connections']);
if (grpcConnections !== 'per-client' && !(Number(grpcConnections) >= 1)) {
  console.error(`bench/grpc: --grpc-connections: "${grpcConnections}" is neither per-client nor a number >= 1`);
  process.exit(2);
}
const nodeArgs = String(flags['node-args']).split(' ').filter(Boolean);

function listFlag<V>(name: string, known: Readonly<Record<string, V>>): V[] {
  return String(flags[name])
    .split(',')
    .map((w) => {
      const v = known[w.trim()];
      if (v === undefined) {
        console.error(`bench/grpc: --${name}: unknown "${w}" (use ${Object.keys(known).join(', ')})`);
        process.exit(2);
      }
      return v;
    });
}

/** Median of each figure over the rounds of one cell (load on a shared machine comes and goes). */
function medianCell(cells: Cell[]): Cell {
  const med = (f: (c: Cell) => number) => percentile(cells.map(f), 50);
  return {
    rowsPerSecond: med((c) => c.rowsPerSecond),
    p50: med((c) => c.p50),
    p99: med((c) => c.p99),
    serverCpuUs: med((c) => c.serverCpuUs),
    clientCpuUs: med((c) => c.clientCpuUs),
  };
}

async function restCell(server: Proc, model: string, batch: number, c: number, binary: boolean): Promise<Cell> {
  const url = server.http;
  const data = images(batch);
  const enc = encodeInferRequest(
    { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28], data }] },
    { binaryInputs: binary, binaryOutputs: binary },
  );
  const bytes = httpRequestBytes(url.hostname, Number(url.port), `/v2/models/${model}/infer`, enc.headers, enc.body);
  const conns = await Promise.all(Array.from({ length: c }, () => LeanConnection.open(url.hostname, Number(url.port), bytes)));
  try {
    for (const k of conns) for (let i = 0; i < 20; i++) await k.roundTrip(); // warm-up
    const lat: number[] = [];
    const end = performance.now() + seconds * 1000;
    const cpu0 = process.cpuUsage();
    const srv0 = processCpuUs(server.pid);
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (k) => {
        while (performance.now() < end) {
          const ts = performance.now();
          await k.roundTrip();
          lat.push(performance.now() - ts);
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    const srv = processCpuUs(server.pid) - srv0;
    const cpu = process.cpuUsage(cpu0);
    return {
      rowsPerSecond: (lat.length * batch) / wall,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      serverCpuUs: srv / lat.length,
      clientCpuUs: (cpu.user + cpu.system) / lat.length,
    };
  } finally {
    for (const k of conns) k.close();
  }
}

interface GhzReport {
  count: number;
  /** ns */
  total: number;
  rps: number;
  latencyDistribution: Array<{ percentage: number; latency: number }> | null;
  statusCodeDistribution?: Record<string, number>;
  errorDistribution?: Record<string, number>;
}

async function grpcCell(ghz: string, dir: string, server: Proc, model: string, batch: number, c: number): Promise<Cell> {
  const address = server.grpc;
  const data = images(batch);
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  const file = path.join(dir, `req-${model}-${batch}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      model_name: model,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28] }],
      raw_input_contents: [raw],
    }),
  );
  const common = [
    '--insecure',
    '--proto',
    PROTO_PATH,
    '--import-paths',
    path.dirname(PROTO_PATH),
    '--call',
    'inference.GRPCInferenceService.ModelInfer',
    '-D',
    file,
    '-c',
    String(c),
    `--connections=${grpcConnections === 'per-client' ? c : Math.min(c, Number(grpcConnections))}`,
    address,
  ];
  await run(ghz, [...common.slice(0, -1), '-n', String(20 * c), address], { maxBuffer: 64 << 20 }); // warm-up
  // through bash, whose `times` prints the CPU time its children (ghz) used: the load generator's cost
  const srv0 = processCpuUs(server.pid);
  const { stdout, stderr } = await run(
    'bash',
    ['-c', '"$@" && times >&2', 'ghz', ghz, '-O', 'json', '-z', `${Math.round(seconds * 1000)}ms`, ...common],
    { maxBuffer: 64 << 20 },
  );
  const srv = processCpuUs(server.pid) - srv0;
  const r = JSON.parse(stdout) as GhzReport;
  const ok = r.statusCodeDistribution?.OK ?? 0;
  // With -z, the calls still in flight when the time is up are cut (at most c); any other failure counts.
  if (ok === 0 || r.count - ok > c)
    throw new Error(`ghz: calls failed: ${JSON.stringify(r.errorDistribution ?? r.statusCodeDistribution)}`);
  const at = (p: number) => (r.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? NaN) / 1e6;
  return {
    rowsPerSecond: (ok * batch) / (r.total / 1e9),
    p50: at(50),
    p99: at(99),
    serverCpuUs: srv / r.count,
    clientCpuUs: childCpuUs(stderr) / r.count,
  };
}

/** The children's CPU time from bash's `times` (second line: "0m1.230s 0m0.450s"), µs. */
function childCpuUs(timesOutput: string): number {
  const lines = timesOutput.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (!m) return NaN;
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1e6;
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

async function main(): Promise<void> {
  const { stdout } = await run('bash', [BUILD_TOOLS, 'ghz'], { maxBuffer: 16 << 20 });
  const ghz = stdout.trim().split('\n').pop()!;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tinysaver-grpc-bench-'));
  const saver = await spawnServer(
    [
      'serve-model',
      '--model',
      zooModelPath(flags.saver as string),
      '--name',
      'saver',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--max-queue-delay-ms',
      '0',
      '--inference-thread',
      'main',
      '--intra-op-threads',
      '1',
    ],
    nodeArgs,
  );
  const base = await spawnServer([
    'serve-model',
    '--model',
    zooModelPath(flags.base as string),
    '--name',
    'base',
    '--port',
    '0',
    '--grpc-port',
    '0',
    '--intra-op-threads',
    '1',
  ]);
  const router = await spawnServer(
    [
      'route',
      '--port',
      '0',
      '--grpc-port',
      '0',
      '--saver-onnx',
      zooModelPath(flags.saver as string),
      '--saver-model',
      'saver',
      '--base-url',
      base.http.origin,
      '--base-model',
      'base',
      '--threshold',
      '0',
      '--audit-rate',
      '0',
    ],
    nodeArgs,
  );
  const load = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  console.log(
    `machine: ${os.availableParallelism()} CPUs, load average ${load} at start; ${seconds} s per cell, ${rounds} round(s); saver ${flags.saver}`,
  );
  const targets = [
    { label: 'model server', proc: saver, model: 'saver' },
    { label: 'router (InRouter)', proc: router, model: 'cascade' },
  ].filter((t) => (TARGETS as string[]).includes(t.label));
  const runs = new Map<string, Cell[]>();
  const key = (t: string, p: Protocol, b: number, c: number) => `${t}|${p}|${b}|${c}`;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const b of batches) {
        for (const c of concurrencies) {
          for (const t of targets) {
            for (const p of PROTOCOLS) {
              const cell =
                p === 'gRPC' ? await grpcCell(ghz, dir, t.proc, t.model, b, c) : await restCell(t.proc, t.model, b, c, p === 'REST binary');
              const k = key(t.label, p, b, c);
              runs.set(k, [...(runs.get(k) ?? []), cell]);
            }
          }
        }
      }
    }
  } finally {
    await Promise.all([stop(router), stop(saver), stop(base)]);
    rmSync(dir, { recursive: true, force: true });
  }
  const results = new Map([...runs].map(([k, cells]) => [k, medianCell(cells)]));
  const rows: string[][] = [];
  for (const t of targets) {
    for (const b of batches) {
      for (const c of concurrencies) {
        for (const p of PROTOCOLS) {
          const r = results.get(key(t.label, p, b, c))!;
          rows.push([
            t.label,
            p,
            String(b),
            String(c),
            fmt(r.rowsPerSecond),
            fmt(r.p50, 3),
            fmt(r.p99, 3),
            fmt(r.serverCpuUs),
            fmt(r.clientCpuUs),
          ]);
        }
      }
    }
  }
  console.log(
    `\nThroughput and latency (CPU: user + system time per request of the server process and of the load generator)\n${formatTable(
      ['target', 'protocol', 'batch', 'conc', 'rows/s', 'p50 ms', 'p99 ms', 'server CPU µs', 'client CPU µs'],
      rows,
      (i) => i < 2,
    )}`,
  );

  const over: string[][] = [];
  for (const b of batches) {
    for (const p of PROTOCOLS) {
      const s = results.get(key('model server', p, b, 1));
      const r = results.get(key('router (InRouter)', p, b, 1));
      if (s && r) over.push([p, String(b), fmt(s.p50, 3), fmt(r.p50, 3), fmt(r.p50 - s.p50, 3)]);
    }
  }
  console.log(
    `\nRouter overhead at concurrency 1 (router p50 - model server p50)\n${formatTable(['protocol', 'batch', 'server p50', 'router p50', 'added ms'], over, (i) => i < 1)}`,
  );

  const tgt: string[][] = [];
  for (const t of targets) {
    for (const c of concurrencies) {
      const g = results.get(key(t.label, 'gRPC', 32, c));
      const h = results.get(key(t.label, 'REST binary', 32, c));
      if (g && h) tgt.push([t.label, String(c), fmt(g.rowsPerSecond), fmt(h.rowsPerSecond), fmt(g.rowsPerSecond / h.rowsPerSecond, 2)]);
    }
  }
  if (tgt.length > 0)
    console.log(
      `\nTarget: gRPC >= REST binary at batch 32\n${formatTable(['target', 'conc', 'gRPC rows/s', 'binary rows/s', 'ratio'], tgt, (i) => i < 1)}`,
    );
  console.log(
    `\nload average at end: ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
}

main().catch((e) => {
  console.error(`bench/grpc: ${(e as Error).message}`);
  process.exit(1);
});
