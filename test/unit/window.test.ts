import { describe, expect, it } from 'vitest';
import { zeroCounters } from '../../operator/telemetry/counters.js';
import { SlidingWindow, modelKey } from '../../operator/telemetry/window.js';

function slot(atMs: number, rows: number) {
  const c = zeroCounters();
  c.all[3] = rows;
  return { atMs, counters: c, pods: 1 };
}

describe('SlidingWindow', () => {
  it('sums the slots younger than the window and drops older ones', () => {
    const w = new SlidingWindow(10_000);
    w.add(slot(1_000, 5));
    w.add(slot(6_000, 7));
    w.add(slot(10_900, 11));
    let s = w.sum(10_999);
    expect(s.rows).toBe(23);
    expect(s.slots).toBe(3);
    expect(s.ageMs).toBe(99);
    s = w.sum(12_000); // slot at 1000 is now 11 s old (a slot exactly W old is out: it covers the interval before it)
    expect(s.rows).toBe(18);
    expect(s.slots).toBe(2);
    expect(s.ageMs).toBe(1_100);
  });

  it('reports an empty window as infinitely stale', () => {
    const s = new SlidingWindow(1000).sum(5);
    expect(s.rows).toBe(0);
    expect(s.ageMs).toBe(Infinity);
  });

  it('resets when the model key changes, not on the first key', () => {
    const w = new SlidingWindow(10_000);
    expect(w.setModelKey(modelKey(['saver-a', 'base']))).toBe(false);
    w.add(slot(1, 3));
    expect(w.setModelKey(modelKey(['saver-a', 'base']))).toBe(false);
    expect(w.size).toBe(1);
    expect(w.setModelKey(modelKey(['saver-b', 'base']))).toBe(true);
    expect(w.size).toBe(0);
  });

  it('rejects out-of-order slots and bad lengths', () => {
    const w = new SlidingWindow(10);
    w.add(slot(5, 1));
    expect(() => w.add(slot(4, 1))).toThrow(/older/);
    expect(() => new SlidingWindow(0)).toThrow(/> 0/);
  });

  it('model keys separate the parts (no concatenation collisions)', () => {
    expect(modelKey(['ab', 'c'])).not.toBe(modelKey(['a', 'bc']));
  });
});
