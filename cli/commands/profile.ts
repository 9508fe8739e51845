// `tinysaver profile MODEL.onnx`: parameters, MACs and FLOPs from the ONNX graph (batch = 1).
// `tinysaver profile MODEL.onnx --measure`: measured capacity (rows/s per replica and per core, p50/p99 per
// batch size) with onnxruntime on this machine, optionally saved for `tinysaver roi`.

import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formatProfile, profileOnnxBytes } from '../../runtime/profile/profile.js';
import { type CapacityProfile, DEFAULT_BATCHES, formatCapacity, measureCapacity } from '../../runtime/profile/measure.js';
import { PROVIDERS, type Provider } from '../../runtime/onnx/session.js';
import { resolveModel } from '../../runtime/simulate/inputs.js';

const HELP = `Usage: tinysaver profile MODEL.onnx [MODEL2.onnx ...] [--json]
       tinysaver profile MODEL.onnx [MODEL2.onnx ...] --measure [--provider cpu|cuda] [--threads N]
                         [--batch-sizes 1,4,16,64,256] [--seconds S] [--out FILE.json] [--json]

Parameters and multiply-accumulates (MACs; FLOPs = 2 x MACs) per operator and in total, from the
ONNX graph with shape inference, for one sample (symbolic batch dimensions are taken as 1).
MACs count Conv, ConvTranspose, Gemm and MatMul; other ops cost 0 MACs. Ops the profiler does not
know are listed, and the total is then marked as a lower bound.

With --measure: runs the model with onnxruntime on this machine at each batch size, one run at a time
(what one replica does), on seeded random inputs, and reports per batch size the latency of one run
(p50/p99) and the rows per second one replica sustains, per replica and per core (a replica = --threads
intra-op threads = that many cores). The best batch size is the replica's capacity. --out saves the
numbers (JSON) for \`tinysaver roi --saver-capacity FILE --base-capacity FILE\`. The numbers describe
this machine at this moment: the output names the CPU and the load average before and after.
MODEL may be a file or a bundled zoo model name (e.g. base-cnn).

Flags:
  --json               print machine-readable JSON (one object, or an array for several models) (default: false)
  --measure            measure capacity with onnxruntime instead of counting MACs (default: false)
  --provider P         execution provider for --measure: cpu or cuda (cuda needs a GPU and a CUDA build of onnxruntime-node) (default: cpu)
  --threads N          intra-op threads = cores of one replica, for --measure (default: 1)
  --batch-sizes LIST   comma-separated batch sizes for --measure (default: ${DEFAULT_BATCHES.join(',')})
  --seconds S          time per batch size, for --measure (at least 20 runs each) (default: 1)
  --out FILE.json      write the measured capacity (one object, or an array for several models)
  --help               show this help`;

const MAX_MODEL_BYTES = 2 * 1024 ** 3;

function positiveInt(flag: string, s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${s}" is not an integer >= 1`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean' },
        measure: { type: 'boolean' },
        provider: { type: 'string' },
        threads: { type: 'string' },
        'batch-sizes': { type: 'string' },
        seconds: { type: 'string' },
        out: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    console.error(`tinysaver profile: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(HELP);
    return 0;
  }
  const files = parsed.positionals;
  if (files.length === 0) {
    console.error(`tinysaver profile: MODEL.onnx is required\n\n${HELP}`);
    return 2;
  }
  if (v.measure) return measure(files, v);
  for (const flag of ['provider', 'threads', 'batch-sizes', 'seconds', 'out'] as const) {
    if (v[flag] !== undefined) {
      console.error(`tinysaver profile: --${flag} needs --measure`);
      return 2;
    }
  }
  const results = [];
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      console.error(`tinysaver profile: cannot read ${file}: ${(e as Error).message}`);
      return 2;
    }
    if (bytes.length > MAX_MODEL_BYTES) {
      console.error(`tinysaver profile: ${file} is larger than 2 GiB`);
      return 2;
    }
    try {
      results.push({ file, ...profileOnnxBytes(bytes) });
    } catch (e) {
      console.error(`tinysaver profile: ${file} is not a readable ONNX model: ${(e as Error).message}`);
      return 2;
    }
  }
  if (parsed.values.json) {
    console.log(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
  } else {
    console.log(results.map((r) => formatProfile(r, r.file)).join('\n\n'));
  }
  return 0;
}

async function measure(files: string[], v: Record<string, string | boolean | undefined>): Promise<number> {
  let provider: Provider;
  let threads: number;
  let batchSizes: number[];
  let seconds: number;
  try {
    provider = ((v.provider as string | undefined) ?? 'cpu') as Provider;
    if (!PROVIDERS.includes(provider)) throw new Error(`--provider: "${provider}" is not one of ${PROVIDERS.join(', ')}`);
    threads = v.threads === undefined ? 1 : positiveInt('--threads', v.threads as string);
    batchSizes =
      v['batch-sizes'] === undefined
        ? [...DEFAULT_BATCHES]
        : (v['batch-sizes'] as string).split(',').map((s) => positiveInt('--batch-sizes', s.trim()));
    seconds = v.seconds === undefined ? 1 : Number(v.seconds);
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new Error(`--seconds: "${v.seconds}" is not a number > 0`);
  } catch (e) {
    console.error(`tinysaver profile: ${(e as Error).message}`);
    return 2;
  }
  const results: CapacityProfile[] = [];
  for (const file of files) {
    try {
      const path = resolveModel(file);
      process.stderr.write(`profile: measuring ${path} on ${provider} (${batchSizes.length} batch sizes, ~${seconds} s each)\n`);
      results.push(
        await measureCapacity(path, { provider, threads, batchSizes, minSeconds: seconds }, (m) =>
          process.stderr.write(`  batch ${m.batch}: ${m.rowsPerSecond.toFixed(0)} rows/s\n`),
        ),
      );
    } catch (e) {
      console.error(`tinysaver profile: ${file}: ${(e as Error).message}`);
      return 2;
    }
  }
  const json = JSON.stringify(results.length === 1 ? results[0] : results, null, 2);
  if (v.out) await writeFile(v.out as string, json + '\n');
  console.log(v.json ? json : results.map(formatCapacity).join('\n\n'));
  return 0;
}
