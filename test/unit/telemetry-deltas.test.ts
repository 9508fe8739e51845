import { describe, expect, it } from 'vitest';
import { type RouterCounters, zeroCounters } from '../../operator/telemetry/counters.js';
import { type PodObservation, type PodState, stepDeltas } from '../../operator/telemetry/deltas.js';

function counters(rowsInBucket0: number, saver = 0): RouterCounters {
  const c = zeroCounters();
  c.all[0] = rowsInBucket0;
  c.rowsSaver = saver;
  return c;
}
function obs(key: string, c: RouterCounters, extra: Partial<PodObservation> = {}): PodObservation {
  return { key, snapshot: { counters: c, threshold: 0.9, auditRate: 0.05 }, ...extra };
}

describe('stepDeltas', () => {
  it('first sight of an old pod sets the baseline; later cycles give differences summed over pods', () => {
    let state: Map<string, PodState> = new Map();
    let s = stepDeltas(state, { observed: [obs('a', counters(100, 10)), obs('b', counters(50))] });
    expect(s.delta.all[0]).toBe(0);
    expect(s.perPod.map((p) => p.kind)).toEqual(['baseline', 'baseline']);
    state = s.state;
    s = stepDeltas(state, { observed: [obs('a', counters(130, 15)), obs('b', counters(60))], previousCycleMs: 1000 });
    expect(s.delta.all[0]).toBe(40);
    expect(s.delta.rowsSaver).toBe(5);
    expect(s.perPod.map((p) => p.rows)).toEqual([30, 10]);
  });

  it('a counter decrease means a reset: the new value is the delta', () => {
    const s1 = stepDeltas(new Map(), { observed: [obs('a', counters(100, 10))] });
    const s2 = stepDeltas(s1.state, { observed: [obs('a', counters(7, 12))], previousCycleMs: 1 });
    expect(s2.perPod[0].kind).toBe('reset');
    expect(s2.perPod[0].reason).toMatch(/all\[0\] decreased/);
    expect(s2.delta.all[0]).toBe(7);
    expect(s2.delta.rowsSaver).toBe(12);
  });

  it('a new pod UID or process start is a restart even when counters grew', () => {
    const s1 = stepDeltas(new Map(), { observed: [obs('a', counters(10), { uid: 'u1' })] });
    const s2 = stepDeltas(s1.state, { observed: [obs('a', counters(20), { uid: 'u2' })], previousCycleMs: 1 });
    expect(s2.perPod[0].kind).toBe('reset');
    expect(s2.delta.all[0]).toBe(20);
    const p1 = obs('b', counters(10));
    p1.snapshot.processStartSeconds = 100;
    const p2 = obs('b', counters(15));
    p2.snapshot.processStartSeconds = 200;
    const s3 = stepDeltas(stepDeltas(new Map(), { observed: [p1] }).state, { observed: [p2], previousCycleMs: 1 });
    expect(s3.perPod[0].reason).toMatch(/restarted/);
    expect(s3.delta.all[0]).toBe(15);
  });

  it('a pod that started after the previous cycle counts from zero', () => {
    const s = stepDeltas(new Map(), { observed: [obs('new', counters(9), { startedAtMs: 5000 })], previousCycleMs: 4000 });
    expect(s.perPod[0].kind).toBe('new');
    expect(s.delta.all[0]).toBe(9);
  });

  it('failed pods keep their state; vanished pods are dropped', () => {
    const s1 = stepDeltas(new Map(), { observed: [obs('a', counters(10)), obs('b', counters(10))] });
    const s2 = stepDeltas(s1.state, { observed: [], failed: ['a'], previousCycleMs: 1 });
    expect(s2.dropped).toEqual(['b']);
    expect(s2.state.has('a')).toBe(true);
    const s3 = stepDeltas(s2.state, { observed: [obs('a', counters(25))], previousCycleMs: 2 });
    expect(s3.delta.all[0]).toBe(15); // covers both intervals
  });

  it('a pod listed twice counts once', () => {
    const s1 = stepDeltas(new Map(), { observed: [obs('a', counters(1))] });
    const s2 = stepDeltas(s1.state, { observed: [obs('a', counters(5)), obs('a', counters(5))], previousCycleMs: 1 });
    expect(s2.delta.all[0]).toBe(4);
  });
});

import { targetsFromPods } from '../../operator/telemetry/scrape.js';

describe('targetsFromPods', () => {
  const ready = [{ type: 'Ready', status: 'True' }];
  it('keeps Running + Ready pods with an IP, honours the metrics-port annotation, brackets IPv6', () => {
    const t = targetsFromPods([
      {
        metadata: { name: 'a', namespace: 'n', uid: 'u1' },
        status: { phase: 'Running', podIP: '10.0.0.1', conditions: ready, startTime: '2026-01-01T00:00:00Z' },
      },
      {
        metadata: { name: 'b', namespace: 'n', annotations: { 'tinysaver.io/metrics-port': '9100' } },
        status: { phase: 'Running', podIP: 'fd00::5', conditions: ready },
      },
      { metadata: { name: 'pending', namespace: 'n' }, status: { phase: 'Pending', podIP: '10.0.0.2', conditions: ready } },
      {
        metadata: { name: 'unready', namespace: 'n' },
        status: { phase: 'Running', podIP: '10.0.0.3', conditions: [{ type: 'Ready', status: 'False' }] },
      },
      { metadata: { name: 'noip', namespace: 'n' }, status: { phase: 'Running', conditions: ready } },
      {
        metadata: { name: 'dying', namespace: 'n', deletionTimestamp: '2026-01-01T00:00:00Z' },
        status: { phase: 'Running', podIP: '10.0.0.4', conditions: ready },
      },
      {
        metadata: { name: 'badport', namespace: 'n', annotations: { 'tinysaver.io/metrics-port': '99999' } },
        status: { phase: 'Running', podIP: '10.0.0.5', conditions: ready },
      },
    ]);
    expect(t).toEqual([
      { key: 'n/a', uid: 'u1', startedAtMs: Date.parse('2026-01-01T00:00:00Z'), url: 'http://10.0.0.1:8000/metrics' },
      { key: 'n/b', url: 'http://[fd00::5]:9100/metrics' },
      { key: 'n/badport', url: 'http://10.0.0.5:8000/metrics' },
    ]);
  });
});
