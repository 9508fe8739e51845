// Change detection on the label-free signals the routers export (threshold controller v2).
//
// One-sided CUSUMs on two signals in two directions, one step per control interval, each comparing the interval's rows with a
// reference (the evidence window before the interval, plus the offline calibration while it is valid):
//   disagreeUp / disagreeDown — saver/base disagreement of the OBSERVED rows (escalated rows, whose base
//       answer is known, and audited rows), conditional on the confidence bucket: per bucket b the
//       reference rate q_b, the interval's k_b disagreements among o_b observed rows. Conditioning on the
//       bucket makes the test independent of where the threshold sits (which rows get observed depends only
//       on the bucket and the audit coin). This catches inputs on which the saver is confidently wrong.
//   escalateUp / escalateDown — the share of rows with confidence below the current threshold (the
//       escalation rate), against the reference histogram's share below t. This catches a confidence
//       histogram that moves (harder or easier inputs, class-prior shift) before any audit could.
// Each CUSUM sums exact Bernoulli log-likelihood ratios of "odds multiplied by θ" (up) or "divided by θ"
// (down) against the reference rate: S_n = max(0, S_{n-1} + LLR_n). A CUSUM is tuned to its design θ: one
// tuned to x2 has a negative drift under a x1.25 change and never fires on it, so each signal runs at two
// design alternatives, θ = 1.25 (small, sustained changes: a slow ramp) and θ = 2 (abrupt ones).
//
// Threshold from the false-alarm target, not fitted: for a CUSUM of log-likelihood ratios with threshold
// h, the mean run length to a false alarm is at least e^h (Lorden 1971), and each interval's summed LLR is
// itself a log-likelihood ratio, so this holds per interval. With m statistics and a target of α false
// alarms per interval (union bound): h = ln(m / α); α = 0.01, m = 4 signals x 2 ratios = 8 -> h = 6.68. The reference rates are
// estimates (disagreement: pooled over contiguous confidence groups with at least 5 observed rows of each
// outcome in the reference), so the realized false-alarm rate is measured in bench/drift-suite.ts.
//
// When a statistic crosses h the detector fires and reports its change-point estimate: the intervals since
// that statistic last stood at 0 (the CUSUM's maximum-likelihood change point). Every statistic is then
// reset. Data it cannot judge (no reference rows, no interval rows, invalid counts) leaves the statistics as
// they are and says so: a detector that cannot decide never fires.

import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { bucketUpperEdge } from '../../core/cascade/histogram.js';
import type { RouterCounters } from '../telemetry/counters.js';

export const SIGNALS = ['disagreeUp', 'disagreeDown', 'escalateUp', 'escalateDown'] as const;
export type ChangeSignal = (typeof SIGNALS)[number];
/** a statistic: one signal at one design odds ratio, e.g. "escalateUp x1.25" */
export type ChangeStatistic = string;

export interface DetectorOptions {
  /** target false alarms per interval on stationary traffic, all statistics together (e.g. 0.01) */
  falseAlarmRate: number;
  /** design alternatives: odds multiplied (up) or divided (down) by each of these (default [1.25, 2]) */
  oddsRatios?: readonly number[];
  edges?: readonly number[];
}

export interface DetectorState {
  sums: Record<ChangeStatistic, number>;
  /** intervals since each statistic last stood at 0 (its change-point estimate) */
  runs: Record<ChangeStatistic, number>;
}

export interface ChangeAlarm {
  statistic: ChangeStatistic;
  /** worse: more disagreement or more low-confidence rows; better: less */
  direction: 'worse' | 'better';
  value: number;
  threshold: number;
  /** intervals (this one included) that belong to the new regime */
  sinceIntervals: number;
}

export interface DetectorResult {
  state: DetectorState;
  fired?: ChangeAlarm;
  /** log-likelihood ratio each statistic added this interval (0 when undecided) */
  increments: Record<ChangeStatistic, number>;
  threshold: number;
  /** why the detector could not judge this interval (it then holds its statistics) */
  undecided?: string;
}

/** a small and a large change: one CUSUM tuned to each (a CUSUM tuned to x2 never sees a x1.25 drift) */
export const DEFAULT_ODDS_RATIOS: readonly number[] = [1.25, 2];

export function initialDetectorState(): DetectorState {
  return { sums: {}, runs: {} };
}

/** CUSUM threshold for a target false-alarm rate per interval over `statistics` CUSUMs: ln(m / α). */
export function cusumThreshold(falseAlarmRate: number, statistics = SIGNALS.length * DEFAULT_ODDS_RATIOS.length): number {
  if (!(falseAlarmRate > 0 && falseAlarmRate < 1))
    throw new RangeError(`cusumThreshold: falseAlarmRate must be in (0, 1), got ${falseAlarmRate}`);
  return Math.log(statistics / falseAlarmRate);
}

const clampP = (p: number) => Math.min(1 - 1e-9, Math.max(1e-9, p));

/** The rate with its odds multiplied by `ratio`. */
export function shiftOdds(p: number, ratio: number): number {
  const q = clampP(p);
  return (ratio * q) / (1 - q + ratio * q);
}

/** Log-likelihood ratio of k events in n Bernoulli trials, rate p1 against p0. */
export function bernoulliLlr(k: number, n: number, p0: number, p1: number): number {
  if (n <= 0) return 0;
  const a = clampP(p0);
  const b = clampP(p1);
  return k * Math.log(b / a) + (n - k) * Math.log((1 - b) / (1 - a));
}

function finiteCounts(c: RouterCounters): boolean {
  for (const k of ['all', 'escalatedAgree', 'escalatedDisagree', 'auditAgree', 'auditDisagree'] as const) {
    for (const v of c[k]) if (!(Number.isFinite(v) && v >= 0)) return false;
  }
  return true;
}

export interface DetectorInput {
  /** evidence before this interval (window sum, plus the calibration prior while it is valid) */
  reference: RouterCounters;
  /** this interval's rows (the pooled per-pod deltas) */
  interval: RouterCounters;
  /** threshold in force during the interval */
  threshold: number;
  state: DetectorState;
  options: DetectorOptions;
}

/** Reference observations of both outcomes a group needs before its rate is used as the null (the usual
 * adequacy rule for a binomial plug-in: at least 5 expected of each). */
export const MIN_GROUP_COUNT = 5;

/**
 * Contiguous confidence groups (bucket indices, highest confidence first) whose reference holds at least
 * MIN_GROUP_COUNT disagreeing and MIN_GROUP_COUNT agreeing observed rows; a tail short of that joins the
 * group above it. Buckets the reference never observed fall in a group with observed neighbours, so a rate
 * is never made up for them.
 */
export function disagreementGroups(ref: RouterCounters): number[][] {
  const groups: number[][] = [];
  let cur: number[] = [];
  let dis = 0;
  let agr = 0;
  for (let b = ref.all.length - 1; b >= 0; b--) {
    cur.push(b);
    dis += ref.escalatedDisagree[b] + ref.auditDisagree[b];
    agr += ref.escalatedAgree[b] + ref.auditAgree[b];
    if (dis >= MIN_GROUP_COUNT && agr >= MIN_GROUP_COUNT) {
      groups.push(cur);
      cur = [];
      dis = 0;
      agr = 0;
    }
  }
  if (cur.length > 0 && groups.length > 0) groups[groups.length - 1].push(...cur);
  return groups;
}

/** One CUSUM step. Pure: same input, same output. */
export function detectChange(input: DetectorInput): DetectorResult {
  const { reference: ref, interval: cur, threshold: t, options } = input;
  const ratios = options.oddsRatios ?? DEFAULT_ODDS_RATIOS;
  const edges = options.edges ?? CONFIDENCE_BUCKETS;
  if (ratios.length === 0 || !ratios.every((r) => r > 1 && Number.isFinite(r)))
    throw new RangeError(`detectChange: oddsRatios must be finite numbers > 1, got ${JSON.stringify(ratios)}`);
  const h = cusumThreshold(options.falseAlarmRate, SIGNALS.length * ratios.length);
  const increments: Record<ChangeStatistic, number> = {};
  const hold = (why: string): DetectorResult => ({ state: input.state, increments, threshold: h, undecided: why });
  if (!(t >= 0 && t <= 1)) return hold(`threshold ${t} is not in [0, 1]`);
  if (!finiteCounts(ref) || !finiteCounts(cur)) return hold('telemetry holds an invalid count');
  const buckets = ref.all.length;
  if (cur.all.length !== buckets) return hold('reference and interval use different bucket grids');
  const name = (signal: ChangeSignal, r: number) => `${signal} x${r}`;
  const add = (signal: ChangeSignal, r: number, v: number) => {
    const k = name(signal, r);
    increments[k] = (increments[k] ?? 0) + v;
  };
  for (const sig of SIGNALS) for (const r of ratios) increments[name(sig, r)] = 0;

  // escalation rate: rows in buckets wholly below t
  let refRows = 0;
  let refLow = 0;
  let curRows = 0;
  let curLow = 0;
  for (let b = 0; b < buckets; b++) {
    const low = bucketUpperEdge(b, edges) <= t;
    refRows += ref.all[b];
    curRows += cur.all[b];
    if (low) {
      refLow += ref.all[b];
      curLow += cur.all[b];
    }
  }
  if (!(refRows > 0)) return hold('no reference rows yet');
  if (!(curRows > 0)) return hold('no rows this interval');
  const pLow = (refLow + 0.5) / (refRows + 1);
  for (const r of ratios) {
    add('escalateUp', r, bernoulliLlr(curLow, curRows, pLow, shiftOdds(pLow, r)));
    add('escalateDown', r, bernoulliLlr(curLow, curRows, pLow, shiftOdds(pLow, 1 / r)));
  }

  // disagreement of observed rows, conditional on the confidence group
  for (const g of disagreementGroups(ref)) {
    let o = 0;
    let k = 0;
    let ro = 0;
    let rk = 0;
    for (const b of g) {
      o += cur.escalatedAgree[b] + cur.escalatedDisagree[b] + cur.auditAgree[b] + cur.auditDisagree[b];
      k += cur.escalatedDisagree[b] + cur.auditDisagree[b];
      ro += ref.escalatedAgree[b] + ref.escalatedDisagree[b] + ref.auditAgree[b] + ref.auditDisagree[b];
      rk += ref.escalatedDisagree[b] + ref.auditDisagree[b];
    }
    if (o <= 0) continue;
    const q = (rk + 0.5) / (ro + 1);
    for (const r of ratios) {
      add('disagreeUp', r, bernoulliLlr(k, o, q, shiftOdds(q, r)));
      add('disagreeDown', r, bernoulliLlr(k, o, q, shiftOdds(q, 1 / r)));
    }
  }

  const sums: Record<ChangeStatistic, number> = {};
  const runs: Record<ChangeStatistic, number> = {};
  let fired: ChangeAlarm | undefined;
  for (const k of Object.keys(increments)) {
    sums[k] = Math.max(0, (input.state.sums[k] ?? 0) + increments[k]);
    runs[k] = sums[k] > 0 ? (input.state.runs[k] ?? 0) + 1 : 0;
    if (sums[k] >= h && (!fired || sums[k] / h > fired.value / fired.threshold)) {
      fired = {
        statistic: k,
        direction: k.includes('Up') ? 'worse' : 'better',
        value: sums[k],
        threshold: h,
        sinceIntervals: Math.max(1, runs[k]),
      };
    }
  }
  if (fired) return { state: initialDetectorState(), fired, increments, threshold: h };
  return { state: { sums, runs }, increments, threshold: h };
}

/** Kullback-Leibler divergence KL(Bern(p1) || Bern(p0)). */
export function bernoulliKl(p1: number, p0: number): number {
  const a = clampP(p1);
  const b = clampP(p0);
  return a * Math.log(a / b) + (1 - a) * Math.log((1 - a) / (1 - b));
}

/**
 * Quiet intervals that confirm traffic matches a reference (re-admitting the calibration after a change):
 * the expected number of intervals a change of the smallest design size on the escalation rate needs to
 * carry its CUSUM to the threshold, ceil(h / (rows · KL)). A CUSUM against the calibration that stays below h
 * that long is evidence (not proof) that no such change is present; the detectors keep watching after.
 */
export function confirmIntervals(reference: RouterCounters, rowsPerInterval: number, threshold: number, options: DetectorOptions): number {
  const ratios = options.oddsRatios ?? DEFAULT_ODDS_RATIOS;
  const edges = options.edges ?? CONFIDENCE_BUCKETS;
  const h = cusumThreshold(options.falseAlarmRate, SIGNALS.length * ratios.length);
  let rows = 0;
  let low = 0;
  for (let b = 0; b < reference.all.length; b++) {
    rows += reference.all[b];
    if (bucketUpperEdge(b, edges) <= threshold) low += reference.all[b];
  }
  if (!(rows > 0) || !(rowsPerInterval > 0)) return Infinity;
  const p = (low + 0.5) / (rows + 1);
  const r = Math.min(...ratios);
  const kl = Math.min(bernoulliKl(shiftOdds(p, r), p), bernoulliKl(shiftOdds(p, 1 / r), p));
  return Math.max(1, Math.ceil(h / (rowsPerInterval * kl)));
}
