// `tinysaver replay`: stream the labelled Fashion-MNIST test set through any v2 endpoint (the
// cascade router, a model server, Triton) and summarise what a user of the cascade cares about:
// how much the saver answered, accuracy vs the base, compute relative to the base, latency.

import { performance } from 'node:perf_hooks';
import { V2Client } from '../oip/client.js';
import type { InferResponse } from '../oip/types.js';
import { dataToNumbers } from '../oip/tensor-data.js';
import { parseRoutes } from '../router/row-params.js';

export interface LabelledSet {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface ReplayTarget {
  url: string;
  model: string;
}

export interface ReplayOptions {
  batchSize: number;
  concurrency: number;
  timeoutMs: number;
  onProgress?: (done: number, total: number) => void;
  /** rows to send in all (default data.count); more than data.count cycles the set; Infinity runs until `signal` aborts */
  rows?: number;
  /** cap on rows per second (default: as fast as the endpoint answers) */
  rate?: number;
  /** rewrites a batch's images before it is sent (drift injection); firstRow is the stream position */
  transform?: (images: Float32Array, firstRow: number) => Float32Array;
  /** also send every batch to this endpoint (e.g. the base alone): accuracy of both on the same rows */
  pair?: ReplayTarget;
  /** stop sending new batches (requests in flight are still answered and counted) */
  signal?: AbortSignal;
  /** every answered batch, in completion order */
  onBatch?: (b: BatchResult) => void;
}

export interface BatchResult {
  firstRow: number;
  rows: number;
  correct: number;
  /** rows per route (empty for a plain model) */
  routes: Record<string, number>;
  /** the pair endpoint's correct answers on the same rows (when `pair` is set) */
  pairCorrect?: number;
  /** the cascade's tinysaver_threshold response parameter */
  threshold?: number;
}

export interface RunStats {
  samples: number;
  correct: number;
  /** rows per route from the cascade's tinysaver_routes parameter; empty for a plain model */
  routes: Record<string, number>;
  /** per-request latency in ms, in completion order */
  latenciesMs: number[];
  wallSeconds: number;
  /** with `pair`: that endpoint's correct answers on the same rows */
  pairCorrect?: number;
}

const ROW_SIZE = 784;

function argmaxRows(res: InferResponse, rows: number): Int32Array {
  const out = res.outputs[0];
  if (!out) throw new Error(`response of "${res.model_name}" has no outputs`);
  if (out.shape[0] !== rows) throw new Error(`output "${out.name}" has shape [${out.shape.join(',')}] for ${rows} rows`);
  const scores = out.datatype === 'FP32' || out.datatype === 'FP64' ? (out.data as Float32Array) : dataToNumbers(out.datatype, out.data);
  const classes = scores.length / rows;
  const top = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[r * classes + c] > scores[r * classes + best]) best = c;
    top[r] = best;
  }
  return top;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Sends the samples (`opts.rows` of them, cycling the set; default every sample once), `concurrency`
 * requests in flight, paced to `opts.rate`, and scores the answers against the labels.
 */
export async function replayDataset(target: ReplayTarget, data: LabelledSet, opts: ReplayOptions): Promise<RunStats> {
  const client = new V2Client(target.url, { timeoutMs: opts.timeoutMs, maxSockets: opts.concurrency });
  const pairClient = opts.pair ? new V2Client(opts.pair.url, { timeoutMs: opts.timeoutMs, maxSockets: opts.concurrency }) : undefined;
  try {
    const meta = await client.metadata(target.model);
    const input = meta.inputs[0];
    if (!input) throw new Error(`model "${target.model}" at ${target.url} declares no inputs`);
    const pairInput = opts.pair ? (await pairClient!.metadata(opts.pair.model)).inputs[0] : undefined;
    if (opts.pair && !pairInput) throw new Error(`model "${opts.pair.model}" at ${opts.pair.url} declares no inputs`);
    const stats: RunStats = {
      samples: 0,
      correct: 0,
      routes: {},
      latenciesMs: [],
      wallSeconds: 0,
      ...(opts.pair ? { pairCorrect: 0 } : {}),
    };
    const total = opts.rows ?? data.count;
    const batches = Math.ceil(total / opts.batchSize);
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      for (;;) {
        if (opts.signal?.aborted) return;
        const b = next++;
        if (b >= batches) return;
        const first = b * opts.batchSize;
        if (opts.rate) await sleep(t0 + (first / opts.rate) * 1000 - performance.now(), opts.signal);
        if (opts.signal?.aborted) return;
        const rows = Math.min(opts.batchSize, total - first);
        // rows first .. first+rows of the stream, cycling the set (a batch may wrap around its end)
        const start = first % data.count;
        let images = data.images.subarray(start * ROW_SIZE, Math.min(data.count, start + rows) * ROW_SIZE);
        const labels = new Uint8Array(rows);
        for (let r = 0; r < rows; r++) labels[r] = data.labels[(start + r) % data.count];
        if (start + rows > data.count) {
          const joined = new Float32Array(rows * ROW_SIZE);
          for (let r = 0; r < rows; r++)
            joined.set(
              data.images.subarray(((start + r) % data.count) * ROW_SIZE, (((start + r) % data.count) + 1) * ROW_SIZE),
              r * ROW_SIZE,
            );
          images = joined;
        }
        if (opts.transform) images = opts.transform(images, first);
        const shape = (inp: { shape: number[] }) => (inp.shape.length === 4 ? [rows, 1, 28, 28] : [rows, ROW_SIZE]);
        const ts = performance.now();
        const [res, pairRes] = await Promise.all([
          client.infer(target.model, { inputs: [{ name: input.name, datatype: 'FP32', shape: shape(input), data: images }] }),
          pairClient
            ? pairClient.infer(opts.pair!.model, {
                inputs: [{ name: pairInput!.name, datatype: 'FP32', shape: shape(pairInput!), data: images }],
              })
            : undefined,
        ]);
        stats.latenciesMs.push(performance.now() - ts);
        const top = argmaxRows(res, rows);
        const batch: BatchResult = { firstRow: first, rows, correct: 0, routes: {} };
        for (let r = 0; r < rows; r++) if (top[r] === labels[r]) batch.correct++;
        for (const route of parseRoutes(res.parameters)) batch.routes[route] = (batch.routes[route] ?? 0) + 1;
        const t = res.parameters?.tinysaver_threshold;
        if (typeof t === 'number') batch.threshold = t;
        if (pairRes) {
          const pairTop = argmaxRows(pairRes, rows);
          batch.pairCorrect = 0;
          for (let r = 0; r < rows; r++) if (pairTop[r] === labels[r]) batch.pairCorrect++;
          stats.pairCorrect = (stats.pairCorrect ?? 0) + batch.pairCorrect;
        }
        stats.correct += batch.correct;
        for (const [k, v] of Object.entries(batch.routes)) stats.routes[k] = (stats.routes[k] ?? 0) + v;
        stats.samples += rows;
        opts.onProgress?.(stats.samples, total);
        opts.onBatch?.(batch);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, batches) }, worker));
    stats.wallSeconds = (performance.now() - t0) / 1000;
    return stats;
  } finally {
    client.close();
    pairClient?.close();
  }
}

/** Nearest-rank percentile (p in [0, 100]) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** (macs_saver + escalatedShare * macs_base) / macs_base: compute per sample relative to the base alone. */
export function relativeCompute(saverMacs: number, baseMacs: number, escalatedShare: number): number {
  return (saverMacs + escalatedShare * baseMacs) / baseMacs;
}

export interface ReplaySummaryInput {
  label: string;
  cascade: RunStats;
  base?: RunStats;
  /** base accuracy from the model manifest when the base was not replayed */
  baseAccuracyFromManifest?: { model: string; accuracy: number };
  macs?: { saver: string; saverMacs: number; base: string; baseMacs: number };
  /** what drift was injected (replay --drift), one line */
  drift?: string;
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'n/a');

export function formatReplaySummary(s: ReplaySummaryInput): string {
  const c = s.cascade;
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(20)} ${v}`);
  row('samples', `${c.samples} through ${s.label} in ${c.wallSeconds.toFixed(2)} s (${(c.samples / c.wallSeconds).toFixed(0)} samples/s)`);
  if (s.drift) row('drift', s.drift);
  const routed = Object.values(c.routes).reduce((a, b) => a + b, 0);
  let escalatedShare: number | undefined;
  if (routed > 0) {
    const saver = c.routes.saver ?? 0;
    escalatedShare = (routed - saver) / routed;
    const detail = Object.entries(c.routes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    row('saver share', `${pct(saver / routed)}  (${detail})`);
  } else {
    row('saver share', 'n/a (the endpoint returns no tinysaver_routes: not a cascade)');
  }
  row('accuracy', `${pct(c.correct / c.samples)}`);
  if (s.base) {
    row('base accuracy', `${pct(s.base.correct / s.base.samples)}  (measured, base only)`);
  } else if (c.pairCorrect !== undefined && c.samples > 0) {
    row('base accuracy', `${pct(c.pairCorrect / c.samples)}  (measured on the same rows, base only)`);
  } else if (s.baseAccuracyFromManifest) {
    row('base accuracy', `${pct(s.baseAccuracyFromManifest.accuracy)}  (${s.baseAccuracyFromManifest.model}, from the model manifest)`);
  }
  if (s.macs && escalatedShare !== undefined) {
    const rc = relativeCompute(s.macs.saverMacs, s.macs.baseMacs, escalatedShare);
    row(
      'relative compute',
      `${rc.toFixed(3)} x base  (${s.macs.saver} ${s.macs.saverMacs} MACs + ${pct(escalatedShare)} of ${s.macs.base} ${s.macs.baseMacs} MACs; audits not counted)`,
    );
  } else {
    row('relative compute', 'n/a (saver/base MACs unknown: pass --saver-zoo and --base-zoo)');
  }
  row('latency p50 / p99', `${ms(percentile(c.latenciesMs, 50))} / ${ms(percentile(c.latenciesMs, 99))}  (per request)`);
  if (s.base) {
    row(
      'base-only p50 / p99',
      `${ms(percentile(s.base.latenciesMs, 50))} / ${ms(percentile(s.base.latenciesMs, 99))}  (${(s.base.samples / s.base.wallSeconds).toFixed(0)} samples/s)`,
    );
  }
  return lines.join('\n');
}
