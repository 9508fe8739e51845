// Restricted-profile security settings for every pod and container the operator creates.
import type { V1PodSecurityContext, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';

export const RUN_AS_USER = 65532;

export function podSecurityContext(): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    fsGroup: RUN_AS_USER,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function containerSecurityContext(): V1SecurityContext {
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
export const TMP_VOLUME: V1Volume = { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } };
export const TMP_MOUNT: V1VolumeMount = { name: 'tmp', mountPath: '/tmp' };
