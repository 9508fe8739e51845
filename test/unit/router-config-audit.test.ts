// The router ConfigMap's audit rate: status.auditRate (the threshold controller's choice) in mode adaptive,
// clamped to [spec.router.auditRate, spec.control.maxAuditRate]; spec.router.auditRate otherwise. A hot
// field: it never changes the pod template hash.
import { describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { CONFIG_HASH_ANNOTATION } from '../../operator/reconcile/builders/labels.js';
import { auditRateBounds, buildRouterConfigMap, effectiveAuditRate } from '../../operator/reconcile/builders/router-config.js';
import { buildSaverDeployment } from '../../operator/reconcile/builders/workloads.js';

function mc(spec: Partial<ModelCascade['spec']> = {}, status?: ModelCascade['status']): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'fashion', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: { saver: { model: 'file:///models/saver.onnx' }, base: { model: 'pvc://models/base/resnet.onnx' }, ...spec },
    status,
  };
}

const fileOf = (m: ModelCascade) => JSON.parse((buildRouterConfigMap(m) as any).data['threshold.json']);
const hashOf = (m: ModelCascade) => (buildSaverDeployment(m) as any).spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];

describe('router ConfigMap audit rate', () => {
  it('bounds: floor spec.router.auditRate, ceiling spec.control.maxAuditRate (default 0.25), never below the floor', () => {
    expect(auditRateBounds(mc())).toEqual({ min: 0.02, max: 0.25 });
    expect(auditRateBounds(mc({ router: { auditRate: 0.05 }, control: { maxAuditRate: 0.1 } }))).toEqual({ min: 0.05, max: 0.1 });
    expect(auditRateBounds(mc({ router: { auditRate: 0.3 }, control: { maxAuditRate: 0.1 } }))).toEqual({ min: 0.3, max: 0.3 });
  });

  it('adaptive: follows status.auditRate, clamped to the bounds', () => {
    const spec = { router: { auditRate: 0.02 }, control: { maxAuditRate: 0.2 }, threshold: { mode: 'adaptive' as const } };
    expect(fileOf(mc(spec, { threshold: 0.8, auditRate: 0.07 }))).toEqual({ threshold: 0.8, auditRate: 0.07 });
    expect(effectiveAuditRate(mc(spec, { auditRate: 0.9 }))).toBe(0.2);
    expect(effectiveAuditRate(mc(spec, { auditRate: 0.001 }))).toBe(0.02);
    expect(effectiveAuditRate(mc(spec, { auditRate: Number.NaN }))).toBe(0.02);
    expect(effectiveAuditRate(mc(spec))).toBe(0.02);
  });

  it('fixed and observe: spec.router.auditRate, whatever status says', () => {
    for (const mode of ['fixed', 'observe'] as const) {
      expect(fileOf(mc({ router: { auditRate: 0.04 }, threshold: { mode, initial: 0.9 } }, { threshold: 0.7, auditRate: 0.2 }))).toEqual({
        threshold: 0.9,
        auditRate: 0.04,
      });
    }
  });

  it('a new status.auditRate changes the ConfigMap but not the pod template hash', () => {
    const spec = { threshold: { mode: 'adaptive' as const } };
    const a = mc(spec, { threshold: 0.8, auditRate: 0.03 });
    const b = mc(spec, { threshold: 0.8, auditRate: 0.12 });
    expect(fileOf(a).auditRate).toBe(0.03);
    expect(fileOf(b).auditRate).toBe(0.12);
    expect(hashOf(a)).toBe(hashOf(b));
  });
});
