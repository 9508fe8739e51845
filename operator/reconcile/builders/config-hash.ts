// Config hash on pod templates: changes exactly when something the pods read only at start changes, so a
// new hash rolls the pods. The threshold and audit rate are hot-reloaded by the router from the ConfigMap,
// so they are left out: moving the threshold never restarts a pod.
import { createHash } from 'node:crypto';
import { stableStringify } from './json.js';

export function configHash(podTemplate: unknown, routerConfigWithoutHotFields: unknown): string {
  return createHash('sha256').update(stableStringify({ podTemplate, routerConfigWithoutHotFields })).digest('hex').slice(0, 16);
}
