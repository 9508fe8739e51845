import { describe, expect, it } from 'vitest';
import { formatReplaySummary, percentile, relativeCompute, type RunStats } from '../../runtime/replay/replay.js';

describe('replay summary math', () => {
  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('relative compute = (macs_saver + escalated share * macs_base) / macs_base', () => {
    expect(relativeCompute(100_000, 8_000_000, 0.25)).toBeCloseTo(0.2625, 10);
    expect(relativeCompute(100, 1000, 0)).toBeCloseTo(0.1, 10);
    expect(relativeCompute(100, 1000, 1)).toBeCloseTo(1.1, 10);
  });

  it('formats share, accuracy, compute and latency from the run', () => {
    const cascade: RunStats = {
      samples: 1000,
      correct: 912,
      routes: { saver: 700, base: 290, fallback: 10 },
      latenciesMs: [1, 2, 3, 4],
      wallSeconds: 2,
    };
    const text = formatReplaySummary({
      label: 'cascade',
      cascade,
      baseAccuracyFromManifest: { model: 'base-cnn', accuracy: 0.9271 },
      macs: { saver: 's', saverMacs: 100, base: 'b', baseMacs: 1000 },
    });
    expect(text).toMatch(/saver share\s+70\.00 %\s+\(saver 700, base 290, fallback 10\)/);
    expect(text).toMatch(/accuracy\s+91\.20 %/);
    expect(text).toMatch(/base accuracy\s+92\.71 %\s+\(base-cnn, from the model manifest\)/);
    expect(text).toMatch(/relative compute\s+0\.400 x base/); // 0.1 + 0.3
    expect(text).toMatch(/latency p50 \/ p99\s+2\.00 ms \/ 4\.00 ms/);
  });

  it('says so when the endpoint is not a cascade', () => {
    const text = formatReplaySummary({ label: 'm', cascade: { samples: 10, correct: 9, routes: {}, latenciesMs: [1], wallSeconds: 1 } });
    expect(text).toMatch(/saver share\s+n\/a/);
    expect(text).toMatch(/relative compute\s+n\/a/);
  });
});
