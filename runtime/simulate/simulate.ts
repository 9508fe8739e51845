// Offline cascade simulation (pure): sweep the threshold, pick operating points on a calibration split,
// report them on the disjoint evaluation split.
//
// (a) paper: the TinySaver criterion — the saver is at least as accurate as the base on the rows it
//     keeps. We take the LOWEST grid threshold whose kept rows satisfy it (the most the saver may answer
//     under that rule), on the calibration rows. Needs labels.
// (b) budget: certify.ts with the calibration rows in the audit role (every row observed, Clopper-Pearson
//     per stratum), i.e. the threshold whose P(saver answers and saver != base) <= ε with confidence 1 - δ
//     for new data like the calibration data. Needs no labels.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { type CertifyResult, certifyThreshold } from '../../core/cascade/certify.js';
import { countsFromRows } from '../../core/cascade/histogram.js';
import type { Predictions } from './predictions.js';
import { type SweepPoint, defaultThresholds, evaluateThreshold, seededSplit, sweepThresholds } from './sweep.js';

export interface SimulateOptions {
  /** s = saver cost / base cost (e.g. MACs ratio) */
  costRatio: number;
  /** audit rate a counted in the relative cost (default 0) */
  auditRate?: number;
  /** ε for the budget pick (default 0.01) */
  budget?: number;
  /** δ for the budget pick (default 0.05) */
  delta?: number;
  /** threshold range for the budget pick (default 0.5 .. 1, the ModelCascade defaults) */
  min?: number;
  max?: number;
  /** strata for the Clopper-Pearson part (default 3) */
  strata?: number;
  /** share of rows used to pick (default 0.5) and the shuffle seed (default 1) */
  calibrationFraction?: number;
  seed?: number;
  /** fine grid step of the sweep (default 0.01; bucket edges are always included) */
  step?: number;
}

export interface OperatingPoint {
  rule: 'paper' | 'budget';
  threshold: number;
  /** metrics on the calibration rows (where it was picked) and on the evaluation rows (what we report) */
  calibration: SweepPoint;
  evaluation: SweepPoint;
  /** budget rule: the certification (bound, reason) */
  certification?: Pick<CertifyResult, 'certifiedThreshold' | 'bound' | 'saverShare' | 'auditsUsed' | 'reason' | 'epsilon' | 'delta'>;
  /** one line on how it was picked */
  why: string;
  /**
   * budget rule on calibration rows that all carry both answers: the certification's evidence per bucket of the
   * shared confidence grid (+Inf last), what spec.threshold.calibration carries for the controller's warm start
   */
  evidence?: { rows: number[]; disagreements: number[] };
}

export interface SimulationReport {
  rows: number;
  labelled: boolean;
  costRatio: number;
  auditRate: number;
  split: { seed: number; calibrationRows: number; evaluationRows: number; note: string };
  /** base-only and saver-only accuracy on the evaluation rows (null without labels) */
  baseAccuracy: number | null;
  saverAccuracy: number | null;
  /** the curve, on the evaluation rows; last point is base-only (threshold Infinity) */
  sweep: SweepPoint[];
  paper: OperatingPoint | null;
  paperNote?: string;
  budget: OperatingPoint;
}

export function paperThreshold(p: Predictions, rows: Int32Array, thresholds: readonly number[]): number | null {
  if (!p.labels) return null;
  for (const t of thresholds) {
    if (!Number.isFinite(t)) continue;
    const pt = evaluateThreshold(p, rows, t, 0);
    if (pt.saverAccuracyKept !== null && pt.baseAccuracyKept !== null && pt.saverAccuracyKept >= pt.baseAccuracyKept) return t;
  }
  return null;
}

export function simulate(p: Predictions, o: SimulateOptions): SimulationReport {
  const a = o.auditRate ?? 0;
  const eps = o.budget ?? 0.01;
  const delta = o.delta ?? 0.05;
  const seed = o.seed ?? 1;
  const frac = o.calibrationFraction ?? 0.5;
  const { calibration, evaluation } = seededSplit(p.count, frac, seed);
  const thresholds = defaultThresholds(o.step ?? 0.01);
  const sweep = sweepThresholds(p, evaluation, thresholds, o.costRatio, a);
  const at = (rows: Int32Array, t: number) => evaluateThreshold(p, rows, t, o.costRatio, a);

  let paper: OperatingPoint | null = null;
  let paperNote: string | undefined;
  const tp = paperThreshold(p, calibration, thresholds);
  if (!p.labels) paperNote = 'needs labels';
  else if (tp === null) paperNote = 'no threshold where the saver is at least as accurate as the base on the rows it keeps';
  else {
    const c = at(calibration, tp);
    paper = {
      rule: 'paper',
      threshold: tp,
      calibration: c,
      evaluation: at(evaluation, tp),
      why: `lowest threshold where the saver's accuracy on the rows it keeps (${pct(c.saverAccuracyKept)}) >= the base's on them (${pct(c.baseAccuracyKept)}), on the calibration rows`,
    };
  }

  const agree = Array.from(calibration, (i) => p.saverTop1[i] === p.baseTop1[i]);
  const conf = Array.from(calibration, (i) => p.saverConfidence[i]);
  const counts = countsFromRows(conf, agree, { kind: 'audit' }, CONFIDENCE_BUCKETS);
  const cert = certifyThreshold(counts, { epsilon: eps, delta, min: o.min ?? 0.5, max: o.max ?? 1, strata: o.strata });
  const budget: OperatingPoint = {
    rule: 'budget',
    threshold: cert.threshold,
    calibration: at(calibration, cert.threshold),
    evaluation: at(evaluation, cert.threshold),
    certification: {
      certifiedThreshold: cert.certifiedThreshold,
      bound: cert.bound,
      saverShare: cert.saverShare,
      auditsUsed: cert.auditsUsed,
      reason: cert.reason,
      epsilon: cert.epsilon,
      delta: cert.delta,
    },
    why: cert.reason,
    evidence: { rows: counts.all.slice(), disagreements: counts.auditDisagree.slice() },
  };
  const saverOnly = at(evaluation, 0);
  const baseOnly = at(evaluation, Infinity);
  return {
    rows: p.count,
    labelled: p.labels !== null,
    costRatio: o.costRatio,
    auditRate: a,
    split: {
      seed,
      calibrationRows: calibration.length,
      evaluationRows: evaluation.length,
      note: `thresholds picked on the calibration rows (${calibration.length}, seeded shuffle ${seed}); every reported metric is on the disjoint evaluation rows (${evaluation.length})`,
    },
    baseAccuracy: baseOnly.accuracy,
    saverAccuracy: saverOnly.accuracy,
    sweep,
    paper,
    paperNote,
    budget,
  };
}

export function pct(v: number | null, digits = 2): string {
  return v === null ? 'n/a' : `${(100 * v).toFixed(digits)}%`;
}
