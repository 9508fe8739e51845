// ConfigMap <name>-router: the threshold file the router sidecar polls (hot reload, no pod restart).
//
// Seam for the threshold controller (issue 5, operator/threshold/): in mode adaptive the controller owns
// status.threshold and reconcile copies it into the ConfigMap; reconcile never picks a threshold itself
// beyond spec.threshold.initial, so the two never fight. The audit rate works the same way (status.auditRate).
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { DefaultedSpec, ModelCascade } from '../../api/model-cascade.js';
import { withDefaults } from '../../api/model-cascade.js';
import { objectMeta, names } from './labels.js';

export const THRESHOLD_FILE_KEY = 'threshold.json';
export const ROUTER_CONFIG_DIR = '/etc/tinysaver/router';

/**
 * Threshold the routers should use now: status.threshold (written by the threshold controller) in mode
 * adaptive, clamped to [min, max]; spec.threshold.initial otherwise or before the controller has written one.
 */
export function effectiveThreshold(mc: ModelCascade, d: DefaultedSpec = withDefaults(mc.spec)): number {
  const t = d.threshold;
  const fromStatus = mc.status?.threshold;
  if (t.mode !== 'adaptive' || typeof fromStatus !== 'number' || !Number.isFinite(fromStatus)) return t.initial;
  return Math.min(t.max, Math.max(t.min, fromStatus));
}

/** The audit-rate range of mode adaptive: [spec.router.auditRate, spec.control.maxAuditRate] (a ceiling below the floor is the floor). */
export function auditRateBounds(mc: ModelCascade, d: DefaultedSpec = withDefaults(mc.spec)): { min: number; max: number } {
  const min = d.router.auditRate;
  const ceiling = d.control.maxAuditRate;
  return { min, max: Math.max(min, ceiling) };
}

/**
 * Audit rate the routers should use now: status.auditRate (written by the threshold controller) in mode
 * adaptive, clamped to auditRateBounds; spec.router.auditRate otherwise or before the controller wrote one.
 */
export function effectiveAuditRate(mc: ModelCascade, d: DefaultedSpec = withDefaults(mc.spec)): number {
  const floor = d.router.auditRate;
  const fromStatus = mc.status?.auditRate;
  if (d.threshold.mode !== 'adaptive' || typeof fromStatus !== 'number' || !Number.isFinite(fromStatus)) return floor;
  const b = auditRateBounds(mc, d);
  return Math.min(b.max, Math.max(b.min, fromStatus));
}

/**
 * The threshold file. With spec.router.decisionLog it also carries the log's sample rate
 * (`decisionSampleRate`): the router re-reads this file, so changing the rate needs no pod restart.
 */
export function thresholdFileContent(mc: ModelCascade, d: DefaultedSpec = withDefaults(mc.spec)): string {
  const doc: Record<string, number> = { threshold: effectiveThreshold(mc, d), auditRate: effectiveAuditRate(mc, d) };
  if (d.router.decisionLog) doc.decisionSampleRate = d.router.decisionLog.sampleRate;
  return JSON.stringify(doc);
}

export function buildRouterConfigMap(mc: ModelCascade, d: DefaultedSpec = withDefaults(mc.spec)): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(mc, names.routerConfig(mc), 'router-config'),
    data: { [THRESHOLD_FILE_KEY]: thresholdFileContent(mc, d) },
  };
}
