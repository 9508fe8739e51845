// The drift benches' shared setup (bench/drift/setup.ts): the replays and oracles both benches score with,
// the loss rule for out-of-domain rows, flag parsing, and the bench ModelCascade the operator accepts.
import { describe, expect, it } from 'vitest';
import { benchCascade, numFlag, numListFlag, replay, rowLoss, splitTestSet, windowOracles } from '../../bench/drift/setup.js';
import { controlSettings } from '../../operator/threshold/spec.js';

// 10 rows: confidence, saver top-1, base top-1, label (-1: out of domain)
const rows: [number, number, number, number][] = [
  [0.99, 1, 1, 1],
  [0.98, 2, 2, 2],
  [0.97, 3, 4, 4], // saver answers above 0.97: disagrees, base right -> loss
  [0.96, 5, 5, 5],
  [0.95, 6, 7, 6], // disagrees, saver right -> gain
  [0.9, 1, 1, 1],
  [0.85, 0, 9, -1], // out of domain, disagrees -> loss
  [0.8, 2, 2, -1],
  [0.7, 3, 8, 3], // disagrees, saver right -> gain
  [0.6, 4, 4, 4],
];
const s = {
  conf: rows.map((r) => r[0]),
  saverTop1: rows.map((r) => r[1]),
  baseTop1: rows.map((r) => r[2]),
  label: rows.map((r) => r[3]),
};

describe('drift bench scoring', () => {
  it('row loss: 0 when escalated; base right - saver right in domain; disagreement out of domain', () => {
    expect(rowLoss(s, 2, false)).toBe(0);
    expect(rowLoss(s, 2, true)).toBe(1);
    expect(rowLoss(s, 4, true)).toBe(-1);
    expect(rowLoss(s, 6, true)).toBe(1);
    expect(rowLoss(s, 7, true)).toBe(0);
  });

  it('replay of a fixed threshold counts share, loss and disagreement over the window', () => {
    const x = replay(s, 0, 10, 0.95);
    expect(x.share).toBeCloseTo(0.5, 12);
    expect(x.disagree).toBeCloseTo(0.2, 12);
    expect(x.loss).toBeCloseTo(0, 12); // one loss, one gain
    expect(x.saverRight).toBeCloseTo(0.1, 12);
    expect(x.baseRight).toBeCloseTo(0.1, 12);
    const all = replay(s, 0, 10, 0);
    expect(all.loss).toBeCloseTo(0, 12); // rows 2 and 6 lose, rows 4 and 8 gain
    expect(all.disagree).toBeCloseTo(0.4, 12);
  });

  it('oracles: the lowest grid threshold within ε, by loss (labels) and by disagreement (base answers)', () => {
    const { oracle, agree } = windowOracles(s, 0, 10, { epsilon: 0.1, min: 0.5, max: 1 });
    // disagreement <= 10% of rows: one disagreeing row may be kept (0.97), the next one (0.95) is one too many
    expect(agree.threshold).toBe(0.96);
    expect(agree.disagree).toBeCloseTo(0.1, 12);
    expect(agree.share).toBeCloseTo(0.4, 12);
    // loss <= 10%: the saver's right answers pay for its wrong ones, so the label oracle keeps every row
    expect(oracle.threshold).toBe(0.5);
    expect(oracle.loss).toBeCloseTo(0, 12);
    expect(oracle.share).toBeCloseTo(1, 12);
    const strict = windowOracles(s, 0, 8, { epsilon: 0, min: 0.5, max: 1 });
    // first 8 rows, no loss allowed: the gain at 0.95 repays the loss at 0.97, the out-of-domain loss at 0.85 is
    // not repaid (row 8 is outside the window): the lowest grid edge above 0.85
    expect(strict.oracle.loss).toBeCloseTo(0, 12);
    expect(strict.oracle.threshold).toBe(0.86);
    expect(oracle.share).toBeGreaterThanOrEqual(agree.share);
  });

  it('splits the test set into disjoint halves', () => {
    const { calibIdx, streamIdx } = splitTestSet(7);
    expect(calibIdx).toEqual([0, 2, 4, 6]);
    expect(streamIdx).toEqual([1, 3, 5]);
  });
});

describe('drift bench setup', () => {
  it('flags: numbers in range, errors name the flag', () => {
    expect(numFlag({ a: '0.5' }, 'a', 0, 1)).toBe(0.5);
    expect(() => numFlag({ a: '2' }, 'a', 0, 1)).toThrow(/--a: expected a number in \[0, 1\], got "2"/);
    expect(() => numFlag({ a: '1.5' }, 'a', 0, 10, true)).toThrow(/--a: expected an integer/);
    expect(numListFlag({ seeds: '1, 2,3' }, 'seeds', 0, 10, true)).toEqual([1, 2, 3]);
    expect(() => numListFlag({ seeds: '1,x' }, 'seeds', 0, 10, true)).toThrow(/--seeds/);
  });

  it('the bench ModelCascade is one the operator accepts, with the calibration as prior evidence', () => {
    const n = 35;
    const mc = benchCascade({
      name: 'b',
      saverModel: 's.onnx',
      baseModel: 'b.onnx',
      initial: 0.86,
      min: 0.5,
      max: 1,
      epsilon: 0.01,
      confidence: 0.95,
      auditRate: 0.01,
      auditMax: 0.25,
      intervalSeconds: 30,
      windowIntervals: 16,
      maxWindowIntervals: 120,
      maxStep: 0.02,
      minAudits: 200,
      falseAlarmRate: 0.01,
      calibration: { rows: new Array(n).fill(10), disagreements: new Array(n).fill(1) },
    });
    const { settings, errors } = controlSettings(mc);
    expect(errors).toEqual([]);
    expect(settings!.windowMs).toBe(16 * 30_000);
    expect(settings!.evidenceMs).toBe(120 * 30_000);
    expect(settings!.policy.epsilon).toBe(0.01);
    expect(settings!.prior!.auditDisagree.reduce((a, b) => a + b, 0)).toBe(n);
  });
});
