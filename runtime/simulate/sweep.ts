// Cascade metrics at a threshold, from per-row predictions (pure). Every metric is over the rows
// given (a split), so picking and reporting can use disjoint rows.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { deltaCost, relativeCost } from '../../core/cascade/cost.js';
import type { Predictions } from './predictions.js';
import { seededRandom } from '../../core/random.js';

export interface SweepPoint {
  /** the saver answers rows with confidence >= threshold; Infinity = base only */
  threshold: number;
  rows: number;
  /** r: share of rows the saver answers */
  saverShare: number;
  /** s + (1 - r) + a r, in base-model units */
  relativeCost: number;
  /** ΔC = s - r */
  deltaCost: number;
  /** share of rows where the cascade's top-1 equals the base's */
  agreement: number;
  /** P(saver answers and saver != base) = 1 - agreement: the label-free loss the controller bounds */
  disagreement: number;
  /** cascade top-1 accuracy (null without labels) */
  accuracy: number | null;
  /** base accuracy - cascade accuracy on the same rows (null without labels) */
  accuracyLoss: number | null;
  /** saver and base accuracy on the rows the saver keeps (null without labels or kept rows) */
  saverAccuracyKept: number | null;
  baseAccuracyKept: number | null;
}

/** All row indices 0..n-1. */
export function allRows(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

export function evaluateThreshold(p: Predictions, rows: Int32Array, t: number, costRatio: number, auditRate = 0): SweepPoint {
  const n = rows.length;
  if (n === 0) throw new RangeError('evaluateThreshold: no rows');
  let kept = 0;
  let disagree = 0;
  let correct = 0;
  let baseCorrect = 0;
  let saverKeptCorrect = 0;
  let baseKeptCorrect = 0;
  const labels = p.labels;
  for (let j = 0; j < n; j++) {
    const i = rows[j];
    const keep = p.saverConfidence[i] >= t; // NaN never keeps, as in the router
    const answer = keep ? p.saverTop1[i] : p.baseTop1[i];
    if (keep) {
      kept++;
      if (p.saverTop1[i] !== p.baseTop1[i]) disagree++;
    }
    if (labels) {
      const y = labels[i];
      if (answer === y) correct++;
      if (p.baseTop1[i] === y) baseCorrect++;
      if (keep) {
        if (p.saverTop1[i] === y) saverKeptCorrect++;
        if (p.baseTop1[i] === y) baseKeptCorrect++;
      }
    }
  }
  const r = kept / n;
  return {
    threshold: t,
    rows: n,
    saverShare: r,
    relativeCost: relativeCost(costRatio, r, auditRate),
    deltaCost: deltaCost(costRatio, r),
    agreement: 1 - disagree / n,
    disagreement: disagree / n,
    accuracy: labels ? correct / n : null,
    accuracyLoss: labels ? (baseCorrect - correct) / n : null,
    saverAccuracyKept: labels && kept > 0 ? saverKeptCorrect / kept : null,
    baseAccuracyKept: labels && kept > 0 ? baseKeptCorrect / kept : null,
  };
}

/** 0, a fine grid, every bucket edge (the thresholds the controller can set), 1, and Infinity (base only). */
export function defaultThresholds(step = 0.01): number[] {
  if (!(step > 0 && step <= 1)) throw new RangeError(`defaultThresholds: step must be in (0, 1], got ${step}`);
  const set = new Set<number>([0, 1]);
  for (let k = 1; k * step < 1; k++) set.add(Math.round(k * step * 1e6) / 1e6);
  for (const e of CONFIDENCE_BUCKETS) set.add(e);
  return [...set].sort((a, b) => a - b).concat([Infinity]);
}

export function sweepThresholds(
  p: Predictions,
  rows: Int32Array,
  thresholds: readonly number[],
  costRatio: number,
  auditRate = 0,
): SweepPoint[] {
  return thresholds.map((t) => evaluateThreshold(p, rows, t, costRatio, auditRate));
}

/** Seeded shuffle split of 0..n-1 into calibration (first `fraction`) and evaluation rows. */
export function seededSplit(n: number, fraction: number, seed: number): { calibration: Int32Array; evaluation: Int32Array } {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`seededSplit: calibration fraction must be in (0, 1), got ${fraction}`);
  const idx = allRows(n);
  const rand = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = idx[i];
    idx[i] = idx[j];
    idx[j] = tmp;
  }
  const k = Math.round(n * fraction);
  if (k === 0 || k === n) throw new RangeError(`seededSplit: ${n} rows cannot be split ${fraction} / ${1 - fraction}`);
  // sorted, so per-row work walks memory in order
  return { calibration: idx.slice(0, k).sort(), evaluation: idx.slice(k).sort() };
}
