// Confidence histograms in the shape the threshold certification reads: per-bucket (NOT cumulative)
// counts on the shared grid (CONFIDENCE_BUCKETS, Prometheus `le` semantics, one extra +Inf bucket).
// The same shape comes from the router's metrics (operator/telemetry, as deltas over a window) and
// from per-row predictions offline (`tinysaver simulate`), so both run the same certification.

import { CONFIDENCE_BUCKETS, bucketIndex } from './buckets.js';

/**
 * Per-bucket row counts. Every array has `edges.length + 1` entries (the last is the +Inf bucket),
 * or `edges.length` (then +Inf counts as 0). Field names match the router's metrics:
 * - `all`: every saver row (tinysaver_confidence)
 * - `escalatedAgree` / `escalatedDisagree`: escalated rows the base answered, saver top-1 ==/!= base top-1
 *   (tinysaver_escalated_confidence{agree}); their disagreement is fully observed
 * - `auditAgree` / `auditDisagree`: audited saver-answered rows (tinysaver_audit_confidence{agree}),
 *   a random sample of the rows the saver answered
 */
export interface ConfidenceCounts {
  all: ArrayLike<number>;
  escalatedAgree: ArrayLike<number>;
  escalatedDisagree: ArrayLike<number>;
  auditAgree: ArrayLike<number>;
  auditDisagree: ArrayLike<number>;
}

export const COUNT_KEYS = ['all', 'escalatedAgree', 'escalatedDisagree', 'auditAgree', 'auditDisagree'] as const;
export type CountKey = (typeof COUNT_KEYS)[number];

/** Mutable counts with `edges.length + 1` buckets, all zero. */
export function emptyCounts(edges: readonly number[] = CONFIDENCE_BUCKETS): Record<CountKey, number[]> {
  const n = edges.length + 1;
  return {
    all: new Array<number>(n).fill(0),
    escalatedAgree: new Array<number>(n).fill(0),
    escalatedDisagree: new Array<number>(n).fill(0),
    auditAgree: new Array<number>(n).fill(0),
    auditDisagree: new Array<number>(n).fill(0),
  };
}

/**
 * How the rows of an offline data set are observed, i.e. which histogram they feed:
 * - `escalated`: every row was escalated, disagreement fully observed (exact bound, no sampling);
 * - `audit`: every row is an audit sample of saver-answered rows (Clopper-Pearson per stratum) —
 *   the role a held-out calibration split plays when the bound must generalise to new data;
 * - `live`: replay a router at threshold `t`: rows below t are escalated, rows at or above t are
 *   saver-answered and audited when `audited[i]` is true.
 */
export type RowRole = { kind: 'escalated' } | { kind: 'audit' } | { kind: 'live'; threshold: number; audited: ArrayLike<boolean> };

/**
 * Build counts from per-row saver confidence and saver/base agreement. Rows with a NaN confidence are
 * skipped (the router escalates them but they carry no confidence to bucket).
 */
export function countsFromRows(
  confidence: ArrayLike<number>,
  agree: ArrayLike<boolean>,
  role: RowRole,
  edges: readonly number[] = CONFIDENCE_BUCKETS,
): Record<CountKey, number[]> {
  if (confidence.length !== agree.length) {
    throw new RangeError(`countsFromRows: ${confidence.length} confidences but ${agree.length} agreement flags`);
  }
  if (role.kind === 'live' && role.audited.length !== confidence.length) {
    throw new RangeError(`countsFromRows: ${role.audited.length} audit flags for ${confidence.length} rows`);
  }
  const c = emptyCounts(edges);
  for (let i = 0; i < confidence.length; i++) {
    const v = confidence[i];
    if (Number.isNaN(v)) continue;
    const b = bucketIndex(v, edges);
    c.all[b]++;
    let observed: 'escalated' | 'audit' | 'none';
    if (role.kind === 'escalated') observed = 'escalated';
    else if (role.kind === 'audit') observed = 'audit';
    else if (v < role.threshold) observed = 'escalated';
    else observed = role.audited[i] ? 'audit' : 'none';
    if (observed === 'escalated') (agree[i] ? c.escalatedAgree : c.escalatedDisagree)[b]++;
    else if (observed === 'audit') (agree[i] ? c.auditAgree : c.auditDisagree)[b]++;
  }
  return c;
}

/**
 * Per-bucket counts from Prometheus cumulative `le` bucket counts (ascending edges, last = +Inf).
 * Throws if the cumulative counts decrease (not a histogram, or a mixed scrape).
 */
export function perBucketFromCumulative(cumulative: ArrayLike<number>): number[] {
  const out = new Array<number>(cumulative.length);
  let prev = 0;
  for (let i = 0; i < cumulative.length; i++) {
    const v = cumulative[i];
    if (!Number.isFinite(v) || v < prev) {
      throw new RangeError(`perBucketFromCumulative: bucket ${i} count ${v} is not finite or below the previous ${prev}`);
    }
    out[i] = v - prev;
    prev = v;
  }
  return out;
}

/** Lower edge of bucket `b` (0 for the first bucket; the last finite edge for +Inf). */
export function bucketLowerEdge(b: number, edges: readonly number[] = CONFIDENCE_BUCKETS): number {
  return b === 0 ? 0 : edges[b - 1];
}

/** Upper edge of bucket `b` (Infinity for the +Inf bucket). */
export function bucketUpperEdge(b: number, edges: readonly number[] = CONFIDENCE_BUCKETS): number {
  return b < edges.length ? edges[b] : Infinity;
}
