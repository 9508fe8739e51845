// The threshold policy: one pure decision per control interval, from the window's confidence
// histograms to "keep t", "raise t to s", or "lower t by one step", plus the audit rate the routers
// should use. All bound math is the shared certification in core/cascade/certify.ts (the offline
// simulator runs the same code); this file only decides how to MOVE given those bounds.
//
// Rules (DESIGN.md "Threshold controller"):
// - guards first: NaN/negative counts, stale telemetry, an empty or too-small window -> hold, say why;
// - alarm: the bound B(t) at the current threshold exceeds ε -> raise at once to s* (the certified
//   threshold, or max when nothing certifies). With fewer than minAudits audits above t the upper bound
//   is mostly sampling noise, so an alarm then needs evidence: the Clopper-Pearson LOWER bound on the
//   loss must already exceed ε (otherwise hold and ask for more audits);
// - lower: only when s* < t, no alarm holds (none now and none in the last `alarmHoldIntervals`), and the
//   window has at least minAudits fresh agreement observations above the new threshold (audited rows, and
//   escalated rows between the new threshold and t, whose agreement the base reported exactly — counting
//   only audits would pin a raised threshold forever, since a high t leaves few rows to audit); per interval
//   at most maxStep down (to the lowest grid edge in that range; one grid edge is always allowed so a
//   coarse grid cannot pin t), never below s*;
// - mode fixed never moves t; mode observe computes everything and reports the recommendation only;
// - audit rate: just enough audits per window for the cheapest certifiable operating point (audit-plan.ts).

import { clopperPearsonLower } from '../../core/cascade/bounds.js';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { type CandidateBound, candidateThresholds, certifyThreshold, lossUpperBound } from '../../core/cascade/certify.js';
import { type RouterCounters, HISTOGRAM_KEYS, SCALAR_KEYS, sumOf } from '../telemetry/counters.js';
import { neededAudits, nextAuditRate, planAudits } from './audit-plan.js';

export { neededAudits } from './audit-plan.js';

export type ThresholdMode = 'fixed' | 'adaptive' | 'observe';

export interface PolicySpec {
  mode: ThresholdMode;
  min: number;
  max: number;
  /** ε: budget on P(saver answers and saver != base), fraction of all rows */
  epsilon: number;
  /** δ = 1 - confidence */
  delta: number;
  /** largest downward move per interval */
  maxStep: number;
  /** fewest audits above a lower threshold before lowering */
  minAudits: number;
  /** fewest rows in the window before acting at all (default 200) */
  minRows?: number;
  /** telemetry older than this holds the threshold (ms) */
  staleAfterMs: number;
  /** audit-rate range the policy may ask the routers for */
  auditRate: { min: number; max: number };
  /** intervals after an alarm during which the threshold is not lowered (default 2) */
  alarmHoldIntervals?: number;
  /**
   * strata of the bound (default 1: the routers audit uniformly at random, so splitting the audited rows
   * into strata does not reduce variance but costs a Bonferroni split of δ; measured in bench/drift.ts:
   * same budget compliance, saver share 49.4% with 1 stratum vs 46.0% with 3)
   */
  strata?: number;
  edges?: readonly number[];
  /**
   * how the audit rate is sized: 'cost' (default) for the operating point that maximizes the rows kept
   * off the base, audits included (audit-plan.ts); 'current' for certifying the current threshold with
   * 20% headroom (the earlier rule, which drove the rate to its ceiling whenever t sat at the edge)
   */
  auditPlan?: 'cost' | 'current';
}

export interface PolicyState {
  /** intervals left during which lowering is blocked after an alarm */
  alarmHoldLeft: number;
}

/** see PolicySpec.strata */
export const DEFAULT_STRATA = 1;

export const INITIAL_POLICY_STATE: PolicyState = { alarmHoldLeft: 0 };

export interface PolicyWindow {
  counters: RouterCounters;
  rows: number;
  /** age of the newest telemetry slot (ms) */
  ageMs: number;
}

/** CamelCase reasons (ThresholdControl condition reason, status lastChange.reason, Event reason). */
export type DecisionReason =
  | 'BoundExceeded'
  | 'Certified'
  | 'WithinBudget'
  | 'InsufficientAudits'
  | 'AlarmHold'
  | 'NoData'
  | 'WindowTooSmall'
  | 'TelemetryStale'
  | 'InvalidTelemetry'
  | 'ModeFixed';

export interface Decision {
  /** threshold to apply (equals `current` unless changed) */
  threshold: number;
  /** what adaptive control would head for: s*, or max when nothing certifies (NaN when unknown) */
  recommended: number;
  /** what adaptive control would apply this interval (observe mode reports it, fixed ignores it) */
  proposed: number;
  /** B(t) at the applied threshold (NaN when unknown) */
  bound: number;
  /** B at the threshold in force during the interval (before any change) */
  boundAtCurrent: number;
  /** saver share in the window (measured rows routed to the saver / all rows) */
  share: number;
  /** audited rows in the window, and those above the applied threshold */
  audits: number;
  auditsAbove: number;
  /** audit rate the routers should use */
  auditRate: number;
  /** audits per window the budget needs at the current share (Infinity: not certifiable at this share) */
  neededAudits: number;
  rows: number;
  changed: boolean;
  direction: 'raise' | 'lower' | 'none';
  /** true when the guards stopped the policy from acting on the data */
  holding: boolean;
  reason: DecisionReason;
  /** one human sentence (status condition message, Event message) */
  message: string;
  /** telemetry problems appended to the message by the controller (failed scrapes, counter resets) */
  scrapeNotes?: string;
  state: PolicyState;
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : String(v));
const thr = (v: number): string => (Number.isFinite(v) ? String(Number(v.toFixed(4))) : String(v));

export function validatePolicySpec(s: PolicySpec): string[] {
  const errs: string[] = [];
  const frac = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) errs.push(`${name} must be in [0, 1], got ${v}`);
  };
  frac('threshold.min', s.min);
  frac('threshold.max', s.max);
  if (s.min > s.max) errs.push(`threshold.min ${s.min} > threshold.max ${s.max}`);
  if (!(s.epsilon > 0 && s.epsilon <= 1)) errs.push(`budget.maxAccuracyLoss must be in (0, 1], got ${s.epsilon}`);
  if (!(s.delta > 0 && s.delta < 1)) errs.push(`delta (1 - budget.confidence) must be in (0, 1), got ${s.delta}`);
  if (!(s.maxStep > 0)) errs.push(`control.maxStep must be > 0, got ${s.maxStep}`);
  if (!(Number.isInteger(s.minAudits) && s.minAudits >= 1)) errs.push(`control.minAudits must be an integer >= 1, got ${s.minAudits}`);
  if (!(s.staleAfterMs > 0)) errs.push(`staleAfterMs must be > 0, got ${s.staleAfterMs}`);
  frac('auditRate.min', s.auditRate.min);
  frac('auditRate.max', s.auditRate.max);
  if (s.auditRate.min > s.auditRate.max) errs.push(`auditRate.min ${s.auditRate.min} > auditRate.max ${s.auditRate.max}`);
  return errs;
}

/** First invalid number in the counters, described; undefined when all are finite and >= 0. */
function invalidCounter(c: RouterCounters): string | undefined {
  for (const k of HISTOGRAM_KEYS) {
    for (let i = 0; i < c[k].length; i++) if (!(Number.isFinite(c[k][i]) && c[k][i] >= 0)) return `${k}[${i}] = ${c[k][i]}`;
  }
  for (const k of SCALAR_KEYS) if (!(Number.isFinite(c[k]) && c[k] >= 0)) return `${k} = ${c[k]}`;
  return undefined;
}

/** Grid candidate just below / above t within [min, max]. */
function stepBelow(t: number, spec: PolicySpec): number | undefined {
  return candidateThresholds(spec.min, spec.max, spec.edges ?? CONFIDENCE_BUCKETS).find((c) => c < t - 1e-12);
}

/** The lower-bound counterpart of B(t): exact part + Σ U_h · CP⁻(k_h, n_h, δ/H) / N. */
function lossLowerBound(c: CandidateBound, totalRows: number, delta: number): number {
  if (!(totalRows > 0)) return 0;
  const h = Math.max(1, c.strata.length);
  let est = 0;
  for (const s of c.strata) est += s.rows * clopperPearsonLower(s.auditDisagreements, s.audits, delta / h);
  return c.exactPart + est / totalRows;
}

export interface PolicyInput {
  window: PolicyWindow;
  /** threshold in force now */
  current: number;
  spec: PolicySpec;
  state?: PolicyState;
  /** audit rate in force now (status.auditRate / the ConfigMap's); small changes are not worth a ConfigMap write */
  currentAuditRate?: number;
}

export function decide(input: PolicyInput): Decision {
  const { window: w, current, spec } = input;
  const state: PolicyState = { ...(input.state ?? INITIAL_POLICY_STATE) };
  const minRows = spec.minRows ?? 200;
  const strata = spec.strata ?? DEFAULT_STRATA;
  const edges = spec.edges ?? CONFIDENCE_BUCKETS;
  const c = w.counters;
  const rows = w.rows;
  const audits = sumOf(c.auditAgree) + sumOf(c.auditDisagree);
  const routed = c.rowsSaver + c.rowsBase + c.rowsFallback;
  const measuredShare = routed > 0 ? c.rowsSaver / routed : NaN;
  const base = {
    threshold: current,
    recommended: NaN,
    proposed: current,
    bound: NaN,
    boundAtCurrent: NaN,
    share: measuredShare,
    audits: Number.isFinite(audits) ? audits : 0,
    auditsAbove: 0,
    // holding keeps the rate in force (no data says nothing about how many audits are needed)
    auditRate: Number.isFinite(input.currentAuditRate) ? Math.min(spec.auditRate.max, Math.max(spec.auditRate.min, input.currentAuditRate as number)) : spec.auditRate.min,
    neededAudits: NaN,
    rows: Number.isFinite(rows) ? rows : 0,
    changed: false,
    direction: 'none' as const,
  };
  const hold = (reason: DecisionReason, message: string): Decision => ({ ...base, holding: true, reason, message, state });

  if (!(current >= 0 && current <= 1)) return hold('InvalidTelemetry', `current threshold ${current} is not in [0, 1]`);
  const bad = invalidCounter(c);
  if (bad) return hold('InvalidTelemetry', `telemetry holds an invalid count (${bad}); threshold held at ${thr(current)}`);
  if (!(w.ageMs <= spec.staleAfterMs)) {
    const age = Number.isFinite(w.ageMs) ? `${Math.round(w.ageMs / 1000)}s old` : 'missing';
    return hold('TelemetryStale', `telemetry ${age} (stale after ${Math.round(spec.staleAfterMs / 1000)}s); threshold held at ${thr(current)}`);
  }
  if (rows <= 0) return hold('NoData', `no rows in the window; threshold held at ${thr(current)}`);
  if (rows < minRows) return hold('WindowTooSmall', `${rows} rows in the window (< ${minRows}); threshold held at ${thr(current)}`);

  let cert;
  let atCurrent: CandidateBound;
  try {
    cert = certifyThreshold(c, { epsilon: spec.epsilon, delta: spec.delta, min: spec.min, max: spec.max, strata, edges });
    atCurrent = lossUpperBound(c, current, { delta: spec.delta, strata, edges });
  } catch (e) {
    return hold('InvalidTelemetry', `certification rejected the window: ${(e as Error).message}`);
  }
  const recommended = cert.threshold;
  const share = Number.isFinite(measuredShare) ? measuredShare : atCurrent.saverShare;
  let needed: number;
  let auditRate: number;
  if (spec.auditPlan === 'current') {
    // size the audits for the current threshold (the earlier rule; kept for comparison in bench/drift.ts)
    const auditRateNow = atCurrent.audits > 0 ? atCurrent.auditDisagreements / atCurrent.audits : 0;
    needed = neededAudits(share, auditRateNow, atCurrent.exactPart, spec.epsilon, spec.delta, strata);
    const saverRows = share * rows;
    auditRate = spec.auditRate.max;
    if (Number.isFinite(needed) && saverRows > 0) auditRate = Math.min(spec.auditRate.max, Math.max(spec.auditRate.min, Math.max(needed, spec.minAudits) / saverRows));
  } else {
    // size them for the cheapest certifiable operating point (audit-plan.ts)
    const plan = planAudits(c, rows, { ...spec, strata, edges });
    needed = plan.audits;
    auditRate = plan.rate;
  }
  auditRate = spec.mode === 'fixed' ? spec.auditRate.min : nextAuditRate(input.currentAuditRate, auditRate, spec.auditRate);

  const d: Decision = {
    ...base,
    recommended,
    bound: atCurrent.bound,
    boundAtCurrent: atCurrent.bound,
    share,
    auditsAbove: atCurrent.audits,
    auditRate,
    neededAudits: needed,
    holding: false,
    reason: 'WithinBudget',
    message: '',
    state,
  };
  const summary = `loss bound ${pct(atCurrent.bound)} vs budget ${pct(spec.epsilon)} at ${thr(current)} (${atCurrent.audits} audits above t, ${rows} rows)`;

  // Decide what adaptive control would do.
  let proposed = current;
  let reason: DecisionReason;
  let message: string;
  const alarm = atCurrent.bound > spec.epsilon;
  if (alarm && atCurrent.audits < spec.minAudits && lossLowerBound(atCurrent, cert.totalRows, spec.delta) <= spec.epsilon) {
    reason = 'InsufficientAudits';
    message = `${summary}: only ${atCurrent.audits} audits (< ${spec.minAudits}), no evidence yet that the budget is exceeded; holding`;
  } else if (alarm) {
    state.alarmHoldLeft = spec.alarmHoldIntervals ?? 2;
    proposed = Math.max(recommended, current);
    if (proposed <= current) proposed = spec.max; // t sits off-grid above every certified edge
    reason = 'BoundExceeded';
    message = `loss bound ${pct(atCurrent.bound)} > budget ${pct(spec.epsilon)} at ${thr(current)}; raise to ${thr(proposed)}${cert.certifiedThreshold === null ? ' (nothing certified: max)' : ''}`;
  } else if (recommended < current) {
    if (state.alarmHoldLeft > 0) {
      state.alarmHoldLeft--;
      reason = 'AlarmHold';
      message = `${summary}: certified ${thr(recommended)} but an alarm was raised recently (${state.alarmHoldLeft + 1} interval(s) to wait)`;
    } else {
      // The lowest grid edge within maxStep below t (the dense grid near 1 holds several), and at least
      // the next edge down (a coarse grid step wider than maxStep must not pin t); never below s*.
      const within = candidateThresholds(spec.min, spec.max, edges).filter((e) => e < current - 1e-12 && e >= current - spec.maxStep - 1e-12);
      const step = within.length > 0 ? within[within.length - 1] : (stepBelow(current, spec) ?? recommended);
      const target = Math.max(recommended, step);
      const above = lossUpperBound(c, target, { delta: spec.delta, strata, edges });
      // Fresh agreement observations above the new threshold: audits, plus the escalated rows between
      // it and t (the base answered those, so their agreement is known exactly, not sampled).
      const observed = above.audits + above.escalatedRows;
      if (observed < spec.minAudits) {
        reason = 'InsufficientAudits';
        message = `${summary}: certified ${thr(recommended)}, but only ${observed} observed rows (audited or escalated) above ${thr(target)} (< ${spec.minAudits}); holding`;
      } else {
        proposed = target;
        reason = 'Certified';
        message = `certified ${thr(recommended)} (bound ${pct(cert.bound ?? NaN)} <= budget ${pct(spec.epsilon)}); lower ${thr(current)} -> ${thr(target)}, bound ${pct(above.bound)}`;
      }
    }
  } else {
    if (state.alarmHoldLeft > 0) state.alarmHoldLeft--;
    reason = 'WithinBudget';
    message = `${summary}; ${recommended === current ? 'at the certified threshold' : `certified ${thr(recommended)}`}`;
  }
  d.proposed = proposed;

  if (spec.mode === 'fixed') {
    d.reason = 'ModeFixed';
    d.message = `mode fixed: threshold stays ${thr(current)}; ${summary}; would recommend ${thr(recommended)}`;
    d.state = { alarmHoldLeft: 0 };
    return d;
  }
  if (spec.mode === 'observe') {
    d.reason = reason;
    d.message = `mode observe (not applied): ${message}`;
    return d;
  }
  d.reason = reason;
  d.message = message;
  if (proposed !== current) {
    d.threshold = proposed;
    d.changed = true;
    d.direction = proposed > current ? 'raise' : 'lower';
    const after = lossUpperBound(c, proposed, { delta: spec.delta, strata, edges });
    d.bound = after.bound;
    d.auditsAbove = after.audits;
  }
  return d;
}
