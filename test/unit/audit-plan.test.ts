// The audit-rate plan (operator/threshold/audit-plan.ts): just enough audits per window for the operating
// point that keeps the most rows off the base, audits included; and the ConfigMap-friendly rounding.
import { describe, expect, it } from 'vitest';
import { candidateThresholds } from '../../core/cascade/certify.js';
import { type RouterCounters, totalRows, zeroCounters } from '../../operator/telemetry/counters.js';
import { type AuditPlanOptions, neededAudits, nextAuditRate, planAudits } from '../../operator/threshold/audit-plan.js';
import { INITIAL_POLICY_STATE, type Decision, decide } from '../../operator/threshold/policy.js';
import { buildThresholdStatus } from '../../operator/threshold/status.js';
import { type ConfidenceMass, routerWindowCounters } from '../support/router-window.js';

const OPTS: AuditPlanOptions = { epsilon: 0.02, delta: 0.05, strata: 1, min: 0.5, max: 1, auditRate: { min: 0.01, max: 0.25 } };

/** A router window at threshold t, audit rate a: confidence mass at a few points, disagreement dis(c). */
const MASS: ConfidenceMass = [
  [0.9999, 0.35],
  [0.999, 0.15],
  [0.995, 0.1],
  [0.985, 0.06],
  [0.97, 0.06],
  [0.95, 0.06],
  [0.92, 0.06],
  [0.89, 0.05],
  [0.85, 0.04],
  [0.78, 0.03],
  [0.68, 0.02],
  [0.55, 0.02],
];
function window(t: number, a: number, rows: number, dis: (c: number) => number): RouterCounters {
  return routerWindowCounters(MASS, t, a, rows, dis);
}

const clean = (c: number) => (c >= 0.99 ? 0.002 : c >= 0.9 ? 0.02 : 0.3);
const drifted = (c: number) => (c >= 0.99 ? 0.03 : c >= 0.9 ? 0.2 : 0.6);

describe('neededAudits', () => {
  it('is the textbook ln(δ)/ln(1-ε) with no disagreement, full share and no headroom', () => {
    const n = neededAudits(1, 0, 0, 0.01, 0.05, 1, 1);
    expect(n).toBeGreaterThanOrEqual(Math.floor(Math.log(0.05) / Math.log(0.99)));
    expect(n).toBeLessThanOrEqual(Math.ceil(Math.log(0.05) / Math.log(0.99)) + 1);
    expect(neededAudits(1, 0, 0, 0.01, 0.05, 1)).toBeGreaterThan(n); // default headroom 0.8 needs more
  });
});

describe('planAudits', () => {
  it('picks the candidate with the most rows kept off the base, rate sized to its needed audits', () => {
    const rows = 8000;
    const c = window(0.9, 0.1, rows, clean);
    const plan = planAudits(c, rows, OPTS);
    expect(candidateThresholds(OPTS.min, OPTS.max)).toContain(plan.threshold);
    expect(plan.rate).toBeGreaterThanOrEqual(OPTS.auditRate.min);
    expect(plan.rate).toBeLessThan(OPTS.auditRate.max);
    expect(plan.rate).toBeCloseTo(Math.max(OPTS.auditRate.min, plan.audits / (plan.share * rows)), 9);
    expect(plan.avoided).toBeCloseTo(plan.share * (1 - plan.rate), 9);
    // no other grid threshold keeps more rows off the base at the rate it would need
    for (const t of candidateThresholds(OPTS.min, OPTS.max)) {
      const other = planAudits(c, rows, { ...OPTS, min: t, max: t });
      if (Number.isFinite(other.threshold)) expect(other.avoided).toBeLessThanOrEqual(plan.avoided + 1e-12);
    }
  });

  it('a window twice as long needs about half the audit rate for the same point (audits accumulate)', () => {
    const short = planAudits(window(0.9, 0.1, 8000, clean), 8000, { ...OPTS, auditRate: { min: 0, max: 1 } });
    const long = planAudits(window(0.9, 0.1, 16_000, clean), 16_000, { ...OPTS, auditRate: { min: 0, max: 1 } });
    expect(long.rate).toBeLessThan(short.rate * 0.75);
    expect(long.share).toBeGreaterThanOrEqual(short.share);
  });

  it('under drift it plans a stricter point (fewer saver rows) than on clean traffic', () => {
    const a = planAudits(window(0.9, 0.1, 8000, clean), 8000, OPTS);
    const b = planAudits(window(0.9, 0.1, 8000, drifted), 8000, OPTS);
    expect(b.threshold).toBeGreaterThan(a.threshold);
    expect(b.avoided).toBeLessThan(a.avoided);
  });

  it('no rows: nothing feasible, the ceiling (learn fast)', () => {
    expect(planAudits(zeroCounters(), 0, OPTS)).toMatchObject({ rate: 0.25, audits: Infinity });
  });
});

describe('nextAuditRate', () => {
  const b = { min: 0.02, max: 0.25 };
  it('rounds up to two significant digits and clamps', () => {
    expect(nextAuditRate(undefined, 0.0341, b)).toBe(0.035);
    expect(nextAuditRate(undefined, 0.001, b)).toBe(0.02);
    expect(nextAuditRate(undefined, 0.9, b)).toBe(0.25);
    expect(nextAuditRate(undefined, Infinity, b)).toBe(0.25);
    expect(nextAuditRate(undefined, Number.NaN, b)).toBe(0.25);
  });
  it('raises at once, lowers only below 80% of the rate in force', () => {
    expect(nextAuditRate(0.1, 0.11, b)).toBe(0.11);
    expect(nextAuditRate(0.1, 0.085, b)).toBe(0.1);
    expect(nextAuditRate(0.1, 0.07, b)).toBe(0.07);
  });
});

describe('decide and status carry the audit rate', () => {
  const spec = {
    mode: 'adaptive' as const,
    min: 0.5,
    max: 1,
    epsilon: 0.02,
    delta: 0.05,
    maxStep: 0.02,
    minAudits: 100,
    staleAfterMs: 90_000,
    auditRate: { min: 0.02, max: 0.25 },
  };
  it('holding keeps the rate in force; acting sizes it by the plan', () => {
    const c = window(0.9, 0.1, 8000, clean);
    const held = decide({ window: { counters: c, rows: totalRows(c), ageMs: 1e9 }, current: 0.9, spec, currentAuditRate: 0.13 });
    expect(held).toMatchObject({ holding: true, reason: 'TelemetryStale', auditRate: 0.13 });
    const acted = decide({ window: { counters: c, rows: totalRows(c), ageMs: 1000 }, current: 0.9, spec });
    expect(acted.auditRate).toBe(nextAuditRate(undefined, planAudits(c, totalRows(c), spec).rate, spec.auditRate));
    expect(
      decide({ window: { counters: c, rows: totalRows(c), ageMs: 1000 }, current: 0.9, spec: { ...spec, mode: 'fixed' } }).auditRate,
    ).toBe(0.02);
  });
  it('status.auditRate only in mode adaptive', () => {
    const d = {
      threshold: 0.9,
      recommended: 0.9,
      proposed: 0.9,
      bound: 0.01,
      boundAtCurrent: 0.01,
      share: 0.8,
      audits: 500,
      auditsAbove: 400,
      auditRate: 0.07,
      neededAudits: 300,
      rows: 8000,
      changed: false,
      direction: 'none',
      holding: false,
      reason: 'WithinBudget',
      message: 'ok',
      state: INITIAL_POLICY_STATE,
    } as Decision;
    const base = { decision: d, from: 0.9, windowMs: 60_000, now: new Date(0), epsilon: 0.02 };
    expect(buildThresholdStatus({ ...base, mode: 'adaptive' }).status.auditRate).toBe(0.07);
    expect(buildThresholdStatus({ ...base, mode: 'observe' }).status.auditRate).toBeUndefined();
    expect(buildThresholdStatus({ ...base, mode: 'fixed' }).status.auditRate).toBeUndefined();
  });
});
