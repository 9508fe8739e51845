// Every object a ModelCascade owns, in apply order (config before the pods that mount it).
import type { V1ConfigMap, V1Deployment, V2HorizontalPodAutoscaler, V1Service } from '@kubernetes/client-node';
import { withDefaults, type DefaultedSpec, type ModelCascade } from '../../api/model-cascade.js';
import { buildRouterConfigMap } from './router-config.js';
import { buildBaseDeployment, buildSaverDeployment } from './workloads.js';
import { buildBaseService, buildRouterService } from './services.js';
import { buildBaseAutoscaler, buildSaverAutoscaler } from './autoscalers.js';

/** Every kind a ModelCascade owns, as client-node's types (type-only: nothing is loaded at run time). */
export type OwnedObject = V1ConfigMap | V1Deployment | V1Service | V2HorizontalPodAutoscaler;

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

/** Every owned object of one cascade; the spec is defaulted once here and shared by every builder. */
export function buildOwnedObjects(mc: ModelCascade, d: DefaultedSpec = withDefaults(mc.spec)): OwnedObject[] {
  const all: (OwnedObject | null)[] = [
    buildRouterConfigMap(mc, d),
    buildBaseDeployment(mc, d),
    buildBaseService(mc, d),
    buildSaverDeployment(mc, d),
    buildRouterService(mc),
    buildSaverAutoscaler(mc, d),
    buildBaseAutoscaler(mc, d),
  ];
  return all.filter((o): o is OwnedObject => o !== null);
}

export { auditRateBounds, effectiveAuditRate, effectiveThreshold, thresholdFileContent } from './router-config.js';
export { CASCADE_LABEL, CONFIG_HASH_ANNOTATION, MANAGED_BY, names } from './labels.js';
