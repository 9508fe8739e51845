// The threshold controller as a work-queue consumer (issue 12): reconcile() runs one cycle on the cached
// object and says when to run again (RequeueAfter); a gone object is forgotten and not requeued; a cache
// older than our own status write is waited for. The queue itself is the operator's WorkQueue.
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../operator/kube/workqueue.js';
import { ThresholdController } from '../../operator/threshold/controller.js';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { cascadeObject, memoryIO } from '../integration/controller-helpers.js';

const KEY = 'test/ctl';
const SPEC = {
  threshold: { initial: 0.9, min: 0.5, max: 1, mode: 'adaptive' as const },
  control: { interval: '2s', window: '1m' },
};

describe('threshold controller on the work queue', () => {
  it('reconcile runs a cycle on the cached object and requeues after spec.control.interval', async () => {
    const { state, io } = memoryIO(cascadeObject(SPEC));
    const ctl = new ThresholdController({ io, get: () => state.mc, log: () => undefined });
    const out = await ctl.reconcile(KEY);
    expect(out?.requeueAfterMs).toBe(2000);
    expect(out?.result?.decision).toMatchObject({ reason: 'TelemetryStale', holding: true }); // no router pods: nothing to read, hold
    expect(state.mc.status?.conditions?.[0]).toMatchObject({ type: 'ThresholdControl', status: 'False' });
  });

  it('a key whose object is gone (or being deleted) is forgotten and not requeued', async () => {
    let cached: ModelCascade | undefined = cascadeObject(SPEC);
    const { io } = memoryIO(cached);
    const ctl = new ThresholdController({ io, get: () => cached, log: () => undefined });
    expect(await ctl.reconcile(KEY)).toBeDefined();
    cached = { ...cached, metadata: { ...cached.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } };
    expect(await ctl.reconcile(KEY)).toBeUndefined();
    cached = undefined;
    expect(await ctl.reconcile(KEY)).toBeUndefined();
    expect(await ctl.runCycle(KEY)).toBeUndefined();
  });

  it('waits briefly for the cache to catch up with its own status write, then goes on with the cache', async () => {
    const { state, io } = memoryIO(cascadeObject(SPEC));
    let clock = 1_000_000;
    let cache = state.mc; // a cache that lags: it is not updated by our writes
    const ctl = new ThresholdController({ io, get: () => cache, now: () => clock, log: () => undefined });
    await ctl.reconcile(KEY); // writes status: resourceVersion 2 in the store, 1 in the cache
    expect(Number(state.mc.metadata.resourceVersion)).toBeGreaterThan(Number(cache.metadata.resourceVersion));
    const wait = await ctl.reconcile(KEY);
    expect(wait).toEqual({ requeueAfterMs: 200 });
    clock += 1500; // longer than half an interval: go on with what the cache has
    expect((await ctl.reconcile(KEY))?.requeueAfterMs).toBe(2000);
    cache = state.mc; // the watch delivered our write
    expect((await ctl.reconcile(KEY))?.result).toBeDefined();
  });

  it("the operator's WorkQueue runs the cycles, one at a time per key, again after RequeueAfter", async () => {
    const { state, io } = memoryIO(cascadeObject({ ...SPEC, control: { interval: '100ms', window: '1m' } }));
    let cycles = 0;
    const ctl = new ThresholdController({
      io: { ...io, listRouterPods: async (mc) => (cycles++, io.listRouterPods(mc)) },
      get: () => state.mc,
      log: () => undefined,
    });
    let inFlight = 0;
    let overlap = false;
    const q: WorkQueue = new WorkQueue(
      async (key) => {
        inFlight++;
        if (inFlight > 1) overlap = true;
        try {
          const out = await ctl.reconcile(key);
          if (out) q.addAfter(key, out.requeueAfterMs);
        } finally {
          inFlight--;
        }
      },
      { workers: 2, baseMs: 10, maxMs: 100 },
    );
    q.start();
    q.add(KEY);
    q.add(KEY);
    const until = Date.now() + 10_000;
    while (cycles < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await q.stop();
    expect(cycles).toBeGreaterThanOrEqual(3);
    expect(overlap).toBe(false);
  });
});
