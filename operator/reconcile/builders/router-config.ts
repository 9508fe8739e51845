// ConfigMap <name>-router: the threshold file the router sidecar polls (hot reload, no pod restart).
//
// Seam for the threshold controller (issue 5, operator/threshold/): in mode adaptive the controller owns
// status.threshold and reconcile copies it into the ConfigMap; reconcile never picks a threshold itself
// beyond spec.threshold.initial, so the two never fight.
import type { ModelCascade } from '../../api/model-cascade.js';
import { withDefaults } from '../../api/model-cascade.js';
import { objectMeta, names } from './labels.js';
import type { JsonObject } from './json.js';

export const THRESHOLD_FILE_KEY = 'threshold.json';
export const ROUTER_CONFIG_DIR = '/etc/tinysaver/router';

/**
 * Threshold the routers should use now: status.threshold (written by the threshold controller) in mode
 * adaptive, clamped to [min, max]; spec.threshold.initial otherwise or before the controller has written one.
 */
export function effectiveThreshold(mc: ModelCascade): number {
  const t = withDefaults(mc.spec).threshold;
  const fromStatus = mc.status?.threshold;
  if (t.mode !== 'adaptive' || typeof fromStatus !== 'number' || !Number.isFinite(fromStatus)) return t.initial;
  return Math.min(t.max, Math.max(t.min, fromStatus));
}

export function thresholdFileContent(mc: ModelCascade): string {
  return JSON.stringify({ threshold: effectiveThreshold(mc), auditRate: withDefaults(mc.spec).router.auditRate });
}

export function buildRouterConfigMap(mc: ModelCascade): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(mc, names.routerConfig(mc), 'router-config'),
    data: { [THRESHOLD_FILE_KEY]: thresholdFileContent(mc) },
  };
}
