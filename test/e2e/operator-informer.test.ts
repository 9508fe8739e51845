// The informer against a real kube-apiserver whose watch history expires quickly: the watch cache is off
// (watches go to etcd) and etcd is compacted every second, so re-watching from an old resourceVersion gets
// 410 Gone / Expired. The informer must relist and keep its cache exact (adds and deletes seen).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './harness/cluster.js';
import { adminClient, createNamespace, eventually } from './harness/operator.js';
import { Informer, type InformerEvent, type KubeObject } from '../../operator/kube/informer.js';
import type { KubeClient } from '../../operator/kube/client.js';

let cluster: Cluster;
let client: KubeClient;

beforeAll(async () => {
  cluster = await startCluster({ apiserverArgs: ['--watch-cache=false', '--etcd-compaction-interval=1s'] });
  client = adminClient(cluster);
  await createNamespace(cluster, 'inf');
}, 600_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

const cm = (name: string, labels: Record<string, string>, data: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'inf', labels },
  data,
});

describe('Informer', () => {
  it('relists after its resourceVersion is compacted away and keeps the cache exact', async () => {
    await client.request('POST', '/api/v1/namespaces/inf/configmaps', { body: cm('watched-0', { watched: 'yes' }) });
    const events: string[] = [];
    const relists: string[] = [];
    const abort = new AbortController();
    const inf = new Informer<KubeObject>(client, {
      name: 'configmaps',
      path: '/api/v1/namespaces/inf/configmaps',
      labelSelector: 'watched=yes',
      watchTimeoutSeconds: 1,
      onEvent: (type: InformerEvent, o) => events.push(`${type} ${o.metadata.name}`),
      onRelist: (reason) => relists.push(reason),
    });
    inf.start(abort.signal);
    await inf.waitForSync();
    expect(inf.list().map((o) => o.metadata.name)).toEqual(['watched-0']);

    // Move etcd's revision on with objects the informer does not select; compaction runs every second, so
    // the informer's last resourceVersion (from its list) falls behind the compacted revision.
    await client.request('POST', '/api/v1/namespaces/inf/configmaps', { body: cm('noise', {}) });
    for (let i = 0; i < 12; i++) {
      await client.apply('/api/v1/namespaces/inf/configmaps/noise', cm('noise', {}, { i: String(i) }));
      await new Promise((r) => setTimeout(r, 300));
    }
    await eventually('a relist after expiry', async () => relists.length > 0, 20_000);

    await client.request('POST', '/api/v1/namespaces/inf/configmaps', { body: cm('watched-1', { watched: 'yes' }) });
    await client.request('DELETE', '/api/v1/namespaces/inf/configmaps/watched-0');
    await eventually(
      'cache follows',
      async () =>
        inf
          .list()
          .map((o) => o.metadata.name)
          .join(',') === 'watched-1',
      20_000,
    );
    expect(events).toContain('ADDED watched-1');
    expect(events).toContain('DELETED watched-0');
    expect(inf.get('inf/noise')).toBeUndefined();
    abort.abort();
    await inf.stopped();
  });
});
