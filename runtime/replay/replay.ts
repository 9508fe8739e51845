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
}

export interface RunStats {
  samples: number;
  correct: number;
  /** rows per route from the cascade's tinysaver_routes parameter; empty for a plain model */
  routes: Record<string, number>;
  /** per-request latency in ms, in completion order */
  latenciesMs: number[];
  wallSeconds: number;
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

/** Sends every sample once, `concurrency` requests in flight, and scores the answers. */
export async function replayDataset(target: ReplayTarget, data: LabelledSet, opts: ReplayOptions): Promise<RunStats> {
  const client = new V2Client(target.url, { timeoutMs: opts.timeoutMs, maxSockets: opts.concurrency });
  try {
    const meta = await client.metadata(target.model);
    const input = meta.inputs[0];
    if (!input) throw new Error(`model "${target.model}" at ${target.url} declares no inputs`);
    const stats: RunStats = { samples: 0, correct: 0, routes: {}, latenciesMs: [], wallSeconds: 0 };
    const batches = Math.ceil(data.count / opts.batchSize);
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      for (;;) {
        const b = next++;
        if (b >= batches) return;
        const start = b * opts.batchSize;
        const rows = Math.min(opts.batchSize, data.count - start);
        const shape = input.shape.length === 4 ? [rows, 1, 28, 28] : [rows, ROW_SIZE];
        const ts = performance.now();
        const res = await client.infer(target.model, {
          inputs: [{ name: input.name, datatype: 'FP32', shape, data: data.images.subarray(start * ROW_SIZE, (start + rows) * ROW_SIZE) }],
        });
        stats.latenciesMs.push(performance.now() - ts);
        const top = argmaxRows(res, rows);
        for (let r = 0; r < rows; r++) if (top[r] === data.labels[start + r]) stats.correct++;
        for (const route of parseRoutes(res.parameters)) stats.routes[route] = (stats.routes[route] ?? 0) + 1;
        stats.samples += rows;
        opts.onProgress?.(stats.samples, data.count);
      }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, batches) }, worker));
    stats.wallSeconds = (performance.now() - t0) / 1000;
    return stats;
  } finally {
    client.close();
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
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ms` : 'n/a');

export function formatReplaySummary(s: ReplaySummaryInput): string {
  const c = s.cascade;
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`${k.padEnd(20)} ${v}`);
  row('samples', `${c.samples} through ${s.label} in ${c.wallSeconds.toFixed(2)} s (${(c.samples / c.wallSeconds).toFixed(0)} samples/s)`);
  const routed = Object.values(c.routes).reduce((a, b) => a + b, 0);
  let escalatedShare: number | undefined;
  if (routed > 0) {
    const saver = c.routes.saver ?? 0;
    escalatedShare = (routed - saver) / routed;
    const detail = Object.entries(c.routes).map(([k, v]) => `${k} ${v}`).join(', ');
    row('saver share', `${pct(saver / routed)}  (${detail})`);
  } else {
    row('saver share', 'n/a (the endpoint returns no tinysaver_routes: not a cascade)');
  }
  row('accuracy', `${pct(c.correct / c.samples)}`);
  if (s.base) {
    row('base accuracy', `${pct(s.base.correct / s.base.samples)}  (measured, base only)`);
  } else if (s.baseAccuracyFromManifest) {
    row('base accuracy', `${pct(s.baseAccuracyFromManifest.accuracy)}  (${s.baseAccuracyFromManifest.model}, from the model manifest)`);
  }
  if (s.macs && escalatedShare !== undefined) {
    const rc = relativeCompute(s.macs.saverMacs, s.macs.baseMacs, escalatedShare);
    row('relative compute', `${rc.toFixed(3)} x base  (${s.macs.saver} ${s.macs.saverMacs} MACs + ${pct(escalatedShare)} of ${s.macs.base} ${s.macs.baseMacs} MACs; audits not counted)`);
  } else {
    row('relative compute', 'n/a (saver/base MACs unknown: pass --saver-zoo and --base-zoo)');
  }
  row('latency p50 / p99', `${ms(percentile(c.latenciesMs, 50))} / ${ms(percentile(c.latenciesMs, 99))}  (per request)`);
  if (s.base) {
    row('base-only p50 / p99', `${ms(percentile(s.base.latenciesMs, 50))} / ${ms(percentile(s.base.latenciesMs, 99))}  (${(s.base.samples / s.base.wallSeconds).toFixed(0)} samples/s)`);
  }
  return lines.join('\n');
}
