// A router process on 127.0.0.1 registered as the cascade's router Pod (the e2e tier has no kubelet): the
// Pod object the operator's informer and telemetry scrape see, with the kubelet's part (Running, an IP,
// Ready) patched into its status.
import type { KubeClient } from '../../../operator/kube/client.js';
import { METRICS_PORT_ANNOTATION } from '../../../operator/telemetry/scrape.js';

export async function registerRouterPod(client: KubeClient, ns: string, cascade: string, name: string, url: string): Promise<void> {
  const u = new URL(url);
  await client.request('POST', `/api/v1/namespaces/${ns}/pods`, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        labels: { 'tinysaver.io/cascade': cascade, 'app.kubernetes.io/component': 'saver' },
        annotations: { [METRICS_PORT_ANNOTATION]: u.port },
      },
      spec: { containers: [{ name: 'router', image: 'ghcr.io/tinysaver/runtime:0.1.0' }] },
    },
  });
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await client.request('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        phase: 'Running',
        podIP: u.hostname,
        podIPs: [{ ip: u.hostname }],
        startTime: now,
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      },
    },
  });
}
