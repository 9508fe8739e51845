// Every object a ModelCascade owns, in apply order (config before the pods that mount it).
import type { ModelCascade } from '../../api/model-cascade.js';
import { buildRouterConfigMap } from './router-config.js';
import { buildBaseDeployment, buildSaverDeployment } from './workloads.js';
import { buildBaseService, buildRouterService } from './services.js';
import { buildBaseAutoscaler, buildSaverAutoscaler } from './autoscalers.js';
import type { JsonObject } from './json.js';

export interface OwnedKind {
  apiVersion: string;
  kind: string;
  /** REST collection path segment after the namespace, e.g. "apps/v1" + "deployments". */
  plural: string;
}

export const OWNED_KINDS: OwnedKind[] = [
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services' },
  { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers' },
];

export function buildOwnedObjects(mc: ModelCascade): JsonObject[] {
  const all = [
    buildRouterConfigMap(mc),
    buildBaseDeployment(mc),
    buildBaseService(mc),
    buildSaverDeployment(mc),
    buildRouterService(mc),
    buildSaverAutoscaler(mc),
    buildBaseAutoscaler(mc),
  ];
  return all.filter((o): o is JsonObject => o !== null);
}

export { auditRateBounds, effectiveAuditRate, effectiveThreshold, thresholdFileContent } from './router-config.js';
export { CASCADE_LABEL, CONFIG_HASH_ANNOTATION, MANAGED_BY, names } from './labels.js';
