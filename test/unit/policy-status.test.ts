import { describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { type Decision, INITIAL_POLICY_STATE } from '../../operator/threshold/policy.js';
import { controlSettings, formatDuration, parseDuration } from '../../operator/threshold/spec.js';
import { HISTORY_LIMIT, buildThresholdStatus } from '../../operator/threshold/status.js';

function decision(over: Partial<Decision> = {}): Decision {
  return {
    threshold: 0.86,
    recommended: 0.86,
    proposed: 0.86,
    bound: 0.008,
    boundAtCurrent: 0.014,
    share: 0.72,
    audits: 640,
    auditsAbove: 300,
    auditRate: 0.05,
    neededAudits: 500,
    rows: 20000,
    changed: true,
    direction: 'raise',
    holding: false,
    reason: 'BoundExceeded',
    message: 'loss bound 1.40% > budget 1.00% at 0.8; raise to 0.86',
    state: INITIAL_POLICY_STATE,
    ...over,
  };
}

function mc(spec: Partial<ModelCascade['spec']> = {}): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'a', namespace: 'n' },
    spec: { saver: { model: 's' }, base: { model: 'b' }, ...spec },
  };
}

describe('durations', () => {
  it('parses Go durations the CRD allows and formats them back', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(() => parseDuration('30')).toThrow(/not a duration/);
    expect(() => parseDuration('-1s')).toThrow(/not a duration/);
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(500)).toBe('500ms');
    expect(formatDuration(3_600_000)).toBe('1h');
  });
});

describe('controlSettings', () => {
  it('applies the CRD defaults', () => {
    const { settings, errors } = controlSettings(mc());
    expect(errors).toEqual([]);
    expect(settings).toMatchObject({ intervalMs: 30_000, windowMs: 600_000, initial: 0.9 });
    expect(settings?.policy).toMatchObject({
      mode: 'adaptive',
      min: 0.5,
      max: 1,
      epsilon: 0.01,
      maxStep: 0.02,
      minAudits: 200,
      auditRate: { min: 0.02, max: 0.25 },
    });
    expect(settings?.policy.delta).toBeCloseTo(0.05, 12);
  });
  it('names the bad field', () => {
    expect(controlSettings(mc({ control: { interval: '5 minutes' } })).errors.join()).toMatch(/spec.control.interval/);
    expect(controlSettings(mc({ control: { interval: '1m', window: '30s' } })).errors.join()).toMatch(
      /window .* at least spec.control.interval/,
    );
    expect(controlSettings(mc({ budget: { maxAccuracyLoss: 2 } })).errors.join()).toMatch(/maxAccuracyLoss/);
  });
  it('model key changes with the saver or base model, not with the threshold', () => {
    const k = controlSettings(mc()).settings!.modelKey;
    expect(controlSettings(mc({ threshold: { initial: 0.8 } })).settings!.modelKey).toBe(k);
    expect(controlSettings(mc({ saver: { model: 's2' } })).settings!.modelKey).not.toBe(k);
    expect(controlSettings(mc({ base: { model: 'b', modelSha256: 'x' } })).settings!.modelKey).not.toBe(k);
  });
});

describe('buildThresholdStatus', () => {
  const now = new Date('2026-03-01T12:00:00Z');
  it('a raise: status fields, lastChange, history and an Event in the documented words', () => {
    const { status, event } = buildThresholdStatus({
      decision: decision(),
      from: 0.8,
      mode: 'adaptive',
      windowMs: 600_000,
      now,
      epsilon: 0.01,
      generation: 3,
    });
    expect(status).toMatchObject({
      threshold: 0.86,
      recommendedThreshold: 0.86,
      lossBound: 0.008,
      saverShare: 0.72,
      auditsInWindow: 640,
      window: '10m',
    });
    expect(status.lastChange).toEqual({ from: 0.8, to: 0.86, reason: 'BoundExceeded', time: '2026-03-01T12:00:00.000Z' });
    expect(status.history).toEqual([status.lastChange]);
    expect(status.conditions?.[0]).toMatchObject({
      type: 'ThresholdControl',
      status: 'True',
      reason: 'BoundExceeded',
      observedGeneration: 3,
    });
    expect(event).toEqual({
      type: 'Warning',
      reason: 'ThresholdRaised',
      message: '0.8 -> 0.86, loss bound 1.40% > budget 1.00%; 640 audits, 20000 rows in window',
    });
  });

  it('a hold keeps lastChange/history, reports the guard as condition False, no Event', () => {
    const previous = {
      lastChange: { from: 0.8, to: 0.86, reason: 'BoundExceeded', time: 't0' },
      history: [{ from: 0.8, to: 0.86, reason: 'BoundExceeded', time: 't0' }],
      conditions: [{ type: 'ThresholdControl', status: 'False' as const, reason: 'NoData', lastTransitionTime: 'long-ago' }],
    };
    const d = decision({
      changed: false,
      direction: 'none',
      holding: true,
      reason: 'TelemetryStale',
      message: 'telemetry 120s old',
      bound: NaN,
      recommended: NaN,
      share: NaN,
      threshold: 0.86,
    });
    const { status, event } = buildThresholdStatus({
      decision: d,
      from: 0.86,
      mode: 'adaptive',
      windowMs: 60_000,
      now,
      epsilon: 0.01,
      previous,
    });
    expect(event).toBeUndefined();
    expect(status.lastChange).toEqual(previous.lastChange);
    expect(status.history).toEqual(previous.history);
    expect(status.lossBound).toBeUndefined(); // NaN never reaches the apiserver
    expect(status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'TelemetryStale', lastTransitionTime: 'long-ago' });
  });

  it('keeps at most the last 10 changes; a lower is a Normal ThresholdLowered event', () => {
    const history = Array.from({ length: HISTORY_LIMIT }, (_, i) => ({ from: 0.9, to: 0.91, reason: 'Certified', time: `t${i}` }));
    const d = decision({ threshold: 0.84, direction: 'lower', reason: 'Certified', bound: 0.006, recommended: 0.8 });
    const { status, event } = buildThresholdStatus({
      decision: d,
      from: 0.86,
      mode: 'adaptive',
      windowMs: 60_000,
      now,
      epsilon: 0.01,
      previous: { history },
    });
    expect(status.history).toHaveLength(HISTORY_LIMIT);
    expect(status.history?.[0].time).toBe('t1');
    expect(status.history?.[HISTORY_LIMIT - 1]).toMatchObject({ from: 0.86, to: 0.84, reason: 'Certified' });
    expect(event).toMatchObject({ type: 'Normal', reason: 'ThresholdLowered' });
    expect(event?.message).toMatch(/^0\.86 -> 0\.84, loss bound 0\.60% <= budget 1\.00% \(certified down to 0\.8\)/);
  });

  it('observe mode prefixes the condition reason', () => {
    const d = decision({ changed: false, direction: 'none', threshold: 0.8 });
    const { status } = buildThresholdStatus({ decision: d, from: 0.8, mode: 'observe', windowMs: 60_000, now, epsilon: 0.01 });
    expect(status.conditions?.[0].reason).toBe('ObserveBoundExceeded');
  });
});
