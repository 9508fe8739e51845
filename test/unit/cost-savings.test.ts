// Live savings (operator/cost): status.savings from window counters and spec.cost, against hand-computed
// numbers; the controller hook adds nothing without spec.cost.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CostSpec, ModelCascade } from '../../operator/api/model-cascade.js';
import { CostReporter } from '../../operator/cost/reporter.js';
import { computeSavings, costSpecErrors, windowCoverageMs } from '../../operator/cost/savings.js';
import { zeroCounters } from '../../operator/telemetry/counters.js';

const COST: CostSpec = {
  currency: 'EUR',
  saver: { rowsPerSecond: 1000, pricePerHour: 0.05 },
  base: { rowsPerSecond: 100, pricePerHour: 2 },
};

function counters() {
  const c = { ...zeroCounters(), rowsSaver: 800, rowsBase: 150, rowsFallback: 50 };
  c.auditAgree = c.auditAgree.slice();
  c.auditDisagree = c.auditDisagree.slice();
  c.auditAgree[3] = 30;
  c.auditDisagree[5] = 10;
  return c;
}

describe('live savings', () => {
  it('hand-computed: 760 base rows avoided in 100 s', () => {
    // audited 40 of 800 saver rows reach the base anyway -> 760 avoided; fallback rows tried the base
    // base: 760 / 100 s / 100 rows/s = 0.076 pods x 2/h = 0.152/h; saver: 1000 / 100 s / 1000 = 0.01 pods x 0.05/h
    const s = computeSavings(counters(), 100_000, COST)!;
    expect(s).toEqual({
      windowSeconds: 100,
      rows: 1000,
      baseRowsAvoided: 760,
      baseReplicaSecondsAvoided: 7.6,
      baseCostAvoidedPerHour: 0.152,
      saverCostPerHour: 0.0005,
      costSavedPerHour: 0.1515,
      currency: 'EUR',
    });
  });

  it('nothing saved when the saver answers nothing: the saver pods are a net cost', () => {
    const c = { ...zeroCounters(), rowsBase: 1000 };
    const s = computeSavings(c, 100_000, COST)!;
    expect(s.baseRowsAvoided).toBe(0);
    expect(s.costSavedPerHour).toBeCloseTo(-0.0005, 12);
  });

  it("window coverage: span plus the oldest slot's interval; a summed Prometheus window is its span", () => {
    expect(windowCoverageMs({ slots: 0, spanMs: 0 }, 30_000, false)).toBe(0);
    expect(windowCoverageMs({ slots: 1, spanMs: 0 }, 30_000, false)).toBe(30_000);
    expect(windowCoverageMs({ slots: 3, spanMs: 60_000 }, 30_000, false)).toBe(90_000);
    expect(windowCoverageMs({ slots: 1, spanMs: 600_000 }, 30_000, true)).toBe(600_000);
    expect(computeSavings(counters(), 0, COST)).toBeUndefined();
  });

  it('a bad spec.cost (one that skipped the apiserver schema) is named, not defaulted', () => {
    expect(costSpecErrors({ saver: { rowsPerSecond: 0, pricePerHour: 1 }, base: { rowsPerSecond: 1, pricePerHour: -1 } })).toEqual([
      'spec.cost.saver.rowsPerSecond: must be a number > 0, got 0',
      'spec.cost.base.pricePerHour: must be a number >= 0, got -1',
    ]);
    expect(() => computeSavings(counters(), 1000, { saver: COST.saver } as CostSpec)).toThrow(/spec\.cost\.base: required/);
  });

  it('the controller hook: savings and gauges with spec.cost, nothing without', async () => {
    const registry = new Registry();
    const logs: string[] = [];
    const rep = new CostReporter(registry, (l) => logs.push(l));
    const mc = (cost?: CostSpec): ModelCascade => ({
      apiVersion: 'tinysaver.io/v1alpha1',
      kind: 'ModelCascade',
      metadata: { name: 'c', namespace: 'ns' },
      spec: { saver: { model: '/s' }, base: { model: '/b' }, cost },
    });
    const window = { counters: counters(), slots: 2, spanMs: 50_000 };
    const withCost = rep.withSavings({ threshold: 0.9 }, mc(COST), window, 50_000, false);
    expect(withCost.threshold).toBe(0.9);
    expect(withCost.savings?.costSavedPerHour).toBeCloseTo(0.1515, 9);
    expect(await registry.metrics()).toMatch(/tinysaver_cascade_cost_saved_per_hour\{namespace="ns",cascade="c"\} 0\.1515/);
    expect(rep.withSavings({ threshold: 0.9 }, mc(), window, 50_000, false)).toEqual({ threshold: 0.9 });
    expect(await registry.metrics()).not.toMatch(/cascade_cost_saved_per_hour\{/);
    expect(rep.withSavings({}, mc({ ...COST, base: { rowsPerSecond: 0, pricePerHour: 1 } }), window, 50_000, false)).toEqual({});
    expect(logs.join('\n')).toMatch(/spec\.cost ignored: spec\.cost\.base\.rowsPerSecond: must be a number > 0/);
  });
});
