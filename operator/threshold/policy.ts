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
// v2 (issue 11):
// - change detected (detector.ts; the caller has already cut the window to the post-change slots):
//   'worse' raises at once to the threshold certified on the post-change evidence (max when nothing
//   certifies; no "too few audits" guard: the detector is the evidence), starts an alarm hold, and sets the
//   audit rate to its ceiling until the current threshold is certified again with the dead-band margin;
//   'better' (e.g. the return to clean) only cuts the window and raises the audit rate, so the new regime
//   is certified from its own rows quickly;
// - dead band: lowering to s also needs B(s) + w(s) <= ε, where w(s) is the width of the bound's sampling
//   terms (deadBandMargin: audited strata, and the escalated rows of the region taken as a sample of the
//   traffic to come). The margin is one more bound-width of bad luck: it shrinks as 1/√(observed rows) and
//   keeps a freshly lowered threshold clear of the raise line when the next rows come out a little worse;
// - prior evidence (warm start): the offline calibration of spec.threshold.calibration, as audited rows,
//   added to the window while no change has been detected;
// - audit floor: when the floor rate alone keeps the current threshold certified (prior audits above t plus
//   floor × the window's saver rows reach the audits it needs), the rate goes to the floor.

import { clopperPearsonLower, clopperPearsonUpper } from '../../core/cascade/bounds.js';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { type CandidateBound, candidateThresholds, certifyThreshold, lossUpperBound } from '../../core/cascade/certify.js';
import { type RouterCounters, HISTOGRAM_KEYS, SCALAR_KEYS, addInto, cloneCounters, sumOf } from '../telemetry/counters.js';
import { neededAudits, nextAuditRate, planAudits } from './audit-plan.js';
import type { ChangeAlarm } from './detector.js';

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
  /** require the dead-band margin before lowering (default true; false is the v1 rule, for comparison) */
  deadBand?: boolean;
}

export interface PolicyState {
  /** intervals left during which lowering is blocked after an alarm */
  alarmHoldLeft: number;
  /** audit rate held at its ceiling after a detected change, until the threshold is certified again */
  boost?: boolean;
  /** after a change for the better: lower straight to the certified threshold (no maxStep) until it is reached */
  recovering?: boolean;
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
  | 'ModeFixed'
  | 'ChangeDetected'
  | 'DeadBand';

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
  /** the change the detector reported this interval, if any */
  change?: ChangeAlarm;
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

/**
 * The dead-band margin w(s): how far the bound could move on the traffic to come, as the width of a bound
 * that treats every observed row of the region as a sample of it:
 *   w(s) = [ Σ_h U_h · (CP⁺_h - p̂_h)  +  (E · CP⁺(D, E, δ) - D) ] / N
 * (audited strata: p̂_h = k_h / n_h, an unaudited stratum has CP⁺ = 1 and p̂ = 0 so its rows count in full;
 * escalated rows of the region: E rows, D disagreements, exact for the window but only an estimate of the
 * next rows). It shrinks as 1/√(observed rows) and needs no tuning.
 */
export function deadBandMargin(c: CandidateBound, totalRows: number, delta = 0.05): number {
  if (!(totalRows > 0)) return 0;
  let w = 0;
  for (const s of c.strata) w += s.rows * (s.rateUpper - (s.audits > 0 ? s.auditDisagreements / s.audits : 0));
  const e = Math.round(c.escalatedRows);
  const d = Math.min(e, Math.round(c.exactPart * totalRows));
  if (e > 0) w += e * clopperPearsonUpper(d, e, delta) - d;
  return w / totalRows;
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
  /**
   * prior evidence added to the window for certification (the offline calibration as audited rows, while
   * no change has been detected); not counted in the window's rows for the guards
   */
  prior?: RouterCounters;
  /**
   * the rows since the last raise, when they are a proper suffix of the window (the controller keeps them):
   * certified as a second evidence next to the window, each at δ/2
   */
  recent?: RouterCounters;
  /** a change the detector reported this interval (the caller has cut the window to the post-change slots) */
  change?: ChangeAlarm;
  /**
   * the calibration prior was re-admitted this interval: the operating point it certified offline
   * (spec.threshold.initial) is restored at once when the evidence still certifies it (as at the start)
   */
  restore?: number;
  /**
   * how close the detector's worse-direction CUSUMs are to firing (max S / h, 0..1): at 1/2 or more (a
   * likelihood ratio for a change of at least √(m/α)) the audit rate goes to its ceiling, so a change on
   * which the saver is confidently wrong is confirmed or refuted from audits, not only escalated rows
   */
  suspicion?: number;
}

export function decide(input: PolicyInput): Decision {
  const { window: w, current, spec } = input;
  const state: PolicyState = { ...(input.state ?? INITIAL_POLICY_STATE) };
  const minRows = spec.minRows ?? 200;
  const strata = spec.strata ?? DEFAULT_STRATA;
  const edges = spec.edges ?? CONFIDENCE_BUCKETS;
  const live = w.counters;
  const rows = w.rows;
  const audits = sumOf(live.auditAgree) + sumOf(live.auditDisagree);
  const routed = live.rowsSaver + live.rowsBase + live.rowsFallback;
  const measuredShare = routed > 0 ? live.rowsSaver / routed : NaN;
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
    auditRate: Number.isFinite(input.currentAuditRate)
      ? Math.min(spec.auditRate.max, Math.max(spec.auditRate.min, input.currentAuditRate as number))
      : spec.auditRate.min,
    neededAudits: NaN,
    rows: Number.isFinite(rows) ? rows : 0,
    changed: false,
    direction: 'none' as const,
  };
  const hold = (reason: DecisionReason, message: string): Decision => ({ ...base, holding: true, reason, message, state });

  if (!(current >= 0 && current <= 1)) return hold('InvalidTelemetry', `current threshold ${current} is not in [0, 1]`);
  const bad = invalidCounter(live) ?? (input.prior ? invalidCounter(input.prior) : undefined);
  if (bad) return hold('InvalidTelemetry', `telemetry holds an invalid count (${bad}); threshold held at ${thr(current)}`);
  if (!(w.ageMs <= spec.staleAfterMs)) {
    const age = Number.isFinite(w.ageMs) ? `${Math.round(w.ageMs / 1000)}s old` : 'missing';
    return hold(
      'TelemetryStale',
      `telemetry ${age} (stale after ${Math.round(spec.staleAfterMs / 1000)}s); threshold held at ${thr(current)}`,
    );
  }
  if (rows <= 0) return hold('NoData', `no rows in the window; threshold held at ${thr(current)}`);
  if (rows < minRows) return hold('WindowTooSmall', `${rows} rows in the window (< ${minRows}); threshold held at ${thr(current)}`);

  // certification evidence: the window plus the prior (calibration) while it is valid
  let c: RouterCounters = live;
  if (input.prior) {
    try {
      c = addInto(cloneCounters(live), input.prior);
    } catch (e) {
      return hold('InvalidTelemetry', `prior evidence does not fit the window: ${(e as Error).message}`);
    }
  }
  const evidenceRows = sumOf(c.all);
  // The evidence the threshold is certified on: the window (plus the prior). With `recent` (the rows since the
  // last raise, a suffix of the window) there are two fixed-sequence tests, one per evidence, each at δ/2: a
  // threshold either certifies holds with probability >= 1 - δ (Bonferroni), and the one that certifies lower
  // is used. The window alone can hold rows the saver answered at the audit floor before a detected change
  // (post-change rows by the detector's change-point estimate), a large unaudited share that keeps its bound
  // wide for as long as they stay in the window; the rows since the raise were observed at the raised
  // threshold (escalated, or audited at the raised rate).
  const recentRows = input.recent ? sumOf(input.recent.all) : 0;
  const useRecent = !!input.recent && recentRows >= minRows && !input.recent.all.some((v) => !(Number.isFinite(v) && v >= 0));
  let ev: { counters: RouterCounters; delta: number; total: number; recent: boolean };
  let cert;
  let atCurrent: CandidateBound;
  try {
    const options = (counters: RouterCounters, delta: number, isRecent: boolean) => {
      const certified = certifyThreshold(counters, { epsilon: spec.epsilon, delta, min: spec.min, max: spec.max, strata, edges });
      return {
        ev: { counters, delta, total: certified.totalRows, recent: isRecent },
        cert: certified,
        at: lossUpperBound(counters, current, { delta, strata, edges }),
      };
    };
    let pick = options(c, useRecent ? spec.delta / 2 : spec.delta, false);
    if (useRecent) {
      const r = options(input.recent as RouterCounters, spec.delta / 2, true);
      if (r.cert.threshold < pick.cert.threshold || (r.cert.threshold === pick.cert.threshold && r.at.bound < pick.at.bound)) pick = r;
    }
    ({ ev, cert, at: atCurrent } = pick);
  } catch (e) {
    return hold('InvalidTelemetry', `certification rejected the window: ${(e as Error).message}`);
  }
  const recommended = cert.threshold;
  const share = Number.isFinite(measuredShare) ? measuredShare : atCurrent.saverShare;
  let needed: number;
  let plannedRate: number;
  if (spec.auditPlan === 'current') {
    // size the audits for the current threshold (the earlier rule; kept for comparison in bench/drift.ts)
    const auditRateNow = atCurrent.audits > 0 ? atCurrent.auditDisagreements / atCurrent.audits : 0;
    needed = neededAudits(share, auditRateNow, atCurrent.exactPart, spec.epsilon, spec.delta, strata);
    const saverRows = share * rows;
    plannedRate = spec.auditRate.max;
    if (Number.isFinite(needed) && saverRows > 0)
      plannedRate = Math.min(spec.auditRate.max, Math.max(spec.auditRate.min, Math.max(needed, spec.minAudits) / saverRows));
  } else {
    // size them for the cheapest certifiable operating point (audit-plan.ts)
    const plan = planAudits(c, evidenceRows, { ...spec, strata, edges });
    needed = plan.audits;
    plannedRate = plan.rate;
  }

  const d: Decision = {
    ...base,
    recommended,
    bound: atCurrent.bound,
    boundAtCurrent: atCurrent.bound,
    share,
    auditsAbove: atCurrent.audits,
    auditRate: base.auditRate,
    neededAudits: needed,
    holding: false,
    reason: 'WithinBudget',
    message: '',
    state,
  };
  if (input.change) d.change = input.change;
  const evidence = ev.recent
    ? `${recentRows} rows since the last raise, δ/2`
    : `${rows} rows${input.prior ? ' + calibration' : ''}${useRecent ? ', δ/2' : ''}`;
  const summary = `loss bound ${pct(atCurrent.bound)} vs budget ${pct(spec.epsilon)} at ${thr(current)} (${atCurrent.audits} audits above t, ${evidence})`;
  const boundAt = (s: number) => lossUpperBound(ev.counters, s, { delta: ev.delta, strata, edges });
  const useDeadBand = spec.deadBand ?? true;

  // Decide what adaptive control would do.
  let proposed = current;
  let reason: DecisionReason;
  let message: string;
  const alarm = atCurrent.bound > spec.epsilon;
  const change = input.change;
  if (change?.direction === 'worse') {
    // The detector is the evidence: no "too few audits" guard. Safe level: what the post-change evidence
    // certifies (max when nothing does), never below t.
    state.alarmHoldLeft = spec.alarmHoldIntervals ?? 2;
    proposed = Math.max(recommended, current);
    if (alarm && proposed <= current) proposed = spec.max;
    reason = 'ChangeDetected';
    message = `change detected (${change.statistic} ${change.value.toFixed(1)} >= ${change.threshold.toFixed(1)}, since ${change.sinceIntervals} interval(s)): window cut to the post-change rows, audit rate to its ceiling; ${
      proposed > current
        ? `raise ${thr(current)} -> ${thr(proposed)}${cert.certifiedThreshold === null ? ' (nothing certified: max)' : ''}`
        : `${summary}; holding`
    }`;
  } else if (
    alarm &&
    (!state.boost || state.recovering || change?.direction === 'better') &&
    atCurrent.audits < spec.minAudits &&
    lossLowerBound(atCurrent, ev.total, ev.delta) <= spec.epsilon
  ) {
    // (after a detected change for the worse, until the new regime is certified, the bound alone raises: the
    // short post-change window is the evidence there, and waiting for audits is what let v1 fall behind a ramp.
    // After a change for the better the cut window holds fewer audits, not worse ones: a bound that grew only
    // because the evidence shrank is no evidence of a breach, so the guard applies)
    reason = 'InsufficientAudits';
    message = `${summary}: only ${atCurrent.audits} audits (< ${spec.minAudits}), no evidence yet that the budget is exceeded; holding`;
  } else if (alarm) {
    state.alarmHoldLeft = spec.alarmHoldIntervals ?? 2;
    proposed = Math.max(recommended, current);
    if (proposed <= current) proposed = spec.max; // t sits off-grid above every certified edge
    reason = 'BoundExceeded';
    message = `loss bound ${pct(atCurrent.bound)} > budget ${pct(spec.epsilon)} at ${thr(current)}; raise to ${thr(proposed)}${cert.certifiedThreshold === null ? ' (nothing certified: max)' : ''}`;
  } else if (input.restore !== undefined && input.restore < current && input.restore >= recommended) {
    proposed = input.restore;
    reason = 'Certified';
    message = `traffic matches the calibration again (calibration re-admitted): back to the offline-certified ${thr(proposed)}, certified down to ${thr(recommended)}`;
  } else if (recommended < current) {
    if (state.alarmHoldLeft > 0) {
      state.alarmHoldLeft--;
      reason = 'AlarmHold';
      message = `${summary}: certified ${thr(recommended)} but an alarm was raised recently (${state.alarmHoldLeft + 1} interval(s) to wait)`;
    } else {
      // The lowest grid edge within maxStep below t (the dense grid near 1 holds several), and at least
      // the next edge down (a coarse grid step wider than maxStep must not pin t); never below s*.
      // After a change for the better (the return to clean) the post-change evidence is certified on its
      // own rows, so the threshold may go straight to s* (dead band still applies): fast recovery.
      const within = candidateThresholds(spec.min, spec.max, edges).filter(
        (e) => e < current - 1e-12 && e >= current - spec.maxStep - 1e-12,
      );
      const step = state.recovering
        ? recommended
        : within.length > 0
          ? within[within.length - 1]
          : (stepBelow(current, spec) ?? recommended);
      const target = Math.max(recommended, step);
      // Dead band: the lowest edge in [target, t) whose bound plus one more bound-width stays within ε.
      let chosen: { s: number; b: CandidateBound } | undefined;
      let first: CandidateBound | undefined;
      for (const e of candidateThresholds(target, current, edges)
        .filter((x) => x < current - 1e-12)
        .reverse()) {
        const b = boundAt(e);
        first ??= b;
        if (!useDeadBand || b.bound + deadBandMargin(b, ev.total, ev.delta) <= spec.epsilon) {
          chosen = { s: e, b };
          break;
        }
      }
      if (!chosen) {
        const b = first ?? boundAt(target);
        reason = 'DeadBand';
        message = `${summary}: certified ${thr(recommended)}, but at ${thr(target)} the bound ${pct(b.bound)} + margin ${pct(deadBandMargin(b, ev.total, ev.delta))} exceeds the budget; holding`;
      } else {
        const above = chosen.b;
        // Fresh agreement observations above the new threshold: audits, plus the escalated rows between
        // it and t (the base answered those, so their agreement is known exactly, not sampled).
        const observed = above.audits + above.escalatedRows;
        if (observed < spec.minAudits) {
          reason = 'InsufficientAudits';
          message = `${summary}: certified ${thr(recommended)}, but only ${observed} observed rows (audited or escalated) above ${thr(chosen.s)} (< ${spec.minAudits}); holding`;
        } else {
          proposed = chosen.s;
          reason = 'Certified';
          message = `${state.recovering ? 'after a detected return to clean (no maxStep): ' : ''}certified ${thr(recommended)} (bound ${pct(cert.bound ?? NaN)} <= budget ${pct(spec.epsilon)}); lower ${thr(current)} -> ${thr(chosen.s)}, bound ${pct(above.bound)}${useDeadBand ? ` + margin ${pct(deadBandMargin(above, ev.total, ev.delta))}` : ''}`;
        }
      }
    }
  } else {
    if (state.alarmHoldLeft > 0) state.alarmHoldLeft--;
    reason = 'WithinBudget';
    message = `${summary}; ${recommended === current ? 'at the certified threshold' : `certified ${thr(recommended)}`}`;
  }
  if (change?.direction === 'better') state.recovering = true;
  else if (
    change ||
    proposed > current ||
    (proposed === current && reason !== 'DeadBand' && reason !== 'InsufficientAudits' && reason !== 'AlarmHold')
  )
    state.recovering = false;
  if (change?.direction === 'better') {
    message = `change detected (${change.statistic} ${change.value.toFixed(1)} >= ${change.threshold.toFixed(1)}, since ${change.sinceIntervals} interval(s)): window cut to the post-change rows, audit rate to its ceiling; ${message}`;
  }
  d.proposed = proposed;

  // Audit rate. After a change: the ceiling until the threshold is certified again with the dead-band
  // margin. Otherwise the floor when the floor alone keeps the threshold certified, else the planned rate.
  const atNext = proposed === current ? atCurrent : boundAt(proposed);
  if (change) state.boost = true;
  let wanted = plannedRate;
  // At max the saver is off (only rows at the top of the grid, e.g. a saturated confidence of 1.0, still reach
  // it): certifying max says nothing about the regime, and the rows above the next candidate are exactly the
  // ones that need audits, so neither the end of the boost nor the floor applies there.
  const saverOff = proposed >= spec.max;
  if (state.boost) {
    if (!change && !saverOff && atNext.bound + deadBandMargin(atNext, ev.total, ev.delta) <= spec.epsilon) state.boost = false;
    else wanted = spec.auditRate.max;
  }
  const suspicious = (input.suspicion ?? 0) >= 0.5;
  if (suspicious) wanted = spec.auditRate.max;
  else if (!state.boost && !saverOff && !ev.recent && atNext.bound <= spec.epsilon) {
    const p = atNext.audits > 0 ? (atNext.auditDisagreements + 0.5) / (atNext.audits + 1) : 1;
    const regionShare = atNext.saverShare;
    const need = neededAudits(regionShare, p, atNext.exactPart, spec.epsilon, spec.delta, strata, 1);
    const priorAbove = input.prior ? lossUpperBound(input.prior, proposed, { delta: spec.delta, strata, edges }).audits : 0;
    const liveSaverRows = Math.max(0, regionShare * evidenceRows - atNext.escalatedRows) * (evidenceRows > 0 ? rows / evidenceRows : 0);
    if (Number.isFinite(need) && priorAbove + spec.auditRate.min * liveSaverRows >= need) wanted = spec.auditRate.min;
  }
  d.auditRate = spec.mode === 'fixed' ? spec.auditRate.min : nextAuditRate(input.currentAuditRate, wanted, spec.auditRate);

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
    d.bound = atNext.bound;
    d.auditsAbove = atNext.audits;
  }
  return d;
}
