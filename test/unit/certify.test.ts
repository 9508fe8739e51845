import { seededRandom } from '../../core/random.js';
import { describe, expect, it } from 'vitest';
import { clopperPearsonUpper } from '../../core/cascade/bounds.js';
import { CONFIDENCE_BUCKETS } from '../../core/cascade/buckets.js';
import { candidateThresholds, certifyThreshold, lossUpperBound } from '../../core/cascade/certify.js';
import { countsFromRows, emptyCounts, perBucketFromCumulative } from '../../core/cascade/histogram.js';

// seeded, so every property test is reproducible
const rng = seededRandom;
function binomial(r: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (r() < p) k++;
  return k;
}

// A toy grid: buckets [0,0.5], (0.5,0.9], (0.9,1], (1,Inf)
const EDGES = [0.5, 0.9, 1];

describe('certifyThreshold, fully observed (every row escalated)', () => {
  // 100 rows: bucket0 40 rows (10 disagree), bucket1 30 (3 disagree), bucket2 30 (0 disagree)
  const counts = {
    all: [40, 30, 30, 0],
    escalatedAgree: [30, 27, 30, 0],
    escalatedDisagree: [10, 3, 0, 0],
    auditAgree: [0, 0, 0, 0],
    auditDisagree: [0, 0, 0, 0],
  };

  it('bounds are the exact disagreement counts above s, over all rows', () => {
    const o = { delta: 0.05, edges: EDGES };
    expect(lossUpperBound(counts, 1, o).bound).toBe(0); // only +Inf bucket
    expect(lossUpperBound(counts, 0.9, o).bound).toBe(0); // bucket2: 0 / 100
    expect(lossUpperBound(counts, 0.5, o).bound).toBeCloseTo(3 / 100, 15);
    expect(lossUpperBound(counts, 0, o).bound).toBeCloseTo(13 / 100, 15);
    expect(lossUpperBound(counts, 0.5, o).saverShare).toBeCloseTo(0.6, 15);
    // s between edges includes the straddled bucket (conservative)
    expect(lossUpperBound(counts, 0.7, o).bound).toBeCloseTo(3 / 100, 15);
  });

  it('certifies the lowest edge within budget and says why the next one fails', () => {
    const r = certifyThreshold(counts, { epsilon: 0.05, delta: 0.05, edges: EDGES });
    expect(r.certifiedThreshold).toBe(0.5);
    expect(r.threshold).toBe(0.5);
    expect(r.bound).toBeCloseTo(0.03, 15);
    expect(r.saverShare).toBeCloseTo(0.6, 15);
    expect(r.candidates.map((c) => c.threshold)).toEqual([1, 0.9, 0.5, 0]);
    expect(r.reason).toMatch(/certified 0.5/);
    expect(r.reason).toMatch(/fails/);
    const tight = certifyThreshold(counts, { epsilon: 0.02, delta: 0.05, edges: EDGES });
    expect(tight.threshold).toBe(0.9);
    const loose = certifyThreshold(counts, { epsilon: 0.2, delta: 0.05, edges: EDGES });
    expect(loose.threshold).toBe(0);
    expect(loose.reason).toMatch(/every candidate/);
  });

  it('respects min and max, and holds max when nothing certifies', () => {
    const r = certifyThreshold(counts, { epsilon: 0.2, delta: 0.05, edges: EDGES, min: 0.5 });
    expect(r.threshold).toBe(0.5);
    const none = certifyThreshold(counts, { epsilon: 0.01, delta: 0.05, edges: EDGES, max: 0.5 });
    expect(none.certifiedThreshold).toBeNull();
    expect(none.threshold).toBe(0.5);
    expect(none.bound).toBeNull();
    expect(none.reason).toMatch(/nothing certified/);
  });

  it('fixed-sequence: stops at the first failure even if a lower candidate would pass', () => {
    // bucket 1 pushes B(0.5) over budget; candidate 0 is never tested after that failure
    const c = {
      all: [0, 30, 70, 0],
      escalatedAgree: [0, 20, 70, 0],
      escalatedDisagree: [0, 10, 0, 0],
      auditAgree: [0, 0, 0, 0],
      auditDisagree: [0, 0, 0, 0],
    };
    const r = certifyThreshold(c, { epsilon: 0.05, delta: 0.05, edges: EDGES });
    expect(r.threshold).toBe(0.9);
    expect(r.candidates).toHaveLength(3); // 1, 0.9 certified; 0.5 failed; 0 never tested
  });

  it('empty window: holds max and says so', () => {
    const r = certifyThreshold(emptyCounts(EDGES), { epsilon: 0.05, delta: 0.05, edges: EDGES, max: 0.9 });
    expect(r.certifiedThreshold).toBeNull();
    expect(r.threshold).toBe(0.9);
    expect(r.reason).toMatch(/no rows/);
  });
});

describe('certifyThreshold, audited rows (Clopper-Pearson)', () => {
  it('one stratum: B = U · CP⁺(k, n, δ) / N with the independently computed CP value', () => {
    // 1000 rows: 700 escalated below 0.9 (20 disagree), 300 saver-answered above 0.9, 299 audited, 0 disagree.
    const c = {
      all: [400, 300, 300, 0],
      escalatedAgree: [390, 290, 0, 0],
      escalatedDisagree: [10, 10, 0, 0],
      auditAgree: [0, 0, 299, 0],
      auditDisagree: [0, 0, 0, 0],
    };
    const b = lossUpperBound(c, 0.9, { delta: 0.05, edges: EDGES, strata: 1 });
    // 0.009969146792899265: exact rational binomial bisection in Python (see bounds.test.ts)
    expect(b.bound).toBeCloseTo((300 * 0.009969146792899265) / 1000, 12);
    expect(b.audits).toBe(299);
    expect(b.exactPart).toBe(0);
    // Below the live threshold the escalated disagreements count exactly, the audited part stays
    const b2 = lossUpperBound(c, 0.5, { delta: 0.05, edges: EDGES, strata: 1 });
    expect(b2.exactPart).toBeCloseTo(10 / 1000, 15);
    expect(b2.estimatedPart).toBeCloseTo(b.estimatedPart, 15);
  });

  it('strata split δ (Bonferroni): two strata each use CP at δ/2', () => {
    const c = {
      all: [0, 200, 300, 0],
      escalatedAgree: [0, 0, 0, 0],
      escalatedDisagree: [0, 0, 0, 0],
      auditAgree: [0, 48, 60, 0],
      auditDisagree: [0, 2, 0, 0],
    };
    const b = lossUpperBound(c, 0.5, { delta: 0.1, edges: EDGES, strata: 2 });
    expect(b.strata).toHaveLength(2);
    const want = (300 * clopperPearsonUpper(0, 60, 0.05) + 200 * clopperPearsonUpper(2, 50, 0.05)) / 500;
    expect(b.bound).toBeCloseTo(want, 14);
    expect(b.strata[0]).toMatchObject({ lowerEdge: 0.9, upperEdge: 1, rows: 300, audits: 60 });
    expect(b.strata[1]).toMatchObject({ lowerEdge: 0.5, upperEdge: 0.9, rows: 200, audits: 50, auditDisagreements: 2 });
  });

  it('no audits above the live threshold -> the saver-answered rows count as all wrong', () => {
    const c = countsFromRows(
      [0.95, 0.97, 0.3],
      [true, true, true],
      { kind: 'live', threshold: 0.9, audited: [false, false, false] },
      EDGES,
    );
    expect(lossUpperBound(c, 0.9, { delta: 0.05, edges: EDGES }).bound).toBeCloseTo(2 / 3, 15);
  });

  it('more audits tighten the bound (property)', () => {
    const mk = (n: number) => ({
      all: [0, 0, 10_000, 0],
      escalatedAgree: [0, 0, 0, 0],
      escalatedDisagree: [0, 0, 0, 0],
      auditAgree: [0, 0, n - Math.round(n / 100), 0],
      auditDisagree: [0, 0, Math.round(n / 100), 0],
    });
    let prev = 1;
    for (const n of [100, 300, 1000, 3000, 10_000]) {
      const b = lossUpperBound(mk(n), 0.9, { delta: 0.05, edges: EDGES }).bound;
      expect(b).toBeLessThan(prev);
      prev = b;
    }
  });
});

describe('certifyThreshold properties on simulated binomial data', () => {
  // Bucket probabilities and disagreement rates on the real grid: confident rows disagree less.
  const B = CONFIDENCE_BUCKETS.length + 1;
  const pi = Array.from({ length: B }, (_, b) => (b < CONFIDENCE_BUCKETS.length ? (b + 1) ** 1.5 : 0));
  const piSum = pi.reduce((a, b) => a + b, 0);
  for (let b = 0; b < B; b++) pi[b] /= piSum;
  const q = Array.from({ length: B }, (_, b) => 0.5 * Math.exp(-b / 5));

  function multinomial(r: () => number, n: number): number[] {
    const out = new Array<number>(B).fill(0);
    const cdf: number[] = [];
    let acc = 0;
    for (const p of pi) cdf.push((acc += p));
    for (let i = 0; i < n; i++) {
      const u = r();
      let b = 0;
      while (b < B - 1 && cdf[b] < u) b++;
      out[b]++;
    }
    return out;
  }

  it('fully observed: the certified threshold never exceeds ε on the data it certified', () => {
    const r = rng(1234);
    for (let trial = 0; trial < 60; trial++) {
      const n = 500 + Math.floor(r() * 5000);
      const eps = 0.002 + r() * 0.05;
      const all = multinomial(r, n);
      const dis = all.map((m, b) => binomial(r, m, q[b]));
      const c = {
        all,
        escalatedAgree: all.map((m, b) => m - dis[b]),
        escalatedDisagree: dis,
        auditAgree: new Array(B).fill(0),
        auditDisagree: new Array(B).fill(0),
      };
      const res = certifyThreshold(c, { epsilon: eps, delta: 0.05, min: 0.3, max: 0.999 });
      // realized loss at the applied threshold, computed directly
      const t = res.threshold;
      let loss = 0;
      for (let b = 0; b < B; b++) if ((b < CONFIDENCE_BUCKETS.length ? CONFIDENCE_BUCKETS[b] : Infinity) > t) loss += dis[b];
      loss /= n;
      if (res.certifiedThreshold !== null) {
        expect(loss).toBeLessThanOrEqual(eps + 1e-15);
        expect(res.bound).toBeCloseTo(loss, 12);
        // and the next lower candidate (if one was tested) really is over budget
        const failed = res.candidates[res.candidates.length - 1];
        if (failed.threshold !== t) expect(failed.bound).toBeGreaterThan(eps);
      }
    }
  });

  it('audited: P(loss at the certified threshold > ε) stays <= δ over repeated windows', () => {
    const r = rng(99);
    const delta = 0.1;
    const eps = 0.01;
    const live = 0.95; // buckets above it are saver-answered, audited at 5%
    const trials = 300;
    let violations = 0;
    let certifiedCount = 0;
    for (let trial = 0; trial < trials; trial++) {
      const n = 20_000;
      const all = multinomial(r, n);
      const c = emptyCounts();
      let unobservedTrueLoss = new Array<number>(B).fill(0);
      for (let b = 0; b < B; b++) {
        c.all[b] = all[b];
        const upper = b < CONFIDENCE_BUCKETS.length ? CONFIDENCE_BUCKETS[b] : Infinity;
        if (upper <= live) {
          const d = binomial(r, all[b], q[b]);
          c.escalatedDisagree[b] = d;
          c.escalatedAgree[b] = all[b] - d;
        } else {
          const a = binomial(r, all[b], 0.05);
          const d = binomial(r, a, q[b]);
          c.auditDisagree[b] = d;
          c.auditAgree[b] = a - d;
          unobservedTrueLoss[b] = all[b] * q[b]; // expected disagreements of the saver-answered rows
        }
      }
      const res = certifyThreshold(c, { epsilon: eps, delta });
      if (res.certifiedThreshold === null) continue;
      certifiedCount++;
      let loss = 0;
      for (let b = 0; b < B; b++) {
        const upper = b < CONFIDENCE_BUCKETS.length ? CONFIDENCE_BUCKETS[b] : Infinity;
        if (upper > res.threshold) loss += c.escalatedDisagree[b] + unobservedTrueLoss[b];
      }
      if (loss / n > eps) violations++;
      unobservedTrueLoss = [];
    }
    expect(certifiedCount).toBeGreaterThan(trials / 2); // the test is not vacuous
    expect(violations / trials).toBeLessThanOrEqual(delta);
  });
});

describe('histogram helpers and input checks', () => {
  it('Prometheus cumulative buckets -> per-bucket counts', () => {
    expect(perBucketFromCumulative([1, 3, 3, 10])).toEqual([1, 2, 0, 7]);
    expect(() => perBucketFromCumulative([3, 2])).toThrow(/bucket 1/);
  });

  it('countsFromRows in every role', () => {
    const conf = [0.2, 0.6, 0.95, 0.95, NaN];
    const agree = [false, true, true, false, true];
    const esc = countsFromRows(conf, agree, { kind: 'escalated' }, EDGES);
    expect(esc.all).toEqual([1, 1, 2, 0]);
    expect(esc.escalatedDisagree).toEqual([1, 0, 1, 0]);
    const aud = countsFromRows(conf, agree, { kind: 'audit' }, EDGES);
    expect(aud.auditDisagree).toEqual([1, 0, 1, 0]);
    expect(aud.escalatedAgree).toEqual([0, 0, 0, 0]);
    const live = countsFromRows(conf, agree, { kind: 'live', threshold: 0.9, audited: [false, false, true, false, false] }, EDGES);
    expect(live.escalatedAgree).toEqual([0, 1, 0, 0]);
    expect(live.escalatedDisagree).toEqual([1, 0, 0, 0]);
    expect(live.auditAgree).toEqual([0, 0, 1, 0]);
    expect(live.auditDisagree).toEqual([0, 0, 0, 0]);
  });

  it('candidate thresholds are grid edges in [min, max], strictest first', () => {
    expect(candidateThresholds(0, 1, EDGES)).toEqual([1, 0.9, 0.5, 0]);
    expect(candidateThresholds(0.4, 0.95, EDGES)).toEqual([0.9, 0.5]);
    expect(candidateThresholds(0.9, 0.9)).toEqual([0.9]);
  });

  it('rejects bad counts and options, naming the field', () => {
    const good = emptyCounts(EDGES);
    expect(() => certifyThreshold({ ...good, all: [1, NaN, 0, 0] }, { epsilon: 0.1, delta: 0.05, edges: EDGES })).toThrow(
      /counts.all\[1\]/,
    );
    expect(() => certifyThreshold({ ...good, auditAgree: [1, -1, 0, 0] }, { epsilon: 0.1, delta: 0.05, edges: EDGES })).toThrow(
      /counts.auditAgree\[1\]/,
    );
    expect(() => certifyThreshold({ ...good, all: [1, 2] }, { epsilon: 0.1, delta: 0.05, edges: EDGES })).toThrow(
      /counts.all has 2 buckets/,
    );
    expect(() => certifyThreshold(good, { epsilon: 2, delta: 0.05, edges: EDGES })).toThrow(/epsilon/);
    expect(() => certifyThreshold(good, { epsilon: 0.1, delta: 0, edges: EDGES })).toThrow(/delta/);
    expect(() => certifyThreshold(good, { epsilon: 0.1, delta: 0.05, min: 0.9, max: 0.5 })).toThrow(/max/);
    expect(() => lossUpperBound(good, NaN, { delta: 0.05, edges: EDGES })).toThrow(/threshold/);
  });

  it('tolerates a skewed scrape (escalated > all) and notes it', () => {
    const c = {
      all: [1, 0, 0, 0],
      escalatedAgree: [2, 0, 0, 0],
      escalatedDisagree: [0, 0, 0, 0],
      auditAgree: [0, 0, 0, 0],
      auditDisagree: [0, 0, 0, 0],
    };
    const r = certifyThreshold(c, { epsilon: 0.1, delta: 0.05, edges: EDGES });
    expect(r.notes[0]).toMatch(/skewed/);
  });

  it('is deterministic', () => {
    const c = countsFromRows([0.99, 0.95, 0.8, 0.4], [true, false, true, true], { kind: 'audit' });
    expect(certifyThreshold(c, { epsilon: 0.3, delta: 0.1 })).toEqual(certifyThreshold(c, { epsilon: 0.3, delta: 0.1 }));
  });
});
