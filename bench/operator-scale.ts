// Benchmark: N ModelCascades applied at once (one `kubectl apply`) against a real kube-apiserver + etcd
// (the e2e harness). Measures the time until every owned object exists and every status is written, and
// the operator's resident memory. The operator runs as its own process (`tinysaver operator`). Prints a
// table; asserts nothing.
//
//   npm run build && node dist/bench/operator-scale.js [--count 200] [--workers 4]

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { startCluster } from '../test/e2e/harness/cluster.js';
import { KubeClient } from '../operator/kube/client.js';
import { loadKubeconfigFile } from '../operator/kube/kubeconfig.js';
import { benchFlags } from './flags.js';

const BIN = fileURLToPath(new URL('../../bin/tinysaver.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const values = benchFlags('node dist/bench/operator-scale.js [flags]', 'Apply many ModelCascades at once against a real kube-apiserver; time to owned objects and status, operator RSS.', {
    count: { kind: 'string', default: '200', help: 'ModelCascades to apply' },
    workers: { kind: 'string', default: '4', help: 'operator reconcile workers' },
  }) as Record<string, string>;
  const count = Number(values.count);
  const workers = Number(values.workers);
  if (!Number.isInteger(count) || count < 1) throw new Error('--count: expected a positive integer');
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers: expected a positive integer');

  console.error('starting etcd + kube-apiserver ...');
  const cluster = await startCluster();
  const client = new KubeClient(loadKubeconfigFile(cluster.kubeconfig));
  let op: ReturnType<typeof spawn> | undefined;
  let opLog = '';
  try {
    for (const args of [['apply', '-f', 'crds/modelcascade.yaml'], ['wait', '--for', 'condition=Established', 'crd/modelcascades.tinysaver.io'], ['create', 'namespace', 'scale']]) {
      const r = await cluster.kubectl(args);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    }
    const proc = spawn(process.execPath, [BIN, 'operator', '--kubeconfig', cluster.kubeconfig, '--lease-namespace', 'default',
      '--metrics-host', '127.0.0.1', '--metrics-port', '0', '--workers', String(workers)], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    op = proc;
    proc.stderr!.on('data', (c: Buffer) => (opLog += c.toString()));
    const leadDeadline = Date.now() + 30_000;
    while (!opLog.includes('"controllers started"')) {
      if (Date.now() > leadDeadline || proc.exitCode !== null) throw new Error(`operator did not start:\n${opLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const idleRss = rssMiB(proc.pid!);
    let peakRss = idleRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMiB(proc.pid!) || 0)), 100);

    const docs = Array.from({ length: count }, (_, i) => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: c${i}, namespace: scale}
spec:
  saver: {model: /models/saver.onnx, replicas: 2}
  base: {model: pvc://models/base-${i}.onnx}
  threshold: {initial: 0.9, mode: adaptive}
`).join('---\n');
    const t0 = performance.now();
    const applied = await cluster.kubectl(['apply', '-f', '-'], docs);
    if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
    const tApplied = performance.now();
    let tObjects = NaN;
    let tStatus = NaN;
    const ns = '/namespaces/scale';
    let lastReport = 0;
    while (Number.isNaN(tStatus) || Number.isNaN(tObjects)) {
      if (performance.now() - t0 > 180_000) throw new Error('not converged after 3 minutes');
      if (Math.floor((performance.now() - t0) / 10_000) !== lastReport) {
        lastReport = Math.floor((performance.now() - t0) / 10_000);
        const deps = await client.get(`/apis/apps/v1${ns}/deployments`);
        console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${deps.items.length}/${2 * count} deployments`);
      }
      if (Number.isNaN(tObjects)) {
        const [deps, svcs, cms] = await Promise.all([
          client.get(`/apis/apps/v1${ns}/deployments`),
          client.get(`/api/v1${ns}/services`),
          client.get(`/api/v1${ns}/configmaps`, { query: { labelSelector: 'tinysaver.io/cascade' } }),
        ]);
        if (deps.items.length === 2 * count && svcs.items.length === 2 * count && cms.items.length === count) tObjects = performance.now();
      }
      const mcs = await client.get(`/apis/tinysaver.io/v1alpha1${ns}/modelcascades`);
      if (mcs.items.length === count && mcs.items.every((m: any) => m.status?.observedGeneration === 1)) tStatus = performance.now();
      await new Promise((r) => setTimeout(r, 200));
    }
    clearInterval(sampler);
    const metricsPort = /"http":"127\.0\.0\.1:(\d+)"/.exec(opLog)?.[1];
    const metrics = metricsPort ? await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text() : '';
    const m = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    const rows: [string, string][] = [
      ['ModelCascades', String(count)],
      ['owned objects', `${5 * count} (2 Deployments, 2 Services, 1 ConfigMap each)`],
      ['operator workers', String(workers)],
      ['kubectl apply returned', `${((tApplied - t0) / 1000).toFixed(2)} s`],
      ['all owned objects exist', `${((tObjects - t0) / 1000).toFixed(2)} s (${((tObjects - tApplied) / 1000).toFixed(2)} s after kubectl returned)`],
      ['all statuses written', `${((tStatus - t0) / 1000).toFixed(2)} s (${((tStatus - tApplied) / 1000).toFixed(2)} s after kubectl returned)`],
      ['reconciles (success / error)', `${m(/tinysaver_operator_reconcile_total\{result="success"\} (\S+)/)} / ${m(/tinysaver_operator_reconcile_total\{result="error"\} (\S+)/) || 0}`],
      ['operator RSS idle / peak', `${idleRss.toFixed(0)} MiB / ${peakRss.toFixed(0)} MiB`],
      ['operator RSS after', `${rssMiB(proc.pid!).toFixed(0)} MiB`],
      ['machine load (1 min avg) / cores', `${loadavg()[0].toFixed(1)} / ${cpus().length}`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    console.log(`\noperator scale benchmark (real kube-apiserver + etcd on this machine)\n`);
    for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  } finally {
    if (op && op.exitCode === null) op.kill('SIGKILL');
    if (process.env.OPERATOR_SCALE_LOG) (await import('node:fs')).writeFileSync(process.env.OPERATOR_SCALE_LOG, opLog);
    client.close();
    await cluster.stop();
  }
}

main().catch((err) => {
  console.error(`operator-scale: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
