// After the router ConfigMap changes, annotate the cascade's router pods with a digest of its data. The
// kubelet refreshes a pod's ConfigMap volumes when it syncs the pod, which it does on any change to the pod
// object, else only every --sync-frequency (1 min by default, plus jitter): measured on the cluster tier,
// 61 s from status to router without this. The annotation is on the pods, not the pod template: nothing
// restarts. Used by the reconciler (spec changes) and the threshold controller (threshold/audit moves).
import { createHash } from 'node:crypto';
import { resourcePath, type KubeClient } from '../kube/client.js';
import { CASCADE_LABEL, COMPONENT_LABEL } from './builders/labels.js';

/** On router pods: digest of the router ConfigMap data they were last nudged for. */
export const ROUTER_CONFIG_ANNOTATION = 'tinysaver.io/router-config';

export interface NudgeablePod {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
}

/** Digest of a ConfigMap's data (keys sorted), the value of ROUTER_CONFIG_ANNOTATION. */
export function routerConfigDigest(data: Record<string, string>): string {
  const h = createHash('sha256');
  for (const k of Object.keys(data).sort()) h.update(`${k}\0${data[k]}\0`);
  return h.digest('hex').slice(0, 16);
}

/** The cascade's router pods (saver component) to nudge for `digest`: not terminating, not already annotated with it. */
export function podsToNudge(pods: readonly NudgeablePod[], cascade: string, digest: string): { name: string; namespace: string }[] {
  const out: { name: string; namespace: string }[] = [];
  for (const p of pods) {
    const m = p.metadata ?? {};
    if (!m.name || !m.namespace || m.deletionTimestamp) continue;
    if (m.labels?.[CASCADE_LABEL] !== cascade || m.labels?.[COMPONENT_LABEL] !== 'saver') continue;
    if (m.annotations?.[ROUTER_CONFIG_ANNOTATION] === digest) continue;
    out.push({ name: m.name, namespace: m.namespace });
  }
  return out;
}

/**
 * Best effort: a failed patch (no pods/patch permission, a pod just gone) only means the routers get the
 * new file at the kubelet's next periodic sync. Answers how many pods were patched.
 */
export async function nudgeRouterPods(
  client: KubeClient,
  pods: readonly NudgeablePod[],
  cascade: string,
  data: Record<string, string>,
): Promise<number> {
  const digest = routerConfigDigest(data);
  const results = await Promise.allSettled(
    podsToNudge(pods, cascade, digest).map((p) =>
      client.request('PATCH', resourcePath('v1', 'pods', p.namespace, p.name), {
        body: { metadata: { annotations: { [ROUTER_CONFIG_ANNOTATION]: digest } } },
        contentType: 'application/merge-patch+json',
      }),
    ),
  );
  return results.filter((r) => r.status === 'fulfilled').length;
}
