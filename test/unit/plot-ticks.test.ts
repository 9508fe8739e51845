import { describe, expect, it } from 'vitest';
import { niceDomain, niceStep, niceTicks, stepDecimals } from '../../core/plot/ticks.js';

describe('round axis ticks', () => {
  it('steps are 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(1.07, 5)).toBe(0.2);
    expect(niceStep(99_500, 5)).toBe(20_000);
    expect(niceStep(0.05, 5)).toBe(0.01);
    expect(niceStep(3, 5)).toBe(0.5);
    for (const span of [0.0031, 0.17, 1, 7.3, 42, 12_345, 9.9e6]) {
      const s = niceStep(span, 5);
      const mant = s / 10 ** Math.floor(Math.log10(s) + 1e-12);
      expect([1, 2, 5, 10].some((m) => Math.abs(mant - m) < 1e-9)).toBe(true);
      expect(span / s).toBeGreaterThanOrEqual(2);
      expect(span / s).toBeLessThanOrEqual(11);
    }
  });

  it('ticks are the round multiples inside the range, printed exactly', () => {
    expect(niceTicks(0, 1.07)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(500, 100_000)).toEqual([20_000, 40_000, 60_000, 80_000, 100_000]);
    expect(niceTicks(0.9, 0.95)).toEqual([0.9, 0.91, 0.92, 0.93, 0.94, 0.95]);
    expect(niceTicks(1, 1)).toEqual([1]);
    expect(niceTicks(NaN, 1)).toEqual([]);
    expect(stepDecimals(0.25)).toBe(2);
    expect(stepDecimals(500)).toBe(0);
  });

  it('a domain widens outwards to ticks', () => {
    expect(niceDomain(0, 1.07)).toEqual([0, 1.2]);
    expect(niceDomain(0.913, 0.947)).toEqual([0.91, 0.95]);
    expect(niceDomain(5, 5)).toEqual([5, 5]);
  });
});
