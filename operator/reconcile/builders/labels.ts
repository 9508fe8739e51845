// Labels and owner references shared by every object the operator creates for a ModelCascade.
import { API_VERSION, KIND, type ModelCascade, type OwnerReference } from '../../api/model-cascade.js';

export const CASCADE_LABEL = 'tinysaver.io/cascade';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
export const MANAGED_BY = 'tinysaver-operator';
export const CONFIG_HASH_ANNOTATION = 'tinysaver.io/config-hash';

export type Component = 'saver' | 'base' | 'router-config';

/** Selector labels: stable for the life of the Deployment (a Deployment's selector is immutable). */
export function selectorLabels(mc: ModelCascade, component: Component): Record<string, string> {
  return { [CASCADE_LABEL]: mc.metadata.name, [COMPONENT_LABEL]: component };
}

export function objectLabels(mc: ModelCascade, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'tinysaver',
    'app.kubernetes.io/instance': mc.metadata.name,
    'app.kubernetes.io/part-of': 'tinysaver',
    'app.kubernetes.io/managed-by': MANAGED_BY,
    ...selectorLabels(mc, component),
  };
}

/** Controller reference so the garbage collector deletes owned objects with the ModelCascade. */
export function ownerReference(mc: ModelCascade): OwnerReference {
  if (!mc.metadata.uid) throw new Error(`ModelCascade ${mc.metadata.name} has no metadata.uid (not read from the apiserver?)`);
  return { apiVersion: API_VERSION, kind: KIND, name: mc.metadata.name, uid: mc.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export function objectMeta(mc: ModelCascade, name: string, component: Component) {
  return {
    name,
    namespace: mc.metadata.namespace,
    labels: objectLabels(mc, component),
    ownerReferences: [ownerReference(mc)],
  };
}

export const names = {
  routerConfig: (mc: ModelCascade) => `${mc.metadata.name}-router`,
  saver: (mc: ModelCascade) => `${mc.metadata.name}-saver`,
  base: (mc: ModelCascade) => `${mc.metadata.name}-base`,
  service: (mc: ModelCascade) => mc.metadata.name,
  baseService: (mc: ModelCascade) => `${mc.metadata.name}-base`,
};
