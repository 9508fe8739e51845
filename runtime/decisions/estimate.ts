// What-if on logged traffic: from decision-log row records, estimate for every threshold s the saver share
// r(s) = P(conf >= s), the disagreement L(s) = P(conf >= s and saver != base) and the relative compute, and
// certify a threshold with the controller's bound (core/cascade/certify.ts, the same code).
//
// Weighting (inverse probability, Horvitz-Thompson). A record carries the rates in force when its row was
// decided (a = audit rate, r = sample rate), so its inclusion probabilities are known (record.ts inclusion()):
//   every logged row stands for 1 / P(logged) rows of traffic:                  N̂(s) = Σ_{conf >= s} 1 / π_log
//   an escalated row with a base answer (route base, π = r) stands for 1 / r:   D̂_esc(s) = Σ 1[disagree] / r
//   an audited row (route audit, π = a) stands for 1 / a saver-answered rows:   D̂_aud(s) = Σ 1[disagree] / (a q)
// where q = audits that ran / audits sampled (a dropped audit is logged with audit:"dropped"; q corrects for
// drops, assumed unrelated to the rows' answers). Then r̂(s) = N̂(s) / N̂ and L̂(s) = (D̂_esc(s) + D̂_aud(s)) / N̂.
// Both are unbiased for the totals (ratios: consistent); with r = 1 and a = 1 they are the exact values.
//
// Uncertainty. Rows are sampled independently (Poisson sampling), so Var(Σ y/π) = Σ (1 - π)/π² y², estimated
// from the sample by Σ (1 - π)/π² y² over logged rows. The share is a ratio N̂(s)/(N̂(s) + N̂(<s)) of two
// independent totals (delta method); for L̂ the variance of N̂ is added without the (positive) covariance
// term, which can only widen the interval. Intervals are normal, at the level given (default 95 %).
//
// Certified bound. The controller's counts are rebuilt on the shared bucket grid: all = N̂ per bucket,
// escalated agree/disagree = the IPW estimates (exact at sample rate 1, as the controller's counters are),
// audits = the raw audited rows and their disagreements (the random sample the Clopper-Pearson bound needs).
// certifyThreshold() then runs unchanged. With sample rate < 1 the escalated part is an estimate whose
// sampling error is not inside the bound; the report says so.
//
// Memory: a few numbers per grid bucket, whatever the number of records (streaming).

import { CONFIDENCE_BUCKETS, bucketIndex } from '../../core/cascade/buckets.js';
import { type CertifyResult, certifyThreshold, lossUpperBound } from '../../core/cascade/certify.js';
import { relativeCost } from '../../core/cascade/cost.js';
import { emptyCounts, type CountKey } from '../../core/cascade/histogram.js';
import { inclusion, type RowRecord } from './record.js';

/** Sweep grid: 0, steps of `step`, every bucket edge, 1 (ascending). */
export function sweepGrid(step = 0.01, edges: readonly number[] = CONFIDENCE_BUCKETS): number[] {
  if (!(step > 0 && step <= 1)) throw new RangeError(`sweepGrid: step must be in (0, 1], got ${step}`);
  const set = new Set<number>([0, 1]);
  for (let k = 1; k * step < 1; k++) set.add(Math.round(k * step * 1e6) / 1e6);
  for (const e of edges) if (e >= 0 && e <= 1) set.add(e);
  return [...set].sort((a, b) => a - b);
}

/** Index k of the grid bucket [g_k, g_{k+1}) holding v (the last bucket is [1, ∞)). */
function gridIndex(grid: readonly number[], v: number): number {
  let lo = 0;
  let hi = grid.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (grid[mid] <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface WhatIfPoint {
  threshold: number;
  /** estimated share of rows the saver would answer, with its standard error */
  saverShare: number;
  saverShareSe: number;
  /** estimated P(saver answers and saver != base) */
  disagreement: number;
  disagreementSe: number;
  /** s + (1 - r) + a r (null without a cost ratio) */
  relativeCost: number | null;
  /** the controller's certified upper bound B(s) on the disagreement (counts rebuilt from the log) */
  bound: number;
}

export interface EstimateOptions {
  /** saver/base cost ratio s (null: no compute column) */
  costRatio: number | null;
  /** audit rate counted in the relative compute (default: the log's row-weighted audit rate) */
  auditRate?: number;
  epsilon: number;
  delta: number;
  min?: number;
  max?: number;
  strata?: number;
  /** two-sided normal quantile of the intervals (default 1.96: 95 %) */
  z?: number;
}

export interface WhatIfReport {
  /** row records used */
  records: number;
  /** estimated rows of traffic they stand for (N̂) */
  estimatedRows: number;
  routes: Record<RowRecord['route'], number>;
  auditsDropped: number;
  /** rows whose saver confidence was NaN (always escalated) */
  nanRows: number;
  /** the thresholds, audit and sample rates that were in force (min, max) */
  thresholdsInForce: [number, number];
  auditRates: [number, number];
  sampleRates: [number, number];
  /** time range of the records */
  from: string;
  to: string;
  /** audit rate used for the relative compute */
  auditRate: number;
  costRatio: number | null;
  z: number;
  points: WhatIfPoint[];
  certification: CertifyResult;
  notes: string[];
}

interface Acc {
  nW: Float64Array; // Σ 1/π_log
  nV: Float64Array; // Σ (1-π_log)/π_log²
  escD: Float64Array; // Σ disagree / r
  escDV: Float64Array; // Σ disagree (1-r)/r²
  audD: Float64Array; // Σ disagree / a
  audD2: Float64Array; // Σ disagree / a²
}

const newAcc = (n: number): Acc => ({
  nW: new Float64Array(n),
  nV: new Float64Array(n),
  escD: new Float64Array(n),
  escDV: new Float64Array(n),
  audD: new Float64Array(n),
  audD2: new Float64Array(n),
});

/** Streaming IPW accumulator for the row records of ONE cascade/model version. */
export class DecisionEstimator {
  readonly grid: number[];
  private readonly edges: readonly number[];
  private readonly acc: Acc;
  private readonly counts: Record<CountKey, number[]>;
  private records = 0;
  private nanW = 0;
  private nanV = 0;
  private auditW = 0; // Σ 1/a over audits that ran
  private dropW = 0; // Σ 1/a over dropped audits
  private auditRateW = 0; // Σ a / π_log over saver-answered rows (for the mean audit rate)
  private saverW = 0;
  private readonly routes: Record<RowRecord['route'], number> = { saver: 0, audit: 0, base: 0, fallback: 0 };
  private auditsDropped = 0;
  private nanRows = 0;
  private tMin = Infinity;
  private tMax = -Infinity;
  private aMin = Infinity;
  private aMax = -Infinity;
  private rMin = Infinity;
  private rMax = -Infinity;
  private from = '';
  private to = '';
  private fromMs = Infinity;
  private toMs = -Infinity;
  /** records that cannot be weighted (inclusion probability 0); counted by the caller as invalid */
  unweighted = 0;

  constructor(grid: readonly number[] = sweepGrid(), edges: readonly number[] = CONFIDENCE_BUCKETS) {
    this.grid = [...grid];
    this.edges = edges;
    this.acc = newAcc(this.grid.length);
    this.counts = emptyCounts(edges);
  }

  /** Add one row record; false when it cannot be weighted (its inclusion probability is 0). */
  add(r: RowRecord): boolean {
    const p = inclusion(r.route, r.auditRate, r.sampleRate);
    if (!(p.logged > 0)) {
      this.unweighted++;
      return false;
    }
    this.records++;
    this.routes[r.route]++;
    if (r.audit === 'dropped') this.auditsDropped++;
    this.tMin = Math.min(this.tMin, r.threshold);
    this.tMax = Math.max(this.tMax, r.threshold);
    this.aMin = Math.min(this.aMin, r.auditRate);
    this.aMax = Math.max(this.aMax, r.auditRate);
    this.rMin = Math.min(this.rMin, r.sampleRate);
    this.rMax = Math.max(this.rMax, r.sampleRate);
    const ms = Date.parse(r.time);
    if (ms < this.fromMs) {
      this.fromMs = ms;
      this.from = r.time;
    }
    if (ms > this.toMs) {
      this.toMs = ms;
      this.to = r.time;
    }
    const w = 1 / p.logged;
    const v = (1 - p.logged) * w * w;
    const saverSide = r.route === 'saver' || r.route === 'audit';
    if (saverSide) {
      this.auditRateW += r.auditRate * w;
      this.saverW += w;
    }
    if (r.conf === null) {
      this.nanRows++;
      this.nanW += w;
      this.nanV += v;
      return true;
    }
    const k = gridIndex(this.grid, r.conf);
    const A = this.acc;
    A.nW[k] += w;
    A.nV[k] += v;
    const b = bucketIndex(r.conf, this.edges);
    this.counts.all[b] += w;
    if (r.route === 'base' && r.baseTop1 !== null) {
      const disagree = r.baseTop1 !== r.saverTop1;
      const we = 1 / r.sampleRate;
      (disagree ? this.counts.escalatedDisagree : this.counts.escalatedAgree)[b] += we;
      if (disagree) {
        A.escD[k] += we;
        A.escDV[k] += (1 - r.sampleRate) * we * we;
      }
    } else if (r.route === 'audit' && r.baseTop1 !== null) {
      const disagree = r.baseTop1 !== r.saverTop1;
      const wa = 1 / r.auditRate;
      this.auditW += wa;
      (disagree ? this.counts.auditDisagree : this.counts.auditAgree)[b] += 1;
      if (disagree) {
        A.audD[k] += wa;
        A.audD2[k] += wa * wa;
      }
    } else if (r.audit === 'dropped' && r.auditRate > 0) {
      this.dropW += 1 / r.auditRate;
    }
    return true;
  }

  get size(): number {
    return this.records;
  }

  result(o: EstimateOptions): WhatIfReport {
    const z = o.z ?? 1.959963984540054;
    const A = this.acc;
    const K = this.grid.length;
    const q = this.auditW + this.dropW > 0 ? this.auditW / (this.auditW + this.dropW) : 1;
    let totalW = this.nanW;
    let totalV = this.nanV;
    for (let k = 0; k < K; k++) {
      totalW += A.nW[k];
      totalV += A.nV[k];
    }
    const auditRate = o.auditRate ?? (this.saverW > 0 ? this.auditRateW / this.saverW : 0);
    const notes: string[] = [];
    if (this.rMin === 0) {
      notes.push(
        'some records were written at sample rate 0: rows below the threshold then in force are not in the log, so the estimates miss them (set a sample rate > 0 for a what-if below the threshold in force)',
      );
    } else if (this.rMax < 1) {
      notes.push(
        `sample rate ${this.rMin === this.rMax ? this.rMin : `${this.rMin}-${this.rMax}`} < 1: the escalated part of the bound is an unbiased estimate, not an exact count; its sampling error is in the ± intervals, not inside the bound`,
      );
    }
    if (this.auditsDropped > 0)
      notes.push(
        `${this.auditsDropped} sampled audit(s) did not run (base saturated or failing); audited rows weighted up by ${(1 / q).toFixed(4)} to make up for them`,
      );
    // suffix sums from the top of the grid
    let sN = 0;
    let sNV = 0;
    let sD = 0;
    let sDV = 0;
    const points: WhatIfPoint[] = new Array(K);
    for (let k = K - 1; k >= 0; k--) {
      sN += A.nW[k];
      sNV += A.nV[k];
      sD += A.escD[k] + A.audD[k] / q;
      sDV += A.escDV[k] + Math.max(0, A.audD2[k] / (q * q) - A.audD[k] / q);
      const share = totalW > 0 ? sN / totalW : 0;
      const restV = totalV - sNV;
      const shareVar = totalW > 0 ? ((1 - share) ** 2 * sNV + share ** 2 * restV) / (totalW * totalW) : 0;
      const dis = totalW > 0 ? sD / totalW : 0;
      const disVar = totalW > 0 ? (sDV + dis * dis * totalV) / (totalW * totalW) : 0;
      points[k] = {
        threshold: this.grid[k],
        saverShare: share,
        saverShareSe: Math.sqrt(Math.max(0, shareVar)),
        disagreement: dis,
        disagreementSe: Math.sqrt(Math.max(0, disVar)),
        relativeCost: o.costRatio === null ? null : relativeCost(o.costRatio, Math.min(1, Math.max(0, share)), Math.min(1, auditRate)),
        bound: 1,
      };
    }
    const copts = { delta: o.delta, strata: o.strata, edges: this.edges };
    for (const p of points) p.bound = totalW > 0 ? lossUpperBound(this.counts, p.threshold, copts).bound : 1;
    const certification = certifyThreshold(this.counts, { ...copts, epsilon: o.epsilon, min: o.min ?? 0.5, max: o.max ?? 1 });
    const fin = (v: number, d: number) => (Number.isFinite(v) ? v : d);
    return {
      records: this.records,
      estimatedRows: totalW,
      routes: { ...this.routes },
      auditsDropped: this.auditsDropped,
      nanRows: this.nanRows,
      thresholdsInForce: [fin(this.tMin, 0), fin(this.tMax, 0)],
      auditRates: [fin(this.aMin, 0), fin(this.aMax, 0)],
      sampleRates: [fin(this.rMin, 0), fin(this.rMax, 0)],
      from: this.from,
      to: this.to,
      auditRate,
      costRatio: o.costRatio,
      z,
      points,
      certification,
      notes,
    };
  }
}
