// Measured capacity of one model replica: onnxruntime runs of the model at a range of batch sizes, one
// run at a time (a replica serves one batch at a time), on this machine. Reports, per batch size, the
// latency of one run (p50/p99) and the rows per second one replica sustains, per replica and per core;
// the best of them is the replica's capacity, which `tinysaver roi` sizes Deployments with.
//
// The numbers describe this machine at the time of the run: the file records the CPU, the core count and
// the load average before and after, so a reader can tell a quiet machine from a shared one.

import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { seededRandom } from '../../core/random.js';
import { formatTable } from '../../core/text/table.js';
import type { Datatype, TensorData, TensorMetadata } from '../oip/types.js';
import { type OnnxModel, type Provider, type TensorLike, loadOnnxModel } from '../onnx/session.js';
import { percentile } from '../replay/replay.js';

/** Marks a capacity file (`tinysaver profile --measure --out FILE`), so roi can refuse other JSON. */
export const CAPACITY_KIND = 'tinysaver.capacity/v1';

export interface MeasureOptions {
  provider?: Provider;
  /** intra-op threads of the session = cores one replica uses (CPU provider); default 1 */
  threads?: number;
  /** batch sizes to run (default DEFAULT_BATCHES) */
  batchSizes?: readonly number[];
  /** per batch size: keep running until both this many seconds and minRuns have passed (default 1 s) */
  minSeconds?: number;
  /** per batch size: at least this many timed runs (default 20) */
  minRuns?: number;
  /** per batch size: at most this many timed runs (default 100000) */
  maxRuns?: number;
  /** untimed runs first, per batch size (default 3) */
  warmup?: number;
  /** seed of the random input values (default 1) */
  seed?: number;
}

export const DEFAULT_BATCHES: readonly number[] = [1, 4, 16, 64, 256];

export interface BatchMeasurement {
  batch: number;
  runs: number;
  /** latency of one run of `batch` rows, milliseconds */
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** rows per second one replica sustains at this batch size: batch x runs / time */
  rowsPerSecond: number;
  /** rowsPerSecond / cores (null for the CUDA provider, where the GPU does the work) */
  rowsPerSecondPerCore: number | null;
}

export interface CapacityProfile {
  kind: typeof CAPACITY_KIND;
  model: string;
  provider: Provider;
  /** cores one replica uses: the session's intra-op threads (CPU provider) */
  cores: number;
  machine: { cpu: string; logicalCpus: number; loadAverage1mBefore: number; loadAverage1mAfter: number };
  measuredAt: string;
  batches: BatchMeasurement[];
  /** the batch size with the most rows per second: the replica's capacity */
  capacity: { batch: number; rowsPerSecond: number; rowsPerSecondPerCore: number | null };
}

/** Per-batch statistics from the run times (ms) of one batch size and the wall time they took (pure). */
export function summarizeRuns(batch: number, runTimesMs: readonly number[], wallMs: number, cores: number | null): BatchMeasurement {
  if (runTimesMs.length === 0) throw new RangeError('summarizeRuns: no runs');
  if (!(wallMs > 0)) throw new RangeError(`summarizeRuns: wall time must be > 0 ms, got ${wallMs}`);
  const rowsPerSecond = (batch * runTimesMs.length) / (wallMs / 1000);
  return {
    batch,
    runs: runTimesMs.length,
    p50Ms: percentile(runTimesMs, 50),
    p99Ms: percentile(runTimesMs, 99),
    meanMs: runTimesMs.reduce((a, b) => a + b, 0) / runTimesMs.length,
    rowsPerSecond,
    rowsPerSecondPerCore: cores === null ? null : rowsPerSecond / cores,
  };
}

/** The measurement with the most rows per second (pure). */
export function bestBatch(batches: readonly BatchMeasurement[]): CapacityProfile['capacity'] {
  if (batches.length === 0) throw new RangeError('bestBatch: no measurements');
  const b = batches.reduce((x, y) => (y.rowsPerSecond > x.rowsPerSecond ? y : x));
  return { batch: b.batch, rowsPerSecond: b.rowsPerSecond, rowsPerSecondPerCore: b.rowsPerSecondPerCore };
}

function typedArray(datatype: Datatype, n: number, rnd: () => number): TensorData {
  switch (datatype) {
    case 'FP32':
      return Float32Array.from({ length: n }, rnd);
    case 'FP64':
      return Float64Array.from({ length: n }, rnd);
    case 'INT8':
      return new Int8Array(n);
    case 'UINT8':
      return new Uint8Array(n);
    case 'INT16':
      return new Int16Array(n);
    case 'UINT16':
      return new Uint16Array(n);
    case 'INT32':
      return new Int32Array(n);
    case 'UINT32':
      return new Uint32Array(n);
    case 'INT64':
      return new BigInt64Array(n);
    case 'UINT64':
      return new BigUint64Array(n);
    case 'BOOL':
      return new Uint8Array(n);
    default:
      throw new Error(`input datatype ${datatype} is not supported by --measure (numeric tensors only)`);
  }
}

/**
 * Input tensors of `batch` rows: the leading dimension is the batch (it must be dynamic, or equal to the
 * batch), every other dimension must be fixed. Values are seeded uniform [0, 1) floats or integer zeros.
 */
export function syntheticInputs(inputs: readonly TensorMetadata[], batch: number, seed = 1): Record<string, TensorLike> {
  const rnd = seededRandom(seed);
  const feeds: Record<string, TensorLike> = {};
  for (const m of inputs) {
    if (m.shape.length === 0) throw new Error(`input '${m.name}' is a scalar; --measure needs a leading batch dimension`);
    if (m.shape[0] !== -1 && m.shape[0] !== batch) {
      throw new Error(`input '${m.name}' has a fixed batch dimension ${m.shape[0]}; run --measure with --batch-sizes ${m.shape[0]}`);
    }
    const rest = m.shape.slice(1);
    const dyn = rest.findIndex((d) => d < 0);
    if (dyn >= 0)
      throw new Error(
        `input '${m.name}' has a dynamic dimension at axis ${dyn + 1} (shape [${m.shape.join(', ')}]); --measure needs every dimension but the batch fixed`,
      );
    const shape = [batch, ...rest];
    const n = shape.reduce((a, b) => a * b, 1);
    feeds[m.name] = { datatype: m.datatype, shape, data: typedArray(m.datatype, n, rnd) };
  }
  return feeds;
}

/** Time `model` at each batch size (sequential runs). */
export async function measureModel(
  model: OnnxModel,
  o: MeasureOptions & { cores: number | null },
  onBatch?: (m: BatchMeasurement) => void,
): Promise<BatchMeasurement[]> {
  const minSeconds = o.minSeconds ?? 1;
  const minRuns = o.minRuns ?? 20;
  const maxRuns = o.maxRuns ?? 100_000;
  const warmup = o.warmup ?? 3;
  const out: BatchMeasurement[] = [];
  for (const batch of o.batchSizes ?? DEFAULT_BATCHES) {
    const feeds = syntheticInputs(model.inputs, batch, o.seed ?? 1);
    for (let i = 0; i < warmup; i++) await model.run(feeds);
    const times: number[] = [];
    const start = performance.now();
    let now = start;
    while (times.length < maxRuns && (times.length < minRuns || now - start < minSeconds * 1000)) {
      const t0 = performance.now();
      await model.run(feeds);
      now = performance.now();
      times.push(now - t0);
    }
    const m = summarizeRuns(batch, times, now - start, o.cores);
    out.push(m);
    onBatch?.(m);
  }
  return out;
}

/** Load the model file and measure it: the whole capacity profile. */
export async function measureCapacity(
  modelPath: string,
  o: MeasureOptions = {},
  onBatch?: (m: BatchMeasurement) => void,
): Promise<CapacityProfile> {
  const provider = o.provider ?? 'cpu';
  const threads = o.threads ?? 1;
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`threads must be an integer >= 1, got ${threads}`);
  const before = loadavg()[0];
  const model = await loadOnnxModel(modelPath, { provider, intraOpThreads: threads });
  try {
    const cores = provider === 'cpu' ? threads : null;
    const batches = await measureModel(model, { ...o, cores }, onBatch);
    return {
      kind: CAPACITY_KIND,
      model: modelPath,
      provider,
      cores: threads,
      machine: {
        cpu: cpus()[0]?.model.trim() ?? 'unknown',
        logicalCpus: cpus().length,
        loadAverage1mBefore: before,
        loadAverage1mAfter: loadavg()[0],
      },
      measuredAt: new Date().toISOString(),
      batches,
      capacity: bestBatch(batches),
    };
  } finally {
    await model.release();
  }
}

const fmt = (v: number, d = 0) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

export function formatCapacity(p: CapacityProfile): string {
  const perCore = (v: number | null) => (v === null ? 'n/a' : fmt(v));
  const rows = p.batches.map((b) => [
    String(b.batch),
    String(b.runs),
    b.p50Ms.toFixed(3),
    b.p99Ms.toFixed(3),
    fmt(b.rowsPerSecond),
    perCore(b.rowsPerSecondPerCore),
  ]);
  const c = p.capacity;
  return [
    `${p.model}: measured on ${p.provider.toUpperCase()}, one replica = ${p.provider === 'cpu' ? `${p.cores} intra-op thread(s) = ${p.cores} core(s)` : 'one GPU session'}`,
    `machine: ${p.machine.cpu}, ${p.machine.logicalCpus} logical CPUs, load average ${p.machine.loadAverage1mBefore.toFixed(2)} before / ${p.machine.loadAverage1mAfter.toFixed(2)} after`,
    '',
    formatTable(['batch', 'runs', 'p50 ms', 'p99 ms', 'rows/s per replica', 'rows/s per core'], rows),
    '',
    `capacity: ${fmt(c.rowsPerSecond)} rows/s per replica at batch ${c.batch}${c.rowsPerSecondPerCore === null ? '' : ` (${fmt(c.rowsPerSecondPerCore)} per core)`}`,
  ].join('\n');
}
