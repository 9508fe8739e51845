import { describe, expect, it } from 'vitest';
import { breakEvenShare, computeSaved, deltaCost, relativeCost } from '../../core/cascade/cost.js';

describe('cost model', () => {
  it('relative cost = s + (1 - r) + a r, worked by hand', () => {
    // saver 5% of base, saver keeps 80%, no audits: 0.05 + 0.2 = 0.25
    expect(relativeCost(0.05, 0.8)).toBeCloseTo(0.25, 15);
    // with a 2% audit of the 80% kept: + 0.016
    expect(relativeCost(0.05, 0.8, 0.02)).toBeCloseTo(0.266, 15);
    // saver answers nothing: pays saver + base
    expect(relativeCost(0.1, 0)).toBeCloseTo(1.1, 15);
    // saver answers everything: pays only the saver (plus audits)
    expect(relativeCost(0.1, 1, 0.5)).toBeCloseTo(0.6, 15);
  });

  it('ΔC = s - r and C - 1 = ΔC without audits', () => {
    expect(deltaCost(0.05, 0.8)).toBeCloseTo(-0.75, 15);
    for (const [s, r] of [
      [0.01, 0.3],
      [0.4, 0.2],
      [0, 1],
    ]) {
      expect(relativeCost(s, r) - 1).toBeCloseTo(deltaCost(s, r), 15);
    }
  });

  it('break-even share: r > s saves, r < s costs more', () => {
    expect(breakEvenShare(0.2)).toBeCloseTo(0.2, 15);
    expect(relativeCost(0.2, 0.21)).toBeLessThan(1);
    expect(relativeCost(0.2, 0.19)).toBeGreaterThan(1);
    // audits raise the break-even: 0.2 / 0.9
    expect(breakEvenShare(0.2, 0.1)).toBeCloseTo(0.2 / 0.9, 15);
    expect(relativeCost(0.2, 0.2 / 0.9, 0.1)).toBeCloseTo(1, 15);
    expect(breakEvenShare(1.5)).toBe(Infinity);
    expect(computeSaved(0.05, 0.8)).toBeCloseTo(0.75, 15);
  });

  it('rejects out-of-range inputs, naming them', () => {
    expect(() => relativeCost(-0.1, 0.5)).toThrow(/s \(saver\/base cost ratio\)/);
    expect(() => relativeCost(0.1, 1.5)).toThrow(/r \(saver share\)/);
    expect(() => relativeCost(0.1, 0.5, NaN)).toThrow(/a \(audit rate\)/);
    expect(() => deltaCost(Infinity, 0.5)).toThrow(/s \(saver/);
  });
});
