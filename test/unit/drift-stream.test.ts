// Drift injection of `replay --drift` (runtime/drift/): named schedules, per-row determinism whatever the
// batch boundaries, severity scaling; and the running line's recent-rows window (runtime/replay/live.ts).
import { describe, expect, it } from 'vitest';
import { PIXELS } from '../../runtime/drift/corruptions.js';
import { DEFAULT_SCHEDULE, SCHEDULES, SCHEDULE_NAMES, severityAt } from '../../runtime/drift/schedule.js';
import { applyDrift, driftAt, type DriftSpec } from '../../runtime/drift/stream.js';
import { RecentRows, formatLiveLine } from '../../runtime/replay/live.js';

const images = (rows: number) => Float32Array.from({ length: rows * PIXELS }, (_, i) => ((i * 37) % 255) / 255);

describe('drift schedules', () => {
  it('ramp is the drift bench schedule; step and constant have the documented shape', () => {
    expect(SCHEDULE_NAMES).toEqual(['ramp', 'step', 'constant']);
    expect(SCHEDULES.ramp).toBe(DEFAULT_SCHEDULE);
    expect(severityAt(0.1, SCHEDULES.step).severity).toBe(0);
    expect(severityAt(0.5, SCHEDULES.step)).toEqual({ severity: 1, phase: 'drifted' });
    expect(severityAt(0.9, SCHEDULES.step).severity).toBe(0);
    expect(severityAt(0.01, SCHEDULES.constant).severity).toBe(1);
    expect(severityAt(0.99, SCHEDULES.constant).severity).toBe(1);
  });

  it('driftAt repeats every period and scales by the peak severity', () => {
    const spec: DriftSpec = { kind: 'blur', severity: 0.5, schedule: 'step', periodRows: 100, seed: 1 };
    expect(driftAt(spec, 50)).toEqual({ severity: 0.5, phase: 'drifted' });
    expect(driftAt(spec, 150)).toEqual(driftAt(spec, 50));
    expect(driftAt(spec, 10).severity).toBe(0);
  });
});

describe('applyDrift', () => {
  it('gives each row the same corruption whatever the batch boundaries', () => {
    const spec: DriftSpec = { kind: 'noise', severity: 1, schedule: 'constant', periodRows: 10, seed: 7 };
    const src = images(6);
    const whole = applyDrift(spec, src, 100).images;
    const a = applyDrift(spec, src.subarray(0, 2 * PIXELS), 100).images;
    const b = applyDrift(spec, src.subarray(2 * PIXELS), 102).images;
    expect(Array.from(whole)).toEqual([...a, ...b]);
    // another seed corrupts differently; the input is not modified
    expect(Array.from(applyDrift({ ...spec, seed: 8 }, src, 100).images)).not.toEqual(Array.from(whole));
    expect(Array.from(src)).toEqual(Array.from(images(6)));
  });

  it('leaves clean rows untouched and rejects a partial image', () => {
    const spec: DriftSpec = { kind: 'occlusion', severity: 1, schedule: 'step', periodRows: 100, seed: 1 };
    const src = images(2);
    expect(Array.from(applyDrift(spec, src, 0).images)).toEqual(Array.from(src)); // rows 0-1: clean phase
    expect(Array.from(applyDrift(spec, src, 50).images)).not.toEqual(Array.from(src));
    expect(() => applyDrift(spec, new Float32Array(10), 0)).toThrow(/whole number/);
  });
});

describe('RecentRows', () => {
  it('keeps about the last windowRows rows and reports share, accuracy vs base and threshold', () => {
    const r = new RecentRows(100);
    r.add({ firstRow: 0, rows: 50, correct: 0, routes: { saver: 50 }, pairCorrect: 50, threshold: 0.9 }, 0);
    r.add({ firstRow: 50, rows: 50, correct: 50, routes: { base: 50 }, pairCorrect: 50, threshold: 0.95 }, 1000);
    r.add({ firstRow: 100, rows: 50, correct: 50, routes: { saver: 25, base: 25 }, pairCorrect: 40, threshold: 0.97 }, 2000);
    const s = r.snapshot();
    expect(s.total).toBe(150);
    expect(s.rows).toBe(100); // the first batch fell out of the window
    expect(s.saverShare).toBeCloseTo(0.25);
    expect(s.accuracy).toBe(1);
    expect(s.baseAccuracy).toBeCloseTo(0.9);
    expect(s.threshold).toBe(0.97);
    expect(s.rowsPerSecond).toBeCloseTo(50);
    expect(formatLiveLine(s, { kind: 'blur', severity: 0.8, phase: 'hold' })).toBe(
      'rows 150 | last 100: saver 25.0% acc 100.0% vs base 90.0% (+10.0 pts) | t 0.97 | blur 0.80 hold | 50 rows/s',
    );
  });
});
