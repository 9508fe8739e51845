import { seededRandom } from '../../core/random.js';
import { describe, expect, it } from 'vitest';
import {
  clopperPearsonLower,
  clopperPearsonUpper,
  inverseRegularizedIncompleteBeta,
  logGamma,
  regularizedIncompleteBeta,
} from '../../core/cascade/bounds.js';

// Reference values computed independently with /usr/bin/python3 (standard library only):
// the exact binomial CDF P(Bin(n,p) <= k) evaluated in rational arithmetic (fractions.Fraction,
// math.comb), and 56 bisection steps on p for P(Bin(n,p) <= k) = delta. No beta function involved.
// [k, n, delta, upper bound]
const CP_UPPER_REFERENCE: Array<[number, number, number, number]> = [
  [0, 299, 0.05, 0.009969146792899265],
  [1, 100, 0.05, 0.04655981145353894],
  [5, 50, 0.1, 0.17761812761737658],
  [10, 1000, 0.05, 0.016903175120562504],
  [3, 20, 0.01, 0.4207289171258155],
  [50, 100, 0.05, 0.5863782853690882],
  [0, 10, 0.05, 0.2588655508930523],
  [9, 10, 0.05, 0.9948838031081763],
  [2, 500, 0.001, 0.02225156374129838],
  [100, 400, 0.2, 0.26998738239130815],
  [1, 2, 0.5, 0.7071067811865476],
  [20, 60, 0.025, 0.4668726747428305],
];

// Exact binomial CDF by direct summation in doubles (log-space terms), a second independent check.
function binomCdf(k: number, n: number, p: number): number {
  let s = 0;
  for (let i = 0; i <= k; i++) {
    const logTerm = logGamma(n + 1) - logGamma(i + 1) - logGamma(n - i + 1) + i * Math.log(p) + (n - i) * Math.log1p(-p);
    s += Math.exp(logTerm);
  }
  return s;
}

// Seeded PRNG so property tests are reproducible.
const rng = seededRandom;

describe('logGamma', () => {
  it('matches factorials and Γ(1/2) = √π', () => {
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(21)).toBeCloseTo(Math.log(2432902008176640000), 10);
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(() => logGamma(0)).toThrow(/x must be > 0/);
  });
});

describe('regularizedIncompleteBeta', () => {
  it('equals 1 - binomial CDF: P(Bin(n,p) <= k) = 1 - I_p(k+1, n-k)', () => {
    for (const [k, n, p] of [
      [0, 10, 0.3],
      [3, 20, 0.1],
      [40, 100, 0.45],
      [7, 300, 0.02],
      [99, 100, 0.97],
    ]) {
      expect(1 - regularizedIncompleteBeta(p, k + 1, n - k)).toBeCloseTo(binomCdf(k, n, p), 11);
    }
  });
  it('closed forms: I_x(1, b) = 1 - (1-x)^b, I_x(a, 1) = x^a, symmetry', () => {
    expect(regularizedIncompleteBeta(0.2, 1, 7)).toBeCloseTo(1 - 0.8 ** 7, 14);
    expect(regularizedIncompleteBeta(0.6, 4, 1)).toBeCloseTo(0.6 ** 4, 14);
    expect(regularizedIncompleteBeta(0.3, 2.5, 4)).toBeCloseTo(1 - regularizedIncompleteBeta(0.7, 4, 2.5), 14);
    expect(regularizedIncompleteBeta(0, 2, 3)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 3)).toBe(1);
  });
  it('rejects bad arguments', () => {
    expect(() => regularizedIncompleteBeta(1.5, 1, 1)).toThrow(/x must be in \[0, 1\]/);
    expect(() => regularizedIncompleteBeta(0.5, 0, 1)).toThrow(/a, b must be > 0/);
    expect(() => regularizedIncompleteBeta(NaN, 1, 1)).toThrow();
  });
});

describe('inverseRegularizedIncompleteBeta', () => {
  it('round-trips I_x', () => {
    for (const [a, b] of [
      [1, 1],
      [0.5, 0.5],
      [3, 298],
      [101, 300],
      [2, 2],
      [50, 1],
    ]) {
      for (const p of [1e-6, 0.01, 0.3, 0.5, 0.95, 0.999999]) {
        const x = inverseRegularizedIncompleteBeta(p, a, b);
        // 9 digits: near x = 1 with b < 1 the slope is unbounded, so one ulp of x moves I by ~1e-10.
        expect(regularizedIncompleteBeta(x, a, b)).toBeCloseTo(p, 9);
      }
    }
  });
});

describe('clopperPearsonUpper', () => {
  it.each(CP_UPPER_REFERENCE)('k=%i n=%i delta=%f matches the independent value', (k, n, delta, want) => {
    const got = clopperPearsonUpper(k, n, delta);
    expect(Math.abs(got - want) / want).toBeLessThan(1e-9);
  });

  it('0 failures in 299 trials at 95% is about 1% (rule of three)', () => {
    expect(clopperPearsonUpper(0, 299, 0.05)).toBeCloseTo(0.00997, 5);
  });

  it('edge cases: n = 0 and k = n give 1', () => {
    expect(clopperPearsonUpper(0, 0, 0.05)).toBe(1);
    expect(clopperPearsonUpper(7, 7, 0.05)).toBe(1);
  });

  it('rejects bad input, naming the argument', () => {
    expect(() => clopperPearsonUpper(3, 2, 0.05)).toThrow(/k must be/);
    expect(() => clopperPearsonUpper(-1, 2, 0.05)).toThrow(/k must be/);
    expect(() => clopperPearsonUpper(1.5, 2, 0.05)).toThrow(/k must be/);
    expect(() => clopperPearsonUpper(0, -2, 0.05)).toThrow(/n must be/);
    expect(() => clopperPearsonUpper(0, 2, 0)).toThrow(/delta must be/);
    expect(() => clopperPearsonUpper(0, 2, NaN)).toThrow(/delta must be/);
  });

  it('property: non-decreasing in k, non-increasing in n, above k/n, tighter for larger delta', () => {
    const r = rng(42);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(r() * 2000);
      const k = Math.floor(r() * n);
      const delta = 0.001 + r() * 0.3;
      const u = clopperPearsonUpper(k, n, delta);
      expect(u).toBeGreaterThanOrEqual(k / n);
      expect(u).toBeLessThanOrEqual(1);
      expect(clopperPearsonUpper(k + 1, n, delta)).toBeGreaterThanOrEqual(u);
      expect(clopperPearsonUpper(k, n + 1, delta)).toBeLessThanOrEqual(u);
      expect(clopperPearsonUpper(k, n, Math.min(0.99, delta * 2))).toBeLessThanOrEqual(u);
    }
  });

  it('property: the bound is exact — P(Bin(n, p+) <= k) = delta', () => {
    const r = rng(7);
    for (let trial = 0; trial < 50; trial++) {
      const n = 2 + Math.floor(r() * 500);
      const k = Math.floor(r() * (n - 1));
      const delta = 0.01 + r() * 0.2;
      const u = clopperPearsonUpper(k, n, delta);
      expect(binomCdf(k, n, u)).toBeCloseTo(delta, 9);
    }
  });
});

describe('clopperPearsonLower', () => {
  it('mirrors the upper bound: lower(k, n) = 1 - upper(n - k, n)', () => {
    for (const [k, n, d] of [
      [3, 20, 0.05],
      [50, 100, 0.1],
      [10, 10, 0.05],
      [0, 5, 0.05],
    ]) {
      expect(clopperPearsonLower(k, n, d)).toBeCloseTo(1 - clopperPearsonUpper(n - k, n, d), 12);
    }
  });
});
