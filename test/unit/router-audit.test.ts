import { describe, expect, it } from 'vitest';
import { BoundedRunner, sampleAuditRows } from '../../runtime/router/audit.js';
import { seededRandom } from '../../core/random.js';

describe('seeded audit sampling', () => {
  it('is deterministic per seed and uniform enough', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(xs);
    expect(Array.from({ length: 5 }, seededRandom(43))).not.toEqual(xs);
    const r = seededRandom(7);
    let sum = 0;
    let outside = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const v = r();
      if (!(v >= 0 && v < 1)) outside++;
      sum += v;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
  });

  it('samples about rate * rows, only from the given rows', () => {
    const rows = Int32Array.from({ length: 20_000 }, (_, i) => 2 * i);
    const picked = sampleAuditRows(rows, 0.1, seededRandom(1));
    // binomial(20000, 0.1): sd = 42.4; 4 sd
    expect(Math.abs(picked.length - 2000)).toBeLessThan(170);
    expect(picked.every((r) => r % 2 === 0)).toBe(true);
    expect(sampleAuditRows(rows, 0, seededRandom(1))).toEqual([]);
    expect(sampleAuditRows(rows, 1, seededRandom(1))).toHaveLength(rows.length);
  });
});

describe('BoundedRunner', () => {
  it('refuses beyond the limit instead of queueing, and frees slots when jobs end', async () => {
    const runner = new BoundedRunner(2);
    const releases: Array<() => void> = [];
    const job = () => new Promise<void>((r) => releases.push(r));
    expect(runner.tryRun(job)).toBe(true);
    expect(runner.tryRun(job)).toBe(true);
    expect(runner.tryRun(job)).toBe(false);
    expect(runner.inFlight).toBe(2);
    releases[0]();
    await new Promise((r) => setImmediate(r));
    expect(
      runner.tryRun(async () => {
        throw new Error('a failing job does not leak its slot');
      }),
    ).toBe(true);
    await new Promise((r) => setImmediate(r));
    releases[1]();
    await runner.idle();
    expect(runner.inFlight).toBe(0);
  });
});
