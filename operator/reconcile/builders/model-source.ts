// Turns a model URI from the spec into what a pod needs to see the file: a path inside the container plus
// the volumes, mounts and init containers that put it there.
//   pvc://CLAIM/PATH  -> PVC CLAIM mounted read-only at /models/<role>, file at /models/<role>/PATH
//   http(s)://URL     -> init container `tinysaver fetch-model URL /models/<role>/model.onnx` into an emptyDir
//   file:///PATH, /PATH -> a file baked into the image; nothing to mount
import type { V1Container, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';

export type ModelRole = 'saver' | 'base';

export interface ModelSource {
  kind: 'pvc' | 'http' | 'image';
  /** Path of the .onnx file inside the serving container. */
  path: string;
  volumes: V1Volume[];
  /** Mounts for the serving container (read-only). */
  mounts: V1VolumeMount[];
  initContainers: V1Container[];
}

export interface FetchContext {
  image: string;
  imagePullPolicy: string;
  securityContext: V1SecurityContext;
  sha256?: string;
}

const PVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class ModelUriError extends Error {}

export function modelSource(uri: string, role: ModelRole, fetch: FetchContext): ModelSource {
  const dir = `/models/${role}`;
  const volumeName = `${role}-model`;
  if (uri.startsWith('pvc://')) {
    const rest = uri.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const claim = slash > 0 ? rest.slice(0, slash) : '';
    const sub = slash > 0 ? rest.slice(slash + 1) : '';
    if (!PVC_NAME.test(claim) || claim.length > 253)
      throw new ModelUriError(`${role}.model: "${uri}" has no valid claim name (pvc://CLAIM/PATH)`);
    if (!sub || sub.split('/').some((p) => p === '..' || p === '')) {
      throw new ModelUriError(
        `${role}.model: "${uri}" needs a relative file path inside the claim without "..", e.g. pvc://${claim}/models/x.onnx`,
      );
    }
    return {
      kind: 'pvc',
      path: `${dir}/${sub}`,
      volumes: [{ name: volumeName, persistentVolumeClaim: { claimName: claim, readOnly: true } }],
      mounts: [{ name: volumeName, mountPath: dir, readOnly: true }],
      initContainers: [],
    };
  }
  if (uri.startsWith('http://') || uri.startsWith('https://')) {
    const dest = `${dir}/model.onnx`;
    const args = ['fetch-model', uri, dest];
    if (fetch.sha256) args.push('--sha256', fetch.sha256);
    return {
      kind: 'http',
      path: dest,
      volumes: [{ name: volumeName, emptyDir: {} }],
      mounts: [{ name: volumeName, mountPath: dir, readOnly: true }],
      initContainers: [
        {
          name: `fetch-${role}-model`,
          image: fetch.image,
          imagePullPolicy: fetch.imagePullPolicy,
          args,
          // a failed fetch's error line becomes the termination message: Degraded quotes it
          terminationMessagePolicy: 'FallbackToLogsOnError',
          volumeMounts: [{ name: volumeName, mountPath: dir }],
          securityContext: fetch.securityContext,
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
        },
      ],
    };
  }
  const path = uri.startsWith('file://') ? uri.slice('file://'.length) : uri;
  if (!path.startsWith('/') || path.split('/').includes('..')) {
    throw new ModelUriError(`${role}.model: "${uri}" must be pvc://CLAIM/PATH, http(s)://URL, file:///PATH or an absolute /PATH`);
  }
  return { kind: 'image', path, volumes: [], mounts: [], initContainers: [] };
}
