// Restricted-profile security settings for every pod and container the operator creates.
import type { JsonObject } from './json.js';

export const RUN_AS_USER = 65532;

export function podSecurityContext(): JsonObject {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    fsGroup: RUN_AS_USER,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function containerSecurityContext(): JsonObject {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Read-only root FS: onnxruntime and node still want a writable /tmp. */
export const TMP_VOLUME: JsonObject = { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } };
export const TMP_MOUNT: JsonObject = { name: 'tmp', mountPath: '/tmp' };
