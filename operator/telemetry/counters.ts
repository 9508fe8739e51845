// The router's cumulative telemetry as the controller needs it: per-bucket (non-cumulative) counts
// of the shared confidence grid plus a few scalar counters. One flat shape is used for cumulative
// snapshots, per-interval deltas and window sums, so deltas and windows are plain vector arithmetic.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';

/** Histograms kept per bucket; each has CONFIDENCE_BUCKETS.length + 1 entries (the last is +Inf). */
export const HISTOGRAM_KEYS = ['all', 'escalatedAgree', 'escalatedDisagree', 'auditAgree', 'auditDisagree'] as const;
export type HistogramKey = (typeof HISTOGRAM_KEYS)[number];
export const SCALAR_KEYS = ['rowsSaver', 'rowsBase', 'rowsFallback', 'auditDropped', 'requests', 'baseFailures'] as const;
export type ScalarKey = (typeof SCALAR_KEYS)[number];

export type RouterCounters = Record<HistogramKey, number[]> & Record<ScalarKey, number>;

export function bucketCount(edges: readonly number[] = CONFIDENCE_BUCKETS): number {
  return edges.length + 1;
}

export function zeroCounters(edges: readonly number[] = CONFIDENCE_BUCKETS): RouterCounters {
  const n = bucketCount(edges);
  const c = {} as RouterCounters;
  for (const k of HISTOGRAM_KEYS) c[k] = new Array<number>(n).fill(0);
  for (const k of SCALAR_KEYS) c[k] = 0;
  return c;
}

export function cloneCounters(a: RouterCounters): RouterCounters {
  const c = {} as RouterCounters;
  for (const k of HISTOGRAM_KEYS) c[k] = a[k].slice();
  for (const k of SCALAR_KEYS) c[k] = a[k];
  return c;
}

/** a += b, in place; returns a. */
export function addInto(a: RouterCounters, b: RouterCounters): RouterCounters {
  for (const k of HISTOGRAM_KEYS) {
    const x = a[k];
    const y = b[k];
    if (x.length !== y.length) throw new RangeError(`addInto: ${k} has ${y.length} buckets, expected ${x.length}`);
    for (let i = 0; i < x.length; i++) x[i] += y[i];
  }
  for (const k of SCALAR_KEYS) a[k] += b[k];
  return a;
}

/** a - b (new object). */
export function subtract(a: RouterCounters, b: RouterCounters): RouterCounters {
  const c = cloneCounters(a);
  for (const k of HISTOGRAM_KEYS) {
    if (a[k].length !== b[k].length) throw new RangeError(`subtract: ${k} bucket counts differ`);
    for (let i = 0; i < a[k].length; i++) c[k][i] -= b[k][i];
  }
  for (const k of SCALAR_KEYS) c[k] -= b[k];
  return c;
}

/** The name of the first counter of `cur` that went below `prev` (a counter reset), or undefined. */
export function firstDecrease(cur: RouterCounters, prev: RouterCounters): string | undefined {
  for (const k of HISTOGRAM_KEYS) {
    if (cur[k].length !== prev[k].length) return `${k} (bucket grid changed)`;
    for (let i = 0; i < cur[k].length; i++) if (cur[k][i] < prev[k][i]) return `${k}[${i}]`;
  }
  for (const k of SCALAR_KEYS) if (cur[k] < prev[k]) return k;
  return undefined;
}

export function totalRows(c: RouterCounters): number {
  let s = 0;
  for (const v of c.all) s += v;
  return s;
}

export function sumOf(xs: readonly number[]): number {
  let s = 0;
  for (const v of xs) s += v;
  return s;
}
