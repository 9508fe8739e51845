// Threshold policy v2 (operator/threshold/policy.ts): dead band, change-driven moves, warm start from the
// offline calibration, audit floor; and the CRD's calibration field parsed with errors naming the field.
import { describe, expect, it } from 'vitest';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { certifyThreshold, lossUpperBound } from '../../core/cascade/certify.js';
import { clopperPearsonUpper } from '../../core/cascade/bounds.js';
import { addInto, cloneCounters, totalRows, zeroCounters } from '../../operator/telemetry/counters.js';
import { type ConfidenceMass, routerWindowCounters } from '../support/router-window.js';
import { type PolicySpec, type PolicyWindow, deadBandMargin, decide } from '../../operator/threshold/policy.js';
import { calibrationCounters, controlSettings } from '../../operator/threshold/spec.js';
import type { ChangeAlarm } from '../../operator/threshold/detector.js';
import type { ModelCascade } from '../../operator/api/model-cascade.js';

const SPEC: PolicySpec = {
  mode: 'adaptive',
  min: 0.5,
  max: 1,
  epsilon: 0.02,
  delta: 0.05,
  maxStep: 0.05,
  minAudits: 100,
  staleAfterMs: 90_000,
  auditRate: { min: 0.01, max: 0.3 },
  strata: 1,
};
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
const clean = (c: number) => (c >= 0.99 ? 0.002 : c >= 0.9 ? 0.05 : 0.3);
function live(t: number, a: number, rows: number, dis: (c: number) => number = clean): PolicyWindow {
  const c = routerWindowCounters(MASS, t, a, rows, dis);
  return { counters: c, rows: totalRows(c), ageMs: 1000 };
}
/** calibration: every row audited (what `tinysaver simulate` certifies on) */
function calibration(rows: number, dis: (c: number) => number = clean) {
  const c = routerWindowCounters(MASS, 0, 0, rows, dis); // t = 0: every row "escalated" = observed
  return { rows: c.all.slice(), disagreements: c.escalatedDisagree.slice() };
}
const worse: ChangeAlarm = { statistic: 'disagreeUp x2', direction: 'worse', value: 9, threshold: 6.68, sinceIntervals: 1 };
const better: ChangeAlarm = { ...worse, statistic: 'escalateDown x2', direction: 'better' };

describe('dead band', () => {
  it("is the width of the bound's sampling term: 0 when the loss is fully observed, shrinking with audits", () => {
    // t = 1: every row escalated, disagreement observed exactly; the margin is the binomial width of those rows
    const exact = live(1, 0, 20_000);
    const b = lossUpperBound(exact.counters, 0.9, { delta: 0.05, strata: 1 });
    const d = Math.round(b.exactPart * exact.rows);
    expect(deadBandMargin(b, exact.rows, 0.05)).toBeCloseTo(
      (b.escalatedRows * clopperPearsonUpper(d, b.escalatedRows, 0.05) - d) / exact.rows,
      12,
    );
    const exact4 = live(1, 0, 80_000);
    expect(deadBandMargin(lossUpperBound(exact4.counters, 0.9, { delta: 0.05, strata: 1 }), exact4.rows)).toBeLessThan(
      deadBandMargin(b, exact.rows),
    );
    const few = live(0.5, 0.02, 20_000);
    const many = live(0.5, 0.2, 20_000);
    const m1 = deadBandMargin(lossUpperBound(few.counters, 0.9, { delta: 0.05, strata: 1 }), few.rows);
    const m2 = deadBandMargin(lossUpperBound(many.counters, 0.9, { delta: 0.05, strata: 1 }), many.rows);
    expect(m1).toBeGreaterThan(m2);
    expect(m2).toBeGreaterThan(0);
  });

  it('holds where v1 would lower to a threshold whose bound just fits, and lowers once audits make room', () => {
    // the window certifies below 0.95, but the bound there is close to ε with few audits
    const w = live(0.95, 0.05, 12_000);
    const v1 = decide({ window: w, current: 0.95, spec: { ...SPEC, deadBand: false } });
    const v2 = decide({ window: w, current: 0.95, spec: SPEC });
    expect(v1.recommended).toBeLessThan(0.95);
    expect(v1).toMatchObject({ changed: true, direction: 'lower' });
    expect(v2).toMatchObject({ changed: false, reason: 'DeadBand', threshold: 0.95 });
    expect(v2.message).toMatch(/\+ margin .* exceeds the budget; holding/);
    // the same rates with 15 times the audits: the margin shrinks and v2 lowers too
    const rich = live(0.95, 0.3, 30_000);
    expect(decide({ window: rich, current: 0.95, spec: SPEC })).toMatchObject({ changed: true, direction: 'lower' });
  });

  it('never re-lowers within the hold after a raise', () => {
    const bad = live(0.8, 0.1, 20_000, (c) => (c >= 0.99 ? 0.03 : c >= 0.9 ? 0.2 : 0.5));
    const d = decide({ window: bad, current: 0.8, spec: SPEC });
    expect(d).toMatchObject({ direction: 'raise' });
    const after = decide({ window: live(d.threshold, 0.3, 20_000), current: d.threshold, spec: SPEC, state: d.state });
    expect(after.changed).toBe(false);
    expect(after.reason).toBe('AlarmHold');
  });
});

describe('change detected', () => {
  it('for the worse: raises at once to the post-change certified threshold, without waiting for audits, audit rate to the ceiling', () => {
    const w = live(0.8, 0.002, 1000, (c) => (c >= 0.99 ? 0.05 : c >= 0.9 ? 0.3 : 0.6)); // 1 post-change interval, ~2 audits
    const plain = decide({ window: w, current: 0.8, spec: SPEC });
    expect(plain).toMatchObject({ changed: false, reason: 'InsufficientAudits' });
    const d = decide({ window: w, current: 0.8, spec: SPEC, change: worse });
    expect(d).toMatchObject({ changed: true, direction: 'raise', reason: 'ChangeDetected', auditRate: SPEC.auditRate.max });
    expect(d.message).toMatch(/change detected \(disagreeUp x2/);
    expect(d.state.alarmHoldLeft).toBeGreaterThan(0);
    expect(d.state.boost).toBe(true);
  });

  it('for the better: no raise, audit rate to the ceiling, and lowering may skip maxStep straight to the certified threshold', () => {
    const w = live(0.99, 0.3, 6000); // post-change rows of clean traffic, t still high from the drift
    const d = decide({ window: w, current: 0.99, spec: SPEC, change: better });
    expect(d.direction).not.toBe('raise');
    expect(d.auditRate).toBe(SPEC.auditRate.max);
    expect(d.state.recovering).toBe(true);
    const next = decide({ window: live(0.99, 0.3, 9000), current: 0.99, spec: SPEC, state: d.state });
    expect(next).toMatchObject({ changed: true, direction: 'lower' });
    expect(0.99 - next.threshold).toBeGreaterThan(SPEC.maxStep); // faster than one maxStep per interval
    const slow = decide({ window: live(0.99, 0.3, 9000), current: 0.99, spec: SPEC });
    expect(0.99 - slow.threshold).toBeLessThanOrEqual(SPEC.maxStep + 1e-9);
  });

  it('for the better: a bound that grew only because the cut window holds few audits does not raise', () => {
    // one post-change interval of clean traffic at a high threshold, audits at the floor before the change
    const w = live(0.99, 0.01, 500);
    const first = decide({ window: w, current: 0.99, spec: SPEC, change: better });
    expect(first.boundAtCurrent).toBeGreaterThan(SPEC.epsilon); // thin evidence, not a breach
    expect(first.direction).not.toBe('raise');
    const next = decide({ window: live(0.99, 0.01, 1000), current: 0.99, spec: SPEC, state: first.state });
    expect(next.boundAtCurrent).toBeGreaterThan(SPEC.epsilon);
    expect(next).toMatchObject({ changed: false, reason: 'InsufficientAudits' });
    // after a change for the worse the same bound raises at once (the post-change window is the evidence)
    const worseFirst = decide({ window: w, current: 0.99, spec: SPEC, change: worse });
    const worseNext = decide({ window: live(0.99, 0.01, 1000), current: worseFirst.threshold, spec: SPEC, state: worseFirst.state });
    expect(worseFirst.direction === 'raise' || worseNext.direction === 'raise').toBe(true);
  });

  it('rows since the last raise: a second evidence at δ/2 next to a window full of rows audited at the floor', () => {
    // the window: 8000 post-change rows the saver answered at t = 0.8 with 0.2% audits, then 4000 rows since the
    // raise to max (every row below 1 escalated: observed exactly)
    const before = routerWindowCounters(MASS, 0.8, 0.002, 8000, clean);
    const recent = routerWindowCounters(MASS, 1, 0.25, 4000, clean);
    const all = addInto(cloneCounters(before), recent);
    const window = { counters: all, rows: totalRows(all), ageMs: 1000 };
    const spec = { ...SPEC, epsilon: 0.01 };
    const state = { alarmHoldLeft: 0, boost: true };
    const without = decide({ window, current: 1, spec, state });
    const withRecent = decide({ window, current: 1, spec, state, recent });
    // the thinly audited rows keep the window's bound wide; the recent rows certify lower
    expect(withRecent.recommended).toBeLessThan(without.recommended);
    // what it certifies is what the recent rows certify at δ/2 (Bonferroni over the two tests)
    expect(withRecent.recommended).toBe(
      certifyThreshold(recent, { epsilon: 0.01, delta: SPEC.delta / 2, min: SPEC.min, max: SPEC.max, strata: 1 }).threshold,
    );
    expect(withRecent.direction).toBe('lower');
    // too few recent rows (< minRows): not used
    const tiny = routerWindowCounters(MASS, 1, 0.25, 100, clean);
    expect(decide({ window, current: 1, spec, state, recent: tiny }).recommended).toBe(without.recommended);
  });

  it('at max (saver off) the boost stays on and the audit rate does not drop to the floor', () => {
    // t = max: the bound at max is 0, but nothing about lower thresholds is known from the saturated rows
    const w = live(1, 0.3, 3000, (c) => (c >= 0.99 ? 0.05 : 0.4));
    // (in the hold after the raise, so it stays at max this interval)
    const d = decide({ window: w, current: 1, spec: SPEC, state: { alarmHoldLeft: 2, boost: true } });
    expect(d.threshold).toBe(1);
    expect(d.reason).toBe('AlarmHold');
    expect(d.state.boost).toBe(true);
    expect(d.auditRate).toBe(SPEC.auditRate.max);
    // below max, certified with margin: the boost ends
    const ok = decide({ window: live(0.95, 0.3, 30_000), current: 0.95, spec: SPEC, state: { alarmHoldLeft: 5, boost: true } });
    expect(ok.state.boost).toBe(false);
  });
});

describe('warm start from the offline calibration', () => {
  it('with the calibration as prior evidence the certified initial threshold holds on the first small window; without it the controller asks for audits', () => {
    const cal = calibrationCounters(calibration(5000)).prior!;
    // what `tinysaver simulate` certified offline: spec.threshold.initial
    const initial = certifyThreshold(cal, { epsilon: SPEC.epsilon, delta: SPEC.delta, min: SPEC.min, max: SPEC.max, strata: 1 }).threshold;
    expect(initial).toBeLessThan(0.95);
    const first = live(initial, 0.01, 500);
    const withPrior = decide({ window: first, current: initial, spec: SPEC, prior: cal });
    expect(withPrior).toMatchObject({ changed: false, threshold: initial });
    expect(withPrior.bound).toBeLessThanOrEqual(SPEC.epsilon);
    expect(withPrior.message).toMatch(/\+ calibration/);
    const cold = decide({ window: first, current: initial, spec: SPEC });
    expect(cold.changed).toBe(false);
    expect(cold.reason).toBe('InsufficientAudits');
    expect(cold.auditRate).toBeGreaterThan(SPEC.auditRate.min);
  });

  it('sends the audit rate to the floor when the floor keeps the threshold certified', () => {
    const cal = calibrationCounters(calibration(20_000)).prior!;
    const d = decide({ window: live(0.95, 0.1, 8000), current: 0.95, spec: SPEC, prior: cal, currentAuditRate: 0.1 });
    expect(d.auditRate).toBe(SPEC.auditRate.min);
    // without the prior the floor's audits cannot keep 0.95 certified: the planned rate stays above the floor
    const cold = decide({ window: live(0.95, 0.1, 8000), current: 0.95, spec: SPEC, currentAuditRate: 0.1 });
    expect(cold.auditRate).toBeGreaterThan(SPEC.auditRate.min);
  });

  it('raises the audit rate to the ceiling while the detector is half-way to an alarm for the worse', () => {
    const cal = calibrationCounters(calibration(20_000)).prior!;
    const w = live(0.95, 0.1, 8000);
    expect(decide({ window: w, current: 0.95, spec: SPEC, prior: cal, currentAuditRate: 0.1, suspicion: 0.4 }).auditRate).toBe(
      SPEC.auditRate.min,
    );
    const d = decide({ window: w, current: 0.95, spec: SPEC, prior: cal, currentAuditRate: 0.1, suspicion: 0.6 });
    expect(d.auditRate).toBe(SPEC.auditRate.max);
    expect(d.direction).not.toBe('raise'); // suspicion alone never raises the threshold
  });

  it('holds on a prior with invalid counts (bad input never moves the threshold)', () => {
    const cal = calibrationCounters(calibration(5000)).prior!;
    cal.auditAgree[3] = NaN;
    expect(decide({ window: live(0.9, 0.05, 5000), current: 0.9, spec: SPEC, prior: cal })).toMatchObject({
      holding: true,
      reason: 'InvalidTelemetry',
      changed: false,
    });
  });

  it('parses spec.threshold.calibration, naming the field and the problem', () => {
    const n = CONFIDENCE_BUCKETS.length + 1;
    const ok = calibrationCounters({ rows: new Array(n).fill(10), disagreements: new Array(n).fill(1) });
    expect(ok.errors).toEqual([]);
    expect(ok.prior?.auditDisagree[0]).toBe(1);
    expect(ok.prior?.auditAgree[0]).toBe(9);
    expect(calibrationCounters({ rows: new Array(n - 1).fill(1), disagreements: new Array(n - 1).fill(0) }).prior?.all.length).toBe(n);
    expect(calibrationCounters(undefined)).toEqual({ errors: [] });
    expect(calibrationCounters({ rows: [1, 2], disagreements: [0, 0] }).errors[0]).toMatch(
      /spec\.threshold\.calibration\.rows: has 2 entries, expected 35/,
    );
    expect(calibrationCounters({ rows: new Array(n).fill(1), disagreements: new Array(n).fill(2) }).errors[0]).toMatch(
      /disagreements\[0\]: 2 exceeds rows\[0\] = 1/,
    );
    expect(calibrationCounters({ rows: new Array(n).fill(-1), disagreements: new Array(n).fill(0) }).errors[0]).toMatch(
      /rows\[0\]: must be an integer >= 0/,
    );
    expect(calibrationCounters({ rows: new Array(n).fill(0), disagreements: new Array(n).fill(0) }).errors[0]).toMatch(/holds no rows/);
    expect(calibrationCounters('x').errors[0]).toMatch(/must be an object/);
    const mc = (spec: Record<string, unknown>): ModelCascade =>
      ({
        apiVersion: 'tinysaver.io/v1alpha1',
        kind: 'ModelCascade',
        metadata: { name: 'm', namespace: 'n' },
        spec: { saver: { model: 's' }, base: { model: 'b' }, ...spec },
      }) as ModelCascade;
    const bad = controlSettings(mc({ threshold: { calibration: { rows: [1], disagreements: [0] } }, control: { falseAlarmRate: 0 } }));
    expect(bad.settings).toBeUndefined();
    expect(bad.errors.join('\n')).toMatch(/spec\.threshold\.calibration\.rows/);
    expect(bad.errors.join('\n')).toMatch(/spec\.control\.falseAlarmRate/);
    const good = controlSettings(mc({ control: { window: '10m', maxWindow: '2h' } }));
    expect(good.settings).toMatchObject({ evidenceMs: 7_200_000, falseAlarmRate: 0.01 });
    expect(good.settings?.prior).toBeUndefined();
    expect(controlSettings(mc({ control: { window: '3h' } })).settings?.evidenceMs).toBe(10_800_000); // never below window
  });
});

it('zeroCounters has the grid + Inf (the calibration arrays follow it)', () => {
  expect(zeroCounters().all.length).toBe(CONFIDENCE_BUCKETS.length + 1);
});
