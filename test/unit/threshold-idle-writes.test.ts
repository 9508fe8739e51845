// An idle cascade (no router pods, nothing changing) costs the apiserver no status write per refresh: the
// threshold controller skips a refresh whose status the cached object already shows (bench/operator-scale:
// 1,000 idle cascades).
import { describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { ThresholdController } from '../../operator/threshold/controller.js';

describe('threshold controller, idle cascade', () => {
  it('writes status once, then not again on later refreshes while nothing changes', async () => {
    let mc: ModelCascade = {
      apiVersion: 'tinysaver.io/v1alpha1',
      kind: 'ModelCascade',
      metadata: { name: 'c', namespace: 'ns', uid: 'u', generation: 1, resourceVersion: '10' },
      spec: { saver: { model: '/m/s.onnx' }, base: { model: '/m/b.onnx' }, threshold: { initial: 0.9, mode: 'adaptive' } },
    };
    let now = Date.parse('2026-01-01T00:00:00Z');
    let writes = 0;
    const tc = new ThresholdController({
      now: () => now,
      log: () => {},
      get: () => mc,
      io: {
        listRouterPods: async () => [],
        applyStatus: async (m, status) => {
          writes++;
          // what the apiserver answers and the cache then holds (JSON round trip, like the wire)
          mc = JSON.parse(
            JSON.stringify({ ...m, metadata: { ...m.metadata, resourceVersion: String(10 + writes) }, status: { ...m.status, ...status } }),
          );
          return mc;
        },
        applyRouterConfig: async () => {},
        emitEvent: async () => {},
      },
    });
    for (let i = 0; i < 8; i++) {
      await tc.reconcile('ns/c');
      now += 31_000; // past the refresh period (2 intervals) every second cycle
    }
    expect(writes).toBe(1);
  });
});
