// The live view's data (cli/view/timeline.ts): per-interval samples from counter deltas, latency
// quantiles from histogram deltas, "no data" (null) instead of numbers when an interval had no rows,
// runs of equal decisions merged, and ?since= filtering.
import { describe, expect, it } from 'vitest';
import { zeroCounters } from '../../operator/telemetry/counters.js';
import type { HistogramSeries } from '../../operator/telemetry/prom-text.js';
import { LIVE_SCHEMA, Timeline, histogramQuantile, type IntervalInput } from '../../cli/view/timeline.js';

const config = {
  mode: 'adaptive',
  epsilon: 0.01,
  confidence: 0.95,
  min: 0.5,
  max: 1,
  initial: 0.88,
  intervalMs: 1000,
  windowMs: 6000,
  routers: ['r'],
  saver: 's',
  base: 'b',
};

function input(t: number, over: Partial<IntervalInput> = {}, rows = { saver: 80, base: 20 }): IntervalInput {
  const delta = zeroCounters();
  delta.rowsSaver = rows.saver;
  delta.rowsBase = rows.base;
  delta.all[0] = rows.saver + rows.base;
  return {
    t,
    threshold: 0.88,
    recommended: 0.86,
    bound: 0.008,
    boundBefore: 0.008,
    auditRate: 0.02,
    holding: false,
    reason: 'WithinBudget',
    message: 'm',
    from: 0.88,
    changed: false,
    direction: 'none',
    delta,
    ...over,
  };
}

const hist = (le: number[], cumulative: number[]): HistogramSeries => ({
  le,
  cumulative,
  sum: NaN,
  count: cumulative[cumulative.length - 1],
});

describe('histogramQuantile', () => {
  it('interpolates within the bucket of the rank, on the delta between two snapshots', () => {
    const prev = hist([0.001, 0.002, 0.004, Infinity], [10, 10, 10, 10]);
    const cur = hist([0.001, 0.002, 0.004, Infinity], [10, 20, 30, 30]);
    // 20 new observations: 10 in (0.001, 0.002], 10 in (0.002, 0.004]
    expect(histogramQuantile(0.5, cur, prev)).toBeCloseTo(0.002, 12);
    expect(histogramQuantile(0.25, cur, prev)).toBeCloseTo(0.0015, 12);
    expect(histogramQuantile(0.75, cur, prev)).toBeCloseTo(0.003, 12);
    expect(histogramQuantile(0.5, prev, prev)).toBeNaN(); // nothing new
  });
  it('uses the snapshot alone after a counter reset, and the last finite edge for the +Inf bucket', () => {
    const prev = hist([0.001, Infinity], [50, 60]);
    const cur = hist([0.001, Infinity], [0, 4]);
    expect(histogramQuantile(0.5, cur, prev)).toBe(0.001);
  });
});

describe('Timeline', () => {
  it('turns counter deltas into share and escalation, and no rows into nulls', () => {
    const tl = new Timeline(config, 'i', 0);
    const s = tl.add(input(1000));
    expect(s.rows).toBe(100);
    expect(s.share).toBeCloseTo(0.8);
    expect(s.escalation).toBeCloseTo(0.2);
    const empty = tl.add(input(2000, { holding: true, reason: 'NoData', bound: NaN, recommended: NaN }, { saver: 0, base: 0 }));
    expect(empty).toMatchObject({ rows: 0, share: null, escalation: null, bound: null, recommended: null, holding: true });
    expect(empty.latencyP50Ms).toEqual({ saver: null, base: null, total: null });
  });

  it('merges runs of equal decisions and keeps changes apart', () => {
    const tl = new Timeline(config, 'i', 0);
    tl.add(input(1000));
    tl.add(input(2000));
    tl.add(
      input(3000, {
        threshold: 0.9,
        from: 0.88,
        changed: true,
        direction: 'raise',
        reason: 'BoundExceeded',
        boundBefore: 0.02,
        bound: 0.007,
      }),
    );
    tl.add(input(4000, { threshold: 0.9, from: 0.9 }));
    const st = tl.state(5000);
    expect(st.schema).toBe(LIVE_SCHEMA);
    expect(st.decisions.map((d) => [d.first, d.t, d.count, d.reason])).toEqual([
      [1000, 2000, 2, 'WithinBudget'],
      [3000, 3000, 1, 'BoundExceeded'],
      [4000, 4000, 1, 'WithinBudget'],
    ]);
    expect(st.decisions[1]).toMatchObject({ from: 0.88, to: 0.9, bound: 0.02, boundAfter: 0.007, changed: true });
    // since: newer samples, and decisions updated after it
    const since = tl.state(5000, 2500);
    expect(since.samples.map((s) => s.t)).toEqual([3000, 4000]);
    expect(since.decisions.map((d) => d.first)).toEqual([3000, 4000]);
  });

  it('keeps at most maxSamples samples', () => {
    const tl = new Timeline(config, 'i', 0, 3);
    for (let t = 1; t <= 5; t++) tl.add(input(t * 1000, { reason: `R${t}` }));
    expect(tl.state(6000).samples.map((s) => s.t)).toEqual([3000, 4000, 5000]);
  });
});
