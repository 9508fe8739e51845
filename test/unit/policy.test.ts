import { describe, expect, it } from 'vitest';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { lossUpperBound } from '../../core/cascade/certify.js';
import { totalRows } from '../../operator/telemetry/counters.js';
import { type ConfidenceMass, routerWindowCounters } from '../support/router-window.js';
import { type PolicySpec, type PolicyWindow, decide, neededAudits, validatePolicySpec } from '../../operator/threshold/policy.js';

const SPEC: PolicySpec = {
  mode: 'adaptive',
  min: 0.5,
  max: 1,
  epsilon: 0.02,
  delta: 0.05,
  maxStep: 0.02,
  minAudits: 100,
  staleAfterMs: 90_000,
  auditRate: { min: 0.02, max: 0.3 },
};

/**
 * A window as a router at threshold `t` with audit rate `a` would report it: `rows` rows spread over
 * confidence points, disagreement with the base at rate `dis(c)` (deterministic, rounded counts).
 */
// confidence mass: 60% near 1, the rest spread down to 0.3
const MASS: ConfidenceMass = [
  [0.9999, 0.3],
  [0.999, 0.15],
  [0.995, 0.1],
  [0.985, 0.05],
  [0.97, 0.06],
  [0.95, 0.06],
  [0.92, 0.06],
  [0.89, 0.05],
  [0.85, 0.05],
  [0.78, 0.04],
  [0.68, 0.03],
  [0.55, 0.03],
  [0.35, 0.02],
];
function liveWindow(t: number, a: number, rows: number, dis: (c: number) => number): PolicyWindow {
  const c = routerWindowCounters(MASS, t, a, rows, dis);
  return { counters: c, rows: totalRows(c), ageMs: 1000 };
}

const clean = (c: number) => (c >= 0.99 ? 0 : c >= 0.9 ? 0.02 : 0.3);
const drifted = (c: number) => (c >= 0.99 ? 0.04 : c >= 0.9 ? 0.15 : 0.5);

describe('decide: guards', () => {
  it('holds on NaN counts, stale, empty and tiny windows, saying why', () => {
    const w = liveWindow(0.9, 0.1, 10_000, clean);
    const nan = { ...w, counters: { ...w.counters, all: w.counters.all.map((v, i) => (i === 3 ? NaN : v)) } };
    expect(decide({ window: nan, current: 0.9, spec: SPEC })).toMatchObject({ holding: true, reason: 'InvalidTelemetry', threshold: 0.9 });
    expect(decide({ window: { ...w, ageMs: 200_000 }, current: 0.9, spec: SPEC })).toMatchObject({
      holding: true,
      reason: 'TelemetryStale',
    });
    expect(decide({ window: { ...w, ageMs: Infinity }, current: 0.9, spec: SPEC }).message).toMatch(/missing/);
    const empty = liveWindow(0.9, 0.1, 0, clean);
    expect(decide({ window: empty, current: 0.9, spec: SPEC })).toMatchObject({ holding: true, reason: 'NoData' });
    const tiny = liveWindow(0.9, 0.1, 100, clean);
    expect(decide({ window: tiny, current: 0.9, spec: SPEC })).toMatchObject({ holding: true, reason: 'WindowTooSmall', changed: false });
    const neg = { ...w, counters: { ...w.counters, rowsSaver: -1 } };
    expect(decide({ window: neg, current: 0.9, spec: SPEC }).reason).toBe('InvalidTelemetry');
  });

  it('validates the spec, naming each bad field', () => {
    expect(validatePolicySpec(SPEC)).toEqual([]);
    const errs = validatePolicySpec({ ...SPEC, min: 0.9, max: 0.8, epsilon: 0, minAudits: 1.5 });
    expect(errs.join('\n')).toMatch(/threshold.min 0.9 > threshold.max 0.8/);
    expect(errs.join('\n')).toMatch(/maxAccuracyLoss/);
    expect(errs.join('\n')).toMatch(/minAudits/);
  });
});

describe('decide: moves', () => {
  it('raises at once, to the certified threshold, when the bound at t exceeds the budget', () => {
    const w = liveWindow(0.8, 0.1, 20_000, drifted);
    const d = decide({ window: w, current: 0.8, spec: SPEC });
    expect(d.boundAtCurrent).toBeGreaterThan(SPEC.epsilon);
    expect(d).toMatchObject({ changed: true, direction: 'raise', reason: 'BoundExceeded' });
    expect(d.threshold).toBe(d.recommended);
    expect(d.threshold).toBeGreaterThan(0.8);
    expect(d.state.alarmHoldLeft).toBe(2);
    expect(d.message).toMatch(/loss bound .*% > budget 2.00% at 0.8; raise to/);
  });

  it('does not raise on too few audits without evidence, but does with clear evidence', () => {
    const few = liveWindow(0.8, 0.004, 20_000, clean); // ~70 audits, no disagreement above 0.99
    const d = decide({ window: few, current: 0.8, spec: SPEC });
    expect(d.boundAtCurrent).toBeGreaterThan(SPEC.epsilon);
    expect(d).toMatchObject({ changed: false, reason: 'InsufficientAudits' });
    expect(d.auditRate).toBeGreaterThan(SPEC.auditRate.min); // asks the routers for more audits
    const awful = liveWindow(0.8, 0.004, 20_000, () => 0.5); // half the audits disagree: evidence
    expect(decide({ window: awful, current: 0.8, spec: SPEC })).toMatchObject({ changed: true, direction: 'raise' });
  });

  it('lowers at most maxStep (at least one grid edge) per interval, never below s*, and only with enough audits', () => {
    let t = 0.99;
    const seen: number[] = [];
    for (let i = 0; i < 30; i++) {
      const d = decide({ window: liveWindow(t, 0.1, 40_000, clean), current: t, spec: SPEC });
      if (!d.changed) break;
      expect(d.direction).toBe('lower');
      // at most maxStep, or exactly one grid edge where the grid is coarser than maxStep
      const skipped = CONFIDENCE_BUCKETS.filter((e) => e < t && e > d.threshold);
      expect(t - d.threshold <= SPEC.maxStep + 1e-9 || skipped.length === 0).toBe(true);
      // and as far as maxStep allows: no lower edge within maxStep was skipped over
      const lowestWithin = CONFIDENCE_BUCKETS.filter((e) => e < t && e >= t - SPEC.maxStep - 1e-9).at(0);
      if (lowestWithin !== undefined && lowestWithin >= d.recommended) expect(d.threshold).toBe(lowestWithin);
      expect(d.bound).toBeLessThanOrEqual(SPEC.epsilon);
      expect(d.threshold).toBeGreaterThanOrEqual(d.recommended);
      t = d.threshold;
      seen.push(t);
      if (process.env.DEBUG_POLICY) console.log(d.message);
    }
    expect(seen.length).toBeGreaterThan(3);
    const final = decide({ window: liveWindow(t, 0.1, 40_000, clean), current: t, spec: SPEC });
    expect(final.changed).toBe(false);
    expect(final.reason).toBe('WithinBudget');
    // the reached threshold is within budget on the same kind of data
    expect(lossUpperBound(liveWindow(t, 0.1, 40_000, clean).counters, t, { delta: SPEC.delta }).bound).toBeLessThanOrEqual(SPEC.epsilon);
  });

  it('does not lower with fewer than minAudits above the new threshold', () => {
    const d = decide({ window: liveWindow(0.99, 0.1, 40_000, clean), current: 0.99, spec: { ...SPEC, minAudits: 100_000 } });
    expect(d).toMatchObject({ changed: false, reason: 'InsufficientAudits' });
    expect(d.message).toMatch(/audits above/);
  });

  it('does not lower while an alarm holds, then resumes', () => {
    const w = liveWindow(0.99, 0.1, 40_000, clean);
    const d1 = decide({ window: w, current: 0.99, spec: SPEC, state: { alarmHoldLeft: 2 } });
    expect(d1).toMatchObject({ changed: false, reason: 'AlarmHold' });
    const d2 = decide({ window: w, current: 0.99, spec: SPEC, state: d1.state });
    expect(d2).toMatchObject({ changed: false, reason: 'AlarmHold' });
    const d3 = decide({ window: w, current: 0.99, spec: SPEC, state: d2.state });
    expect(d3).toMatchObject({ changed: true, direction: 'lower' });
  });

  it('mode fixed never moves; mode observe recommends without applying', () => {
    const w = liveWindow(0.8, 0.1, 20_000, drifted);
    const f = decide({ window: w, current: 0.8, spec: { ...SPEC, mode: 'fixed' } });
    expect(f).toMatchObject({ threshold: 0.8, changed: false, reason: 'ModeFixed' });
    expect(f.recommended).toBeGreaterThan(0.8);
    const o = decide({ window: w, current: 0.8, spec: { ...SPEC, mode: 'observe' } });
    expect(o).toMatchObject({ threshold: 0.8, changed: false, reason: 'BoundExceeded' });
    expect(o.proposed).toBeGreaterThan(0.8);
    expect(o.message).toMatch(/^mode observe \(not applied\)/);
  });

  it('respects max: nothing certifies -> max', () => {
    const w = liveWindow(0.8, 0.2, 20_000, () => 0.4);
    const d = decide({ window: w, current: 0.8, spec: { ...SPEC, max: 0.97 } });
    expect(d).toMatchObject({ threshold: 0.97, direction: 'raise' });
    expect(d.message).toMatch(/nothing certified/);
  });
});

describe('neededAudits', () => {
  it('matches ln(δ)/ln(1-ε) for zero disagreements, one stratum (with the 20% headroom)', () => {
    const n = neededAudits(1, 0, 0, 0.01, 0.05, 1);
    const textbook = Math.log(0.05) / Math.log(1 - 0.008);
    expect(Math.abs(n - textbook)).toBeLessThanOrEqual(2);
    // the famous ~299 for the plain budget
    expect(Math.ceil(Math.log(0.05) / Math.log(1 - 0.01))).toBe(299);
  });
  it('grows with strata and disagreement, shrinks with share, is Infinity when unattainable', () => {
    const a = neededAudits(0.8, 0, 0, 0.01, 0.05, 1);
    expect(neededAudits(0.8, 0, 0, 0.01, 0.05, 3)).toBeGreaterThan(a);
    expect(neededAudits(0.8, 0.002, 0, 0.01, 0.05, 1)).toBeGreaterThan(a);
    expect(neededAudits(0.4, 0, 0, 0.01, 0.05, 1)).toBeLessThan(a);
    expect(neededAudits(0.8, 0.02, 0, 0.01, 0.05, 1)).toBe(Infinity);
  });
});
