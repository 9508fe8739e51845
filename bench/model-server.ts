// Benchmark: `tinysaver serve-model` (child process, HTTP on 127.0.0.1, binary and JSON tensors)
// vs raw in-process session.run, at equal batch size. Prints a table; asserts nothing.
//
//   npm run build && node dist/bench/model-server.js [--seconds 1] [--rounds 3] [--batches 1,8,32] [--concurrency 4] [--models a,b] [--intra-op-threads N]
//
// Each request carries exactly one batch of B rows and the server runs with --max-batch-size B, so
// every session run has B rows on both sides. Target: server >= 0.9 x raw throughput.

import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { V2Client } from '../runtime/oip/client.js';
import type { InferRequest } from '../runtime/oip/types.js';
import { loadOnnxModel, type OnnxModel } from '../runtime/onnx/session.js';
import { loadZooManifest, zooModelPath } from '../models/zoo.js';
import { formatTable } from '../runtime/cli/table.js';
import { benchFlags } from './flags.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));

function images(rows: number): Float32Array {
  const out = new Float32Array(rows * 784);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = (s >>> 8) / 16777216;
  }
  return out;
}

async function rawThroughput(model: OnnxModel, batch: number, seconds: number): Promise<number> {
  const input = { input: { datatype: 'FP32' as const, shape: [batch, 1, 28, 28], data: images(batch) } };
  for (let i = 0; i < 10; i++) await model.run(input); // warm-up
  let rows = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    await model.run(input);
    rows += batch;
  }
  return rows / ((performance.now() - t0) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function startServer(modelPath: string, batch: number, threads: number): Promise<{ child: ChildProcess; url: string; name: string }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve-model', '--model', modelPath, '--port', '0', '--max-batch-size', String(batch), '--max-queue-delay-ms', '1', '--intra-op-threads', String(threads)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const m = /serving "([^"]+)" at (http:\/\/[^/\s]+)\//.exec(err);
    if (m) return { child, url: m[2], name: m[1] };
    if (child.exitCode !== null) throw new Error(`serve-model exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`serve-model did not start: ${err}`);
}

async function serverThroughput(
  client: V2Client,
  name: string,
  batch: number,
  seconds: number,
  concurrency: number,
  binary: boolean,
): Promise<number> {
  const req: InferRequest = { inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 1, 28, 28], data: images(batch) }] };
  for (let i = 0; i < 10; i++) await client.infer(name, req, { binary });
  let rows = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await client.infer(name, req, { binary });
      rows += batch;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return rows / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const values = benchFlags('node dist/bench/model-server.js [flags]', 'Model server vs in-process session.run at equal batch size (prints a table).', {
    seconds: { kind: 'string', default: '1', help: 'seconds per round' },
    rounds: { kind: 'string', default: '3', help: 'interleaved rounds (the median is reported)' },
    batches: { kind: 'string', default: '1,8,32', help: 'comma-separated batch sizes' },
    concurrency: { kind: 'string', default: '4', help: 'requests in flight' },
    models: { kind: 'string', help: 'comma-separated bundled models (default: all)' },
    'intra-op-threads': { kind: 'string', default: '0', help: 'onnxruntime threads (0: onnxruntime default)' },
  }) as Record<string, string | undefined>;
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const threads = Number(values['intra-op-threads']);
  const batches = values.batches!.split(',').map(Number);
  const concurrency = Number(values.concurrency);
  const manifest = loadZooManifest();
  const names = values.models ? values.models.split(',') : manifest.models.map((m) => m.name);

  const header = ['model', 'batch', 'raw rows/s', 'server bin rows/s', 'bin/raw', 'server JSON rows/s', 'JSON/raw'];
  const rows: string[][] = [];
  for (const name of names) {
    const path = zooModelPath(name);
    const model = await loadOnnxModel(path, { intraOpThreads: threads || undefined });
    for (const batch of batches) {
      const srv = await startServer(path, batch, threads);
      const client = new V2Client(srv.url, { maxSockets: concurrency });
      // Interleaved rounds, medians: the machine is shared, so load drifts during a run.
      const raw: number[] = [];
      const bin: number[] = [];
      const json: number[] = [];
      try {
        for (let r = 0; r < rounds; r++) {
          raw.push(await rawThroughput(model, batch, seconds));
          bin.push(await serverThroughput(client, srv.name, batch, seconds, concurrency, true));
          json.push(await serverThroughput(client, srv.name, batch, seconds, concurrency, false));
        }
        const [r, b, j] = [median(raw), median(bin), median(json)];
        rows.push([name, String(batch), r.toFixed(0), b.toFixed(0), (b / r).toFixed(2), j.toFixed(0), (j / r).toFixed(2)]);
        console.error(`  ${rows[rows.length - 1].join('  ')}`);
      } finally {
        client.close();
        srv.child.kill('SIGTERM');
        await new Promise((res) => srv.child.once('exit', res));
      }
    }
    await model.release();
  }
  console.log(`model server vs in-process session.run (equal batch size; ${concurrency} requests in flight; median of ${rounds} interleaved ${seconds}s rounds; intra-op threads ${threads || 'default'}; ${os.cpus().length} cores)`);
  console.log(formatTable(header, rows));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
