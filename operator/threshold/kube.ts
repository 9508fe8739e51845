// The threshold controller's Kubernetes I/O, behind a small interface so the loop is testable and the
// bench can run the same loop without a cluster.
// - Status: server-side apply on the status subresource with its OWN field manager, so the reconciler's
//   status apply (Ready/Progressing/...) and this one never remove each other's fields.
// - ConfigMap: the reconciler's own builder (buildRouterConfigMap) and field manager, so the object is
//   byte-for-byte what the next reconcile would write: no fight, no pod restart (routers poll the file).
// - Router pods: annotated with the new ConfigMap content's digest, so the kubelet refreshes the mounted
//   file at once (operator/reconcile/router-nudge.ts).

import { API_VERSION, KIND, PLURAL, type ModelCascade } from '../api/model-cascade.js';
import { type KubeClient, resourcePath } from '../kube/client.js';
import { buildRouterConfigMap } from '../reconcile/builders/router-config.js';
import type { EventRecorder } from '../reconcile/events.js';
import { nudgeRouterPods } from '../reconcile/router-nudge.js';
import { CASCADE_LABEL, COMPONENT_LABEL, names } from '../reconcile/builders/labels.js';
import type { PodLike } from '../telemetry/scrape.js';
import type { ThresholdEvent, ThresholdStatus } from './status.js';

export const STATUS_FIELD_MANAGER = 'tinysaver-threshold-controller';

export interface ControllerKube {
  /** the cascade's router pods (the saver Deployment's pods carry the router sidecar) */
  listRouterPods(mc: ModelCascade): Promise<PodLike[]>;
  /** apply the controller's status fields; returns the updated object */
  applyStatus(mc: ModelCascade, status: ThresholdStatus): Promise<ModelCascade>;
  /** re-apply the router ConfigMap from the (updated) object */
  applyRouterConfig(mc: ModelCascade): Promise<void>;
  emitEvent(mc: ModelCascade, e: ThresholdEvent): Promise<void>;
}

export function routerPodSelector(mc: ModelCascade): string {
  return `${CASCADE_LABEL}=${mc.metadata.name},${COMPONENT_LABEL}=saver`;
}

/** routerPodSelector as a test on a pod from a cache */
function isRouterPod(p: PodLike, mc: ModelCascade): boolean {
  const labels = (p.metadata as { labels?: Record<string, string>; namespace?: string }).labels;
  return labels?.[CASCADE_LABEL] === mc.metadata.name && labels?.[COMPONENT_LABEL] === 'saver';
}

/**
 * Kubernetes I/O of the controller; Events go through the operator's EventRecorder (best effort).
 * `cachedPods`: the cascade's pods from the operator's pod informer (undefined while it has none synced):
 * a cycle then reads no pod list from the apiserver (1,000 cascades every 30 s were 33 lists a second).
 */
export function kubeControllerIO(
  client: KubeClient,
  events: EventRecorder,
  cachedPods?: (mc: ModelCascade) => PodLike[] | undefined,
): ControllerKube {
  const io: ControllerKube = {
    async listRouterPods(mc) {
      const cached = cachedPods?.(mc);
      if (cached) return cached.filter((p) => isRouterPod(p, mc));
      const list = await client.get<{ items?: PodLike[] }>(resourcePath('v1', 'pods', mc.metadata.namespace), {
        query: { labelSelector: routerPodSelector(mc) },
      });
      return Array.isArray(list?.items) ? list.items : [];
    },
    async applyStatus(mc, status) {
      const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name: mc.metadata.name, namespace: mc.metadata.namespace }, status };
      return client.apply<ModelCascade>(resourcePath(API_VERSION, PLURAL, mc.metadata.namespace, mc.metadata.name, 'status'), body, {
        fieldManager: STATUS_FIELD_MANAGER,
        force: true,
      });
    },
    async applyRouterConfig(mc) {
      const cm = buildRouterConfigMap(mc);
      await client.apply(resourcePath('v1', 'configmaps', mc.metadata.namespace, names.routerConfig(mc)), cm);
      await nudgeRouterPods(client, await io.listRouterPods(mc).catch(() => []), mc.metadata.name, cm.data ?? {});
    },
    async emitEvent(mc, e) {
      await events.record(mc, e.type, e.reason, e.message);
    },
  };
  return io;
}
