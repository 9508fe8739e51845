// Threshold controller on real routers: real model servers + router on 127.0.0.1, the controller
// scraping the router's /metrics over HTTP, the shared certification deciding. Kubernetes I/O is in
// memory here (test/e2e/threshold*.test.ts runs the same loop against a real kube-apiserver).

import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThresholdController } from '../../operator/threshold/controller.js';
import { effectiveThreshold, thresholdFileContent } from '../../operator/reconcile/builders/router-config.js';
import { parseRouterMetrics } from '../../operator/telemetry/router-metrics.js';
import {
  type Cascade,
  brokenRouter,
  cascadeObject,
  corruptedStream,
  memoryIO,
  routerPod,
  send,
  startCascade,
} from './controller-helpers.js';

const KEY = 'test/ctl';
const SPEC = {
  router: { auditRate: 0.25 },
  threshold: { initial: 0.5, min: 0.5, max: 1, mode: 'adaptive' as const },
  budget: { maxAccuracyLoss: 0.02, confidence: 0.95 },
  control: { interval: '30s', window: '5m', maxStep: 0.02, minAudits: 50 },
};

describe('threshold controller on a live cascade', () => {
  let cascade: Cascade;
  let stream: (rows: number, severity: number) => Float32Array;

  beforeAll(async () => {
    cascade = await startCascade({ threshold: 0.5, auditRate: 0.25 });
    stream = await corruptedStream(11);
  }, 60_000);
  afterAll(async () => {
    await cascade?.close();
  });

  it('raises the threshold under a corrupted stream and the router follows the written file', async () => {
    const { state, io } = memoryIO(cascadeObject(SPEC));
    state.pods = [routerPod('router-a', cascade.router.url)];
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const ctl = new ThresholdController({ io, get: () => state.mc, now: () => clock, log: () => undefined });
    // first cycle: baseline of the running router
    expect((await ctl.runCycle(KEY))?.decision.reason).toBe('NoData');
    let raised;
    for (let i = 0; i < 8 && !raised; i++) {
      await send(cascade, stream(400, 1));
      clock += 30_000;
      const cyc = await ctl.runCycle(KEY);
      if (cyc?.decision.changed) raised = cyc;
    }
    expect(raised, 'the controller raised within 8 intervals').toBeDefined();
    expect(raised!.decision.direction).toBe('raise');
    expect(raised!.decision.boundAtCurrent).toBeGreaterThan(0.02);
    expect(state.mc.status?.threshold).toBeGreaterThan(0.5);
    expect(state.mc.status?.lastChange).toMatchObject({ from: 0.5, reason: 'BoundExceeded' });
    expect(state.mc.status?.conditions?.[0]).toMatchObject({ type: 'ThresholdControl', status: 'True', reason: 'BoundExceeded' });
    expect(state.events[0].reason).toBe('ThresholdRaised');
    expect(state.events[0].message).toMatch(/^0\.5 -> [0-9.]+, loss bound [0-9.]+% > budget 2\.00%/);
    expect(state.configApplies).toBe(1);

    // the kubelet's part: the ConfigMap content lands in the router's watched file
    const t = effectiveThreshold(state.mc);
    await writeFile(cascade.thresholdFile, thresholdFileContent(state.mc));
    await cascade.router.reloadThreshold();
    const snap = parseRouterMetrics(await (await fetch(`${cascade.router.url}/metrics`)).text());
    expect(snap.threshold).toBe(t);
    expect(JSON.parse(await readFile(cascade.thresholdFile, 'utf8')).threshold).toBe(t);
  }, 120_000);

  it('a new saver model resets the window and the threshold back to initial', async () => {
    const { state, io } = memoryIO(cascadeObject(SPEC));
    state.pods = [routerPod('router-a', cascade.router.url)];
    let clock = Date.parse('2026-01-06T00:00:00Z');
    const ctl = new ThresholdController({ io, get: () => state.mc, now: () => clock, log: () => undefined });
    await ctl.runCycle(KEY);
    for (let i = 0; i < 8 && !((state.mc.status?.threshold ?? 0) > 0.5); i++) {
      await send(cascade, stream(400, 1));
      clock += 30_000;
      await ctl.runCycle(KEY);
    }
    expect(state.mc.status?.threshold).toBeGreaterThan(0.5);
    // the user rolls out another saver
    state.mc = {
      ...state.mc,
      metadata: { ...state.mc.metadata, generation: 2 },
      spec: { ...state.mc.spec, saver: { model: 'saver-mlp' } },
    };
    await send(cascade, stream(100, 0));
    clock += 30_000;
    const cyc = await ctl.runCycle(KEY);
    expect(cyc?.report.windowReset).toBe(true);
    expect(cyc?.report.window.rows).toBe(0); // the new model's window starts empty (baseline this cycle)
    expect(state.mc.status?.threshold).toBe(0.5);
    expect(state.mc.status?.lastChange).toMatchObject({ to: 0.5, reason: 'ModelChanged' });
    expect(state.events.at(-1)).toMatchObject({ reason: 'ThresholdReset', type: 'Normal' });
    expect(state.events.at(-1)?.message).toMatch(/ -> 0\.5: saver\/base model changed/);
  }, 120_000);

  it('observe mode reports the recommendation without applying it', async () => {
    const { state, io } = memoryIO(cascadeObject({ ...SPEC, threshold: { ...SPEC.threshold, mode: 'observe' } }));
    state.pods = [routerPod('router-a', cascade.router.url)];
    await writeFile(cascade.thresholdFile, JSON.stringify({ threshold: 0.5, auditRate: 0.25 }));
    await cascade.router.reloadThreshold();
    let clock = Date.parse('2026-01-02T00:00:00Z');
    const ctl = new ThresholdController({ io, get: () => state.mc, now: () => clock, log: () => undefined });
    await ctl.runCycle(KEY);
    for (let i = 0; i < 4; i++) {
      await send(cascade, stream(400, 1));
      clock += 30_000;
      await ctl.runCycle(KEY);
    }
    expect(state.mc.status?.threshold).toBe(0.5);
    expect(state.mc.status?.recommendedThreshold).toBeGreaterThan(0.5);
    expect(state.mc.status?.conditions?.[0].message).toMatch(/^mode observe \(not applied\)/);
    expect(state.events).toEqual([]);
    expect(state.configApplies).toBe(0);
  }, 120_000);
});

describe('telemetry faults', () => {
  let cascade: Cascade;
  let stream: (rows: number, severity: number) => Float32Array;
  beforeAll(async () => {
    cascade = await startCascade({ threshold: 0.9, auditRate: 0.1 });
    stream = await corruptedStream(5);
  }, 60_000);
  afterAll(async () => {
    await cascade?.close();
  });

  it('a router that hangs and one that returns garbage are skipped with reasons; the healthy one counts', async () => {
    const hang = await brokenRouter('hang');
    const garbage = await brokenRouter('garbage');
    try {
      const { state, io } = memoryIO(cascadeObject({ ...SPEC, threshold: { ...SPEC.threshold, initial: 0.9 } }));
      state.pods = [routerPod('good', cascade.router.url), routerPod('hangs', hang.url), routerPod('garbage', garbage.url)];
      let clock = Date.parse('2026-01-03T00:00:00Z');
      const ctl = new ThresholdController({ io, get: () => state.mc, now: () => clock, log: () => undefined, scrape: { timeoutMs: 300 } });
      await ctl.runCycle(KEY);
      await send(cascade, stream(300, 0));
      clock += 30_000;
      const cyc = await ctl.runCycle(KEY);
      expect(cyc?.report.failed.map((f) => f.key).sort()).toEqual(['test/garbage', 'test/hangs']);
      expect(cyc?.report.failed.find((f) => f.key === 'test/hangs')?.reason).toMatch(/timed out after 300 ms/);
      expect(cyc?.report.failed.find((f) => f.key === 'test/garbage')?.reason).toMatch(/line 1/);
      expect(cyc?.report.newRows).toBe(300);
      const cond = state.mc.status?.conditions?.[0];
      expect(cond?.message).toMatch(/2\/3 router scrape\(s\) failed/);
    } finally {
      await hang.close();
      await garbage.close();
    }
  }, 60_000);

  it('a router restart (counters back to zero) is a reset, not a negative delta', async () => {
    const { state, io } = memoryIO(cascadeObject({ ...SPEC, threshold: { ...SPEC.threshold, initial: 0.9 } }));
    state.pods = [routerPod('r', cascade.router.url)];
    let clock = Date.parse('2026-01-04T00:00:00Z');
    const ctl = new ThresholdController({ io, get: () => state.mc, now: () => clock, log: () => undefined });
    await ctl.runCycle(KEY);
    await send(cascade, stream(200, 0));
    clock += 30_000;
    expect((await ctl.runCycle(KEY))?.report.newRows).toBe(200);
    // restart: a fresh router (zero counters) behind the same pod
    const fresh = await startCascade({ threshold: 0.9, auditRate: 0.1, seed: 9 });
    try {
      state.pods = [routerPod('r', fresh.router.url)];
      await send(fresh, stream(50, 0));
      clock += 30_000;
      const cyc = await ctl.runCycle(KEY);
      expect(cyc?.report.perPod[0]).toMatchObject({ key: 'test/r', kind: 'reset', rows: 50 });
      expect(cyc?.report.newRows).toBe(50);
      expect(cyc?.report.window.rows).toBe(250);
      expect(state.mc.status?.conditions?.[0].message).toMatch(/counter reset on test\/r/);
    } finally {
      await fresh.close();
    }
  }, 60_000);

  it('no reachable router for longer than the staleness limit holds the threshold and says so', async () => {
    const { state, io } = memoryIO(cascadeObject({ ...SPEC, threshold: { ...SPEC.threshold, initial: 0.9 } }));
    state.pods = [routerPod('r', cascade.router.url)];
    let clock = Date.parse('2026-01-05T00:00:00Z');
    const ctl = new ThresholdController({ io, get: () => state.mc, now: () => clock, log: () => undefined });
    await ctl.runCycle(KEY);
    state.listFails = true;
    let last;
    for (let i = 0; i < 5; i++) {
      clock += 30_000;
      last = await ctl.runCycle(KEY);
    }
    expect(last?.decision).toMatchObject({ reason: 'TelemetryStale', holding: true, changed: false, threshold: 0.9 });
    expect(state.mc.status?.conditions?.[0]).toMatchObject({ status: 'False', reason: 'TelemetryStale' });
    expect(state.mc.status?.conditions?.[0].message).toMatch(/apiserver unavailable/);
  }, 60_000);
});
