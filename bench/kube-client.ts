// Benchmark: does taking credentials from ClusterAccess per request (kubeconfig.ts) cost the operator's
// REST client request rate or latency? GETs of one ConfigMap against a real kube-apiserver (the e2e
// harness), at concurrency 1 and 16, through:
//   operator client, token      KubeClient + a token kubeconfig (per-request headers, cached agent)
//   operator client, exec       KubeClient + an exec-plugin kubeconfig (cached ExecCredential)
//   minimal client              fixed header, one keep-alive agent: what the client did before (the reference)
//   new agent per request       what @kubernetes/client-node 1.4's applyToHTTPSOptions gives per call
// Prints a table; asserts nothing.
//
//   npm run build && node dist/bench/kube-client.js [--requests 2000]

import { chmod, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../test/e2e/harness/cluster.js';
import { KubeClient } from '../operator/kube/client.js';
import { loadKubeconfigFile } from '../operator/kube/kubeconfig.js';
import { MinimalKube, pool } from './minimal-kube.js';
import { benchFlags } from './flags.js';

interface Row {
  name: string;
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
}

async function measure(name: string, concurrency: number, n: number, get: () => Promise<unknown>): Promise<Row> {
  for (let i = 0; i < 50; i++) await get(); // warm: connections, JIT
  const lat: number[] = [];
  const t0 = performance.now();
  await pool(
    Array.from({ length: n }, () => async () => {
      const s = performance.now();
      await get();
      lat.push(performance.now() - s);
    }),
    concurrency,
  );
  const dt = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { name, concurrency, rps: n / dt, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]! };
}

async function main(): Promise<void> {
  const values = benchFlags(
    'node dist/bench/kube-client.js [flags]',
    'Request rate and latency of the operator REST client with per-request credentials vs a minimal client.',
    {
      requests: { kind: 'string', default: '2000', help: 'GETs per row' },
    },
  ) as Record<string, string>;
  const n = Number(values.requests);
  if (!Number.isInteger(n) || n < 1) throw new Error('--requests: expected a positive integer');
  console.error('starting etcd + kube-apiserver ...');
  const cluster = await startCluster();
  const closers: (() => void)[] = [];
  try {
    const r = await cluster.kubectl(['create', 'configmap', 'bench', '--from-literal=k=v']);
    if (r.code !== 0) throw new Error(r.stderr);
    const path = '/api/v1/namespaces/default/configmaps/bench';
    const script = join(cluster.dir, 'token.sh');
    await writeFile(
      script,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${cluster.token}","expirationTimestamp":"2999-01-01T00:00:00Z"}}'\n`,
    );
    await chmod(script, 0o755);
    const execCfg = join(cluster.dir, 'exec.kubeconfig');
    await writeFile(
      execCfg,
      `apiVersion: v1
kind: Config
current-context: c
clusters: [{name: e, cluster: {server: "${cluster.server}", certificate-authority-data: ${cluster.ca.toString('base64')}}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "${script}"}}}]
contexts: [{name: c, context: {cluster: e, user: u}}]
`,
    );
    const tokenClient = new KubeClient(loadKubeconfigFile(cluster.kubeconfig));
    const execClient = new KubeClient(loadKubeconfigFile(execCfg));
    const minimal = new MinimalKube(cluster.server, cluster.token, cluster.ca);
    const fresh = new MinimalKube(cluster.server, cluster.token, cluster.ca, 64, true);
    closers.push(
      () => tokenClient.close(),
      () => execClient.close(),
      () => minimal.close(),
      () => fresh.close(),
    );
    const rows: Row[] = [];
    for (const c of [1, 16]) {
      rows.push(await measure('minimal client (reference)', c, n, () => minimal.request('GET', path)));
      rows.push(await measure('operator client, token', c, n, () => tokenClient.get(path)));
      rows.push(await measure('operator client, exec plugin', c, n, () => execClient.get(path)));
      rows.push(await measure('new agent per request', c, Math.min(n, 500), () => fresh.request('GET', path)));
    }
    console.log(`\nREST client: GET one ConfigMap, real kube-apiserver on 127.0.0.1 (${n} requests per row)\n`);
    console.log(
      `  ${'client'.padEnd(30)} ${'in flight'.padStart(9)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`,
    );
    for (const row of rows)
      console.log(
        `  ${row.name.padEnd(30)} ${String(row.concurrency).padStart(9)} ${row.rps.toFixed(0).padStart(8)} ${row.p50.toFixed(2).padStart(8)} ${row.p99.toFixed(2).padStart(8)}`,
      );
    console.log(`\n  machine load (1 min avg) / cores: ${loadavg()[0].toFixed(1)} / ${cpus().length}`);
  } finally {
    for (const c of closers) c();
    await cluster.stop();
  }
}

main().catch((err) => {
  console.error(`kube-client: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
