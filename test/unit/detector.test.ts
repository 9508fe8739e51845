// The change detector (operator/threshold/detector.ts): pure CUSUM steps on synthetic router intervals.
import { describe, expect, it } from 'vitest';
import { bucketIndex } from '../../core/cascade/buckets.js';
import { seededRandom } from '../../core/random.js';
import { type RouterCounters, addInto, zeroCounters } from '../../operator/telemetry/counters.js';
import {
  type DetectorState,
  bernoulliLlr,
  cusumThreshold,
  detectChange,
  disagreementGroups,
  initialDetectorState,
  shiftOdds,
} from '../../operator/threshold/detector.js';

// confidence points and their share of rows; disagreement with the base by confidence
const MASS: [number, number][] = [
  [0.9999, 0.35],
  [0.999, 0.15],
  [0.99, 0.1],
  [0.97, 0.08],
  [0.93, 0.08],
  [0.88, 0.07],
  [0.8, 0.07],
  [0.65, 0.05],
  [0.45, 0.05],
];
const cleanDis = (c: number) => (c >= 0.99 ? 0.005 : c >= 0.9 ? 0.04 : c >= 0.7 ? 0.15 : 0.4);

/** One interval of `rows` rows drawn at random: router at threshold t, audit rate a. */
function interval(rand: () => number, rows: number, t: number, a: number, dis: (c: number) => number, mass = MASS): RouterCounters {
  const c = zeroCounters();
  const cum: number[] = [];
  let s = 0;
  for (const [, w] of mass) cum.push((s += w));
  for (let i = 0; i < rows; i++) {
    const u = rand() * s;
    const conf = mass[cum.findIndex((x) => u < x)][0];
    const b = bucketIndex(conf);
    const d = rand() < dis(conf);
    c.all[b]++;
    if (conf < t) {
      (d ? c.escalatedDisagree : c.escalatedAgree)[b]++;
      c.rowsBase++;
    } else {
      c.rowsSaver++;
      if (rand() < a) (d ? c.auditDisagree : c.auditAgree)[b]++;
    }
  }
  return c;
}

/** Run the detector over intervals made by `gen(i)`, the reference a sliding sum of the last `w` intervals. */
function run(gen: (i: number) => RouterCounters, n: number, t = 0.9, w = 16, alpha = 0.01) {
  const slots: RouterCounters[] = [];
  let state: DetectorState = initialDetectorState();
  const fired: { i: number; direction: string; since: number; statistic: string }[] = [];
  for (let i = 0; i < n; i++) {
    const ref = zeroCounters();
    for (const s of slots) addInto(ref, s);
    const cur = gen(i);
    const r = detectChange({ reference: ref, interval: cur, threshold: t, state, options: { falseAlarmRate: alpha } });
    state = r.state;
    slots.push(cur);
    if (r.fired) {
      fired.push({ i, direction: r.fired.direction, since: r.fired.sinceIntervals, statistic: r.fired.statistic });
      slots.splice(0, slots.length - r.fired.sinceIntervals); // what the controller does: keep the post-change slots
    }
    if (slots.length > w) slots.shift();
  }
  return fired;
}

describe('change detector', () => {
  it('sets the CUSUM threshold from the false-alarm target: ln(m / α)', () => {
    expect(cusumThreshold(0.01, 8)).toBeCloseTo(Math.log(800), 12);
    expect(cusumThreshold(0.001, 8)).toBeGreaterThan(cusumThreshold(0.01, 8));
    expect(() => cusumThreshold(0, 8)).toThrow(/falseAlarmRate/);
  });

  it('uses exact Bernoulli log-likelihood ratios of shifted odds', () => {
    expect(shiftOdds(0.5, 2)).toBeCloseTo(2 / 3, 12);
    expect(shiftOdds(0.2, 1)).toBeCloseTo(0.2, 12);
    // k events in n: k ln(p1/p0) + (n-k) ln((1-p1)/(1-p0))
    expect(bernoulliLlr(3, 10, 0.1, 0.2)).toBeCloseTo(3 * Math.log(2) + 7 * Math.log(0.8 / 0.9), 12);
    expect(bernoulliLlr(0, 0, 0.1, 0.2)).toBe(0);
  });

  it('keeps below one false alarm per 100 intervals on stationary traffic (1000 intervals, seeded)', () => {
    const rand = seededRandom(11);
    const fired = run(() => interval(rand, 500, 0.9, 0.02, cleanDis), 1000);
    expect(fired.length).toBeLessThanOrEqual(10);
  });

  it('fires within 2 intervals on a step to confidently wrong inputs, for the worse, cutting to the post-change slots', () => {
    const rand = seededRandom(12);
    const worse = (c: number) => (c >= 0.99 ? 0.1 : c >= 0.9 ? 0.3 : 0.6);
    const fired = run((i) => interval(rand, 500, 0.9, 0.02, i < 40 ? cleanDis : worse), 45);
    const first = fired.find((f) => f.i >= 40);
    expect(first).toBeDefined();
    expect(first!.i - 40).toBeLessThanOrEqual(1);
    expect(first!.direction).toBe('worse');
    expect(first!.since).toBeLessThanOrEqual(first!.i - 40 + 1);
    expect(fired.filter((f) => f.i < 40)).toEqual([]);
  });

  it('fires for the better when the drift ends (the return to clean)', () => {
    const rand = seededRandom(13);
    const hard: [number, number][] = [
      [0.99, 0.3],
      [0.93, 0.1],
      [0.8, 0.3],
      [0.65, 0.15],
      [0.45, 0.15],
    ];
    const fired = run((i) => interval(rand, 500, 0.9, 0.02, cleanDis, i < 30 ? hard : MASS), 36);
    const back = fired.find((f) => f.i >= 30);
    expect(back).toMatchObject({ direction: 'better' });
    expect(back!.i - 30).toBeLessThanOrEqual(1);
  });

  it('cannot decide without a reference or on invalid counts, and then holds its statistics without firing', () => {
    const rand = seededRandom(14);
    const cur = interval(rand, 500, 0.9, 0.02, cleanDis);
    const state: DetectorState = { sums: { 'escalateUp x2': 3 }, runs: { 'escalateUp x2': 2 } };
    const none = detectChange({ reference: zeroCounters(), interval: cur, threshold: 0.9, state, options: { falseAlarmRate: 0.01 } });
    expect(none).toMatchObject({ undecided: 'no reference rows yet', state });
    expect(none.fired).toBeUndefined();
    const bad = { ...cur, all: cur.all.map((v, i) => (i === 3 ? NaN : v)) };
    const r = detectChange({ reference: cur, interval: bad, threshold: 0.9, state, options: { falseAlarmRate: 0.01 } });
    expect(r.undecided).toMatch(/invalid count/);
    expect(r.state).toBe(state);
    expect(detectChange({ reference: cur, interval: cur, threshold: NaN, state, options: { falseAlarmRate: 0.01 } }).undecided).toMatch(
      /threshold/,
    );
  });

  it('pools the reference into confidence groups with at least 5 observed rows of each outcome', () => {
    const rand = seededRandom(15);
    const ref = zeroCounters();
    for (let i = 0; i < 10; i++) addInto(ref, interval(rand, 500, 0.9, 0.02, cleanDis));
    const groups = disagreementGroups(ref);
    expect(groups.length).toBeGreaterThan(1);
    expect(groups.flat().sort((a, b) => a - b)).toEqual(ref.all.map((_, i) => i)); // every bucket in exactly one group
    for (const g of groups) {
      const dis = g.reduce((a, b) => a + ref.escalatedDisagree[b] + ref.auditDisagree[b], 0);
      const agr = g.reduce((a, b) => a + ref.escalatedAgree[b] + ref.auditAgree[b], 0);
      expect(dis).toBeGreaterThanOrEqual(5);
      expect(agr).toBeGreaterThanOrEqual(5);
    }
    expect(disagreementGroups(zeroCounters())).toEqual([]);
  });
});
