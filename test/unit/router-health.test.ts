// The routers' view of the cascade (issue 10, defects 2 and 4): status.routers from scraped router metrics,
// Degraded (BaseUnavailable / FallbackServing) from it, and ThresholdApplied from the routers' gauges.
import { describe, expect, it } from 'vitest';
import { withDefaults } from '../../operator/api/model-cascade.js';
import { computeConditions, type DeploymentLike } from '../../operator/reconcile/status.js';
import { zeroCounters } from '../../operator/telemetry/counters.js';
import type { PodObservation } from '../../operator/telemetry/deltas.js';
import { parseRouterMetrics } from '../../operator/telemetry/router-metrics.js';
import {
  RoutersView,
  percent,
  routerHealthProblem,
  routersStatus,
  routersVerdict,
  thresholdAppliedCondition,
  type RoutersStatus,
} from '../../operator/telemetry/router-health.js';
import { createRouterMetrics } from '../../runtime/router/metrics.js';

const limits = { maxFallbackShare: 0.01, minRows: 100 };
const obs = (key: string, threshold: number, baseState?: 'up' | 'circuit-open' | 'unverified'): PodObservation => ({
  key,
  snapshot: { counters: zeroCounters(), threshold, auditRate: 0.02, ...(baseState ? { baseState } : {}) },
});
const status = (over: Partial<RoutersStatus>): RoutersStatus => ({
  time: '2026-01-01T00:00:00Z',
  observed: 2,
  windowSeconds: 60,
  rows: 4000,
  fallbackRows: 0,
  baseFailures: 0,
  circuitOpen: 0,
  unverified: 0,
  atThreshold: 2,
  ...over,
});

describe('router metrics: the base state and base failures reach the operator', () => {
  it('parses tinysaver_base_state and tinysaver_base_failures_total from a real router registry', async () => {
    const m = createRouterMetrics('cascade');
    m.baseFailures.inc(7);
    let state: 'up' | 'circuit-open' | 'unverified' = 'circuit-open';
    m.setBaseState(() => state);
    let snap = parseRouterMetrics(await m.registry.metrics());
    expect(snap.baseState).toBe('circuit-open');
    expect(snap.counters.baseFailures).toBe(7);
    state = 'up';
    snap = parseRouterMetrics(await m.registry.metrics());
    expect(snap.baseState).toBe('up');
  });
  it('a router without the state set (older version) has no base state', async () => {
    const text = (await createRouterMetrics('cascade').registry.metrics())
      .split('\n')
      .filter((l) => !l.includes('tinysaver_base_state'))
      .join('\n');
    expect(parseRouterMetrics(text).baseState).toBeUndefined();
  });
});

describe('routersStatus', () => {
  it('counts base states and summarizes the thresholds in use', () => {
    const r = routersStatus({
      observed: [obs('a', 0.9, 'circuit-open'), obs('b', 0.88, 'up'), obs('c', 0.9, 'unverified')],
      window: { rows: 300, fallbackRows: 30, baseFailures: 12 },
      windowMs: 60_000,
      desired: 0.9,
      now: new Date('2026-01-01T00:00:00.123Z'),
    });
    expect(r).toMatchObject({
      time: '2026-01-01T00:00:00Z',
      observed: 3,
      circuitOpen: 1,
      unverified: 1,
      atThreshold: 2,
      thresholdMin: 0.88,
      thresholdMax: 0.9,
      thresholdInUse: '0.88-0.9',
      windowSeconds: 60,
      rows: 300,
      fallbackRows: 30,
      baseFailures: 12,
    });
  });
  it('one value when every router agrees; none when no router answered', () => {
    const all = routersStatus({
      observed: [obs('a', 0.9), obs('b', 0.9)],
      window: { rows: 0, fallbackRows: 0, baseFailures: 0 },
      windowMs: 60_000,
      desired: 0.9,
      now: new Date(),
    });
    expect(all.thresholdInUse).toBe('0.9');
    const none = routersStatus({
      observed: [],
      window: { rows: 0, fallbackRows: 0, baseFailures: 0 },
      windowMs: 60_000,
      desired: 0.9,
      now: new Date(),
    });
    expect(none.thresholdInUse).toBeUndefined();
    expect(none.observed).toBe(0);
  });
});

describe('routerHealthProblem', () => {
  it('healthy: no fallback, every base up', () => {
    expect(routerHealthProblem(status({}), limits)).toBeUndefined();
    expect(routerHealthProblem(undefined, limits)).toBeUndefined();
  });
  it('BaseUnavailable when a router has its circuit open, with the numbers in the message', () => {
    const p = routerHealthProblem(status({ fallbackRows: 920, circuitOpen: 2, baseFailures: 57 }), limits);
    expect(p).toEqual({
      reason: 'BaseUnavailable',
      message:
        '23% of 4,000 rows in the last 60 s answered by fallback (limit 1%); base circuit open on 2/2 routers; 57 base call failures',
    });
  });
  it('BaseUnavailable at any traffic when a router never reached its base', () => {
    const p = routerHealthProblem(status({ rows: 0, unverified: 1 }), limits);
    expect(p).toEqual({ reason: 'BaseUnavailable', message: 'no rows in the last 60 s; base not reached since start on 1/2 routers' });
  });
  it('FallbackServing above the share, with the breaker closed', () => {
    const p = routerHealthProblem(status({ rows: 1000, fallbackRows: 11 }), limits);
    expect(p?.reason).toBe('FallbackServing');
    expect(p?.message).toBe('1.1% of 1,000 rows in the last 60 s answered by fallback (limit 1%)');
    expect(routerHealthProblem(status({ rows: 1000, fallbackRows: 10 }), limits)).toBeUndefined(); // at the limit: fine
  });
  it('does not judge the share on fewer than minRows rows', () => {
    expect(routerHealthProblem(status({ rows: 99, fallbackRows: 50 }), limits)).toBeUndefined();
    const p = routerHealthProblem(status({ rows: 99, fallbackRows: 50, circuitOpen: 1 }), limits);
    expect(p?.message).toContain('fewer than 100 rows: share not judged');
  });
  it('percent keeps two significant digits', () => {
    expect([0.23, 0.012, 0.01, 0.005, 1].map(percent)).toEqual(['23%', '1.2%', '1%', '0.5%', '100%']);
  });
});

describe('Degraded from the routers (reconcile)', () => {
  const ready = (name: string): DeploymentLike => ({
    metadata: { name, generation: 1 },
    spec: { replicas: 1 },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
  });
  const health = withDefaults({ saver: { model: 's' }, base: { model: 'b' } }).health;
  it('spec.health defaults: window 1m, minRows 100, maxFallbackShare = the accuracy-loss budget', () => {
    expect(health).toEqual({ window: '1m', maxFallbackShare: 0.01, minRows: 100 });
    expect(withDefaults({ saver: { model: 's' }, base: { model: 'b' }, budget: { maxAccuracyLoss: 0.03 } }).health.maxFallbackShare).toBe(
      0.03,
    );
  });
  it('Ready stays True (pods are available) and Degraded names the base failure', () => {
    const cs = computeConditions({
      generation: 1,
      deployments: [ready('x-saver'), ready('x-base')],
      routers: status({ fallbackRows: 920, circuitOpen: 2 }),
      health,
    });
    expect(cs.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(cs.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'BaseUnavailable' });
  });
  it('clears when the routers recover', () => {
    const cs = computeConditions({ generation: 1, deployments: [ready('x-saver')], routers: status({}), health });
    expect(cs.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
  });
  it('a pod problem keeps its reason and the routers are named after it', () => {
    const cs = computeConditions({
      generation: 1,
      deployments: [ready('x-saver')],
      pods: [
        {
          metadata: { name: 'x-base-1' },
          status: { containerStatuses: [{ name: 'base', restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
        },
      ],
      routers: status({ unverified: 2 }),
      health,
    });
    const d = cs.find((c) => c.type === 'Degraded')!;
    expect(d.reason).toBe('CrashLoopBackOff');
    expect(d.message).toMatch(/x-base-1 .*; routers: .*base not reached since start on 2\/2 routers/);
  });
});

describe('ThresholdApplied', () => {
  it('True when every router uses status.threshold, False (Propagating) while some do not, Unknown without routers', () => {
    const now = '2026-01-01T00:00:00Z';
    expect(thresholdAppliedCondition(status({}), 0.9, undefined, 3, now)).toMatchObject({
      type: 'ThresholdApplied',
      status: 'Unknown',
    }); // no thresholdMin: no gauges
    const all = status({ thresholdMin: 0.9, thresholdMax: 0.9, thresholdInUse: '0.9' });
    expect(thresholdAppliedCondition(all, 0.9, undefined, 3, now)).toMatchObject({
      status: 'True',
      reason: 'AllRouters',
      message: '2/2 routers use threshold 0.9',
      observedGeneration: 3,
    });
    const half = status({ atThreshold: 1, thresholdMin: 0.88, thresholdMax: 0.9, thresholdInUse: '0.88-0.9' });
    const c = thresholdAppliedCondition(half, 0.9, { type: 'ThresholdApplied', status: 'False', lastTransitionTime: 'earlier' }, 3, now);
    expect(c).toMatchObject({ status: 'False', reason: 'Propagating', lastTransitionTime: 'earlier' });
    expect(c.message).toMatch(/^1\/2 routers use threshold 0\.9; the others still 0\.88-0\.9 \(.*--sync-frequency/);
  });
});

describe('RoutersView (the controller keeps one per cascade)', () => {
  it('sums the window over cycles, drops old cycles, and changes its key with the verdict', () => {
    const v = new RoutersView();
    const delta = (rows: number, fallback: number) => {
      const c = zeroCounters();
      c.all[c.all.length - 1] = rows;
      c.rowsFallback = fallback;
      return c;
    };
    const input = (nowMs: number, d: ReturnType<typeof delta>, state: 'up' | 'circuit-open') => ({
      observed: [obs('a', 0.9, state)],
      delta: d,
      nowMs,
      windowMs: 60_000,
      desired: 0.9,
      limits,
    });
    const a = v.observe(input(0, delta(1000, 0), 'up'));
    expect(a.routers).toMatchObject({ rows: 1000, fallbackRows: 0 });
    const b = v.observe(input(30_000, delta(1000, 300), 'circuit-open'));
    expect(b.routers).toMatchObject({ rows: 2000, fallbackRows: 300, circuitOpen: 1 });
    expect(b.key).not.toBe(a.key);
    expect(routerHealthProblem(b.routers, limits)?.reason).toBe('BaseUnavailable');
    // 90 s later the outage's slot has left the 60 s window
    const c = v.observe(input(90_000, delta(1000, 0), 'up'));
    expect(c.routers).toMatchObject({ rows: 1000, fallbackRows: 0, circuitOpen: 0 });
    expect(c.key).toBe(a.key);
  });
});

describe('routersVerdict (status-only writes that reconcile)', () => {
  it('moves with the cause and the router counts, not with the live numbers', () => {
    const healthy = routersVerdict(status({}), limits);
    expect(healthy).toBe('');
    expect(routersVerdict(status({ rows: 5000 }), limits)).toBe(healthy);
    const open = routersVerdict(status({ circuitOpen: 1, fallbackRows: 100 }), limits);
    expect(open).toBe('BaseUnavailable|2|1|0');
    expect(routersVerdict(status({ circuitOpen: 1, fallbackRows: 300 }), limits)).toBe(open);
    expect(routersVerdict(status({ circuitOpen: 2, fallbackRows: 300 }), limits)).not.toBe(open);
    expect(routersVerdict(status({ fallbackRows: 300 }), limits)).toBe('FallbackServing|2|0|0');
  });
});
