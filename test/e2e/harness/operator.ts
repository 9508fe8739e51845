// Helpers for e2e tests: run the operator in-process against the test cluster, wait for conditions,
// and play the missing Deployment controller by patching Deployment status.
import { randomBytes } from 'node:crypto';
import { Operator } from '../../../operator/operator.js';
import { KubeClient } from '../../../operator/kube/client.js';
import { loadKubeconfigFile, type ClusterAccess } from '../../../operator/kube/kubeconfig.js';
import type { Cluster } from './cluster.js';

export interface OperatorHandle {
  op: Operator;
  identity: string;
  logs: string[];
  stop: () => Promise<void>;
}

export async function startOperator(
  cluster: Cluster,
  over: {
    identity?: string;
    leaseName?: string;
    leaseNamespace?: string;
    leaseDurationSeconds?: number;
    workers?: number;
    access?: ClusterAccess;
  } = {},
): Promise<OperatorHandle> {
  const logs: string[] = [];
  const identity = over.identity ?? `op-${randomBytes(3).toString('hex')}`;
  const op = new Operator({
    cluster: over.access ?? loadKubeconfigFile(cluster.kubeconfig),
    identity,
    leaseNamespace: over.leaseNamespace ?? 'default',
    leaseName: over.leaseName ?? 'tinysaver-operator',
    leaseDurationSeconds: over.leaseDurationSeconds ?? 4,
    retryPeriodMs: 250,
    workers: over.workers ?? 4,
    httpHost: '127.0.0.1',
    httpPort: 0,
    resyncMs: 300_000,
    log: (level, msg, extra) => {
      logs.push(`${level} ${msg} ${extra ? JSON.stringify(extra) : ''}`);
      if (logs.length > 2000) logs.shift();
    },
  });
  await op.start();
  let stopped = false;
  return {
    op,
    identity,
    logs,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await op.stop();
    },
  };
}

export function adminClient(cluster: Cluster): KubeClient {
  return new KubeClient(loadKubeconfigFile(cluster.kubeconfig));
}

/** Polls `fn` until it returns a truthy value (returned) or throws the last error after timeoutMs. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Does what the Deployment controller would once all pods are up: status shows a full, current rollout. */
export async function markDeploymentReady(client: KubeClient, ns: string, name: string): Promise<void> {
  const d = await client.get(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
  const n = d.spec.replicas ?? 1;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await client.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: {
      status: {
        observedGeneration: d.metadata.generation,
        replicas: n,
        updatedReplicas: n,
        readyReplicas: n,
        availableReplicas: n,
        conditions: [
          {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            message: 'ok',
            lastUpdateTime: now,
            lastTransitionTime: now,
          },
          {
            type: 'Progressing',
            status: 'True',
            reason: 'NewReplicaSetAvailable',
            message: 'ok',
            lastUpdateTime: now,
            lastTransitionTime: now,
          },
        ],
      },
    },
  });
}

export async function createNamespace(cluster: Cluster, name: string): Promise<void> {
  const r = await cluster.kubectl(['create', 'namespace', name]);
  if (r.code !== 0) throw new Error(`kubectl create namespace ${name}: ${r.stderr}`);
}

export async function installCrd(cluster: Cluster): Promise<void> {
  const r = await cluster.kubectl(['apply', '-f', 'crds/modelcascade.yaml']);
  if (r.code !== 0) throw new Error(`kubectl apply CRD: ${r.stderr}`);
  for (let attempt = 0; ; attempt++) {
    const w = await cluster.kubectl(['wait', '--for', 'condition=Established', '--timeout', '60s', 'crd/modelcascades.tinysaver.io']);
    if (w.code === 0) return;
    // kubectl wait reads status.conditions before the apiserver has written any: "accessor error: <nil>"
    if (!/accessor error/.test(w.stderr) || attempt >= 20) throw new Error(`CRD not established: ${w.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function kubectlJson(cluster: Cluster, args: string[]): Promise<any> {
  const r = await cluster.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}
