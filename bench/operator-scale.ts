// Benchmark: N ModelCascades applied at once (one `kubectl apply`) against a real kube-apiserver + etcd
// (the e2e harness). Measures the time until every owned object exists and every status is written, the
// operator's resident memory, and its CPU once all N cascades are idle. The operator runs as its own
// process (`tinysaver operator`).
//
// Then the floor: the operator is stopped, the same N cascades are applied again into a fresh namespace,
// and a minimal client (bench/minimal-kube.ts: one keep-alive agent, no informers, no queue) sends the
// same 5 objects per cascade (server-side apply, built by the same builders beforehand) and the same N
// status applies straight to the apiserver, at each --floor-concurrency. The operator's time after kubectl
// returned is compared with the best floor, and so is its time from the apply's start (kubectl shares the
// apiserver with the operator, so an operator that keeps up slows kubectl and has little left when it
// returns). Prints tables; asserts nothing. README "Scale" has the measured numbers.
//
//   npm run build && node dist/bench/operator-scale.js [--count 200] [--workers 4] [--floor-concurrency 16,64]
//     [--cpu-prof DIR]   (the operator's V8 profile; it slows the operator, so not for the idle CPU figure)

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { startCluster, type Cluster } from '../test/e2e/harness/cluster.js';
import { KubeClient, resourcePath, FIELD_MANAGER } from '../operator/kube/client.js';
import { loadKubeconfigFile } from '../operator/kube/kubeconfig.js';
import { buildOwnedObjects } from '../operator/reconcile/builders/index.js';
import { computeConditions, type DeploymentLike } from '../operator/reconcile/status.js';
import { effectiveThreshold } from '../operator/reconcile/builders/router-config.js';
import { API_VERSION, KIND, PLURAL, type ModelCascade } from '../operator/api/model-cascade.js';
import { MinimalKube, pool } from './minimal-kube.js';
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

/** CPU seconds (user + system) the process has used, from /proc (clock ticks are 100 Hz on Linux). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

const PLURALS: Record<string, string> = {
  ConfigMap: 'configmaps',
  Deployment: 'deployments',
  Service: 'services',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers',
};

function cascadesYaml(count: number, ns: string): string {
  return Array.from(
    { length: count },
    (_, i) => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: c${i}, namespace: ${ns}}
spec:
  saver: {model: /models/saver.onnx, replicas: 2}
  base: {model: pvc://models/base-${i}.onnx}
  threshold: {initial: 0.9, mode: adaptive}
`,
  ).join('---\n');
}

interface FloorRow {
  concurrency: number;
  kubectlS: number;
  objectsS: number;
  totalS: number;
  errors: number;
}

/**
 * The floor at one concurrency: kubectl applies the cascades into a fresh namespace (no operator running),
 * their manifests are built, then the timer runs over the 5 applies per cascade and the status applies.
 */
async function floor(cluster: Cluster, count: number, concurrency: number, ns: string): Promise<FloorRow> {
  for (const args of [['create', 'namespace', ns]]) {
    const r = await cluster.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  const k0 = performance.now();
  const applied = await cluster.kubectl(['apply', '-f', '-'], cascadesYaml(count, ns));
  if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
  const kubectlS = (performance.now() - k0) / 1000;
  const mk = new MinimalKube(cluster.server, cluster.token, cluster.ca, concurrency);
  try {
    const list = await mk.request('GET', resourcePath(API_VERSION, PLURAL, ns));
    const cascades = list.body.items as ModelCascade[];
    if (cascades.length !== count) throw new Error(`floor: ${cascades.length} cascades listed, expected ${count}`);
    const work = cascades.map((mc) => ({ mc, objects: buildOwnedObjects(mc), deployments: [] as DeploymentLike[] }));
    let errors = 0;
    const guard = async (f: () => Promise<void>) => {
      try {
        await f();
      } catch (err) {
        errors++;
        if (errors <= 3) console.error(`  floor: ${(err as Error).message}`);
      }
    };
    const query = `?fieldManager=${FIELD_MANAGER}&force=true`;
    const t0 = performance.now();
    await pool(
      work.flatMap((w) =>
        w.objects.map(
          (obj) => () =>
            guard(async () => {
              const path = resourcePath(obj.apiVersion!, PLURALS[obj.kind!]!, ns, obj.metadata!.name);
              const r = await mk.request('PATCH', `${path}${query}`, obj, 'application/apply-patch+yaml');
              if (obj.kind === 'Deployment') w.deployments.push(r.body);
            }),
        ),
      ),
      concurrency,
    );
    const tObjects = performance.now();
    await pool(
      work.map(
        (w) => () =>
          guard(async () => {
            const mc = w.mc;
            const body = {
              apiVersion: API_VERSION,
              kind: KIND,
              metadata: { name: mc.metadata.name, namespace: ns, resourceVersion: mc.metadata.resourceVersion },
              status: {
                observedGeneration: mc.metadata.generation ?? 1,
                threshold: effectiveThreshold(mc),
                conditions: computeConditions({ generation: mc.metadata.generation ?? 1, deployments: w.deployments }).map((c) => ({
                  ...c,
                  lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
                })),
              },
            };
            await mk.request(
              'PATCH',
              `${resourcePath(API_VERSION, PLURAL, ns, mc.metadata.name, 'status')}?fieldManager=${FIELD_MANAGER}&force=true`,
              body,
              'application/apply-patch+yaml',
            );
          }),
      ),
      concurrency,
    );
    const t1 = performance.now();
    return { concurrency, kubectlS, objectsS: (tObjects - t0) / 1000, totalS: (t1 - t0) / 1000, errors };
  } finally {
    mk.close();
  }
}

async function main(): Promise<void> {
  const values = benchFlags(
    'node dist/bench/operator-scale.js [flags]',
    'Apply many ModelCascades at once against a real kube-apiserver; time to owned objects and status, operator RSS.',
    {
      count: { kind: 'string', default: '200', help: 'ModelCascades to apply' },
      workers: { kind: 'string', default: '4', help: 'operator reconcile workers' },
      'floor-concurrency': {
        kind: 'string',
        default: '16,64',
        help: 'comma-separated requests in flight for the floor client; empty skips the floor',
      },
      'idle-seconds': { kind: 'string', default: '60', help: 'seconds of operator CPU sampled once every cascade is idle' },
      timeout: { kind: 'string', default: '600', help: 'seconds to wait for every object and status before giving up' },
      'cpu-prof': { kind: 'string', default: '', help: "directory for the operator's V8 CPU profile (node --cpu-prof); empty: none" },
    },
  ) as Record<string, string>;
  const floorConcurrency = values['floor-concurrency']!.split(',')
    .filter((x) => x.trim())
    .map(Number);
  if (floorConcurrency.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error('--floor-concurrency: expected comma-separated positive integers');
  const idleSeconds = Number(values['idle-seconds']);
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0)) throw new Error('--timeout: expected a positive number of seconds');
  if (!(idleSeconds >= 0)) throw new Error('--idle-seconds: expected a number >= 0');
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
    for (const args of [
      ['apply', '-f', 'crds/modelcascade.yaml'],
      ['wait', '--for', 'condition=Established', 'crd/modelcascades.tinysaver.io'],
      ['create', 'namespace', 'scale'],
    ]) {
      const r = await cluster.kubectl(args);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    }
    const prof = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
    const proc = spawn(
      process.execPath,
      [
        ...prof,
        BIN,
        'operator',
        '--kubeconfig',
        cluster.kubeconfig,
        '--lease-namespace',
        'default',
        '--metrics-host',
        '127.0.0.1',
        '--metrics-port',
        '0',
        '--workers',
        String(workers),
      ],
      { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
    );
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
    sampler.unref(); // an error path must not keep the bench alive

    const docs = cascadesYaml(count, 'scale');
    const t0 = performance.now();
    const applied = await cluster.kubectl(['apply', '-f', '-'], docs);
    if (applied.code !== 0) throw new Error(`kubectl apply: ${applied.stderr}`);
    const tApplied = performance.now();
    let tObjects = NaN;
    let tStatus = NaN;
    const ns = '/namespaces/scale';
    let lastReport = 0;
    // Polling is kept light so it does not compete with the operator for the apiserver: object counts
    // from one-item pages (metadata.remainingItemCount), the ModelCascade list only once every object
    // exists (a status is written after its cascade's objects), every 500 ms.
    const countOf = async (path: string, labelSelector?: string): Promise<number> => {
      const page = await client.get(path, { query: { limit: 1, labelSelector } });
      if (typeof page.metadata?.remainingItemCount === 'number') return page.items.length + page.metadata.remainingItemCount;
      if (!page.metadata?.continue) return page.items.length;
      return (await client.get(path, { query: { labelSelector } })).items.length;
    };
    while (Number.isNaN(tStatus) || Number.isNaN(tObjects)) {
      if (performance.now() - t0 > timeoutS * 1000) throw new Error(`not converged after ${timeoutS} s`);
      if (Number.isNaN(tObjects)) {
        const [deps, svcs, cms] = await Promise.all([
          countOf(`/apis/apps/v1${ns}/deployments`),
          countOf(`/api/v1${ns}/services`),
          countOf(`/api/v1${ns}/configmaps`, 'tinysaver.io/cascade'),
        ]);
        if (Math.floor((performance.now() - t0) / 10_000) !== lastReport) {
          lastReport = Math.floor((performance.now() - t0) / 10_000);
          console.error(`  ${((performance.now() - t0) / 1000).toFixed(0)} s: ${deps}/${2 * count} deployments`);
        }
        if (deps === 2 * count && svcs === 2 * count && cms === count) tObjects = performance.now();
      } else {
        const mcs = await client.get(`/apis/tinysaver.io/v1alpha1${ns}/modelcascades`);
        if (mcs.items.length === count && mcs.items.every((m: any) => m.status?.observedGeneration === 1)) tStatus = performance.now();
      }
      if (Number.isNaN(tStatus)) await new Promise((r) => setTimeout(r, 500));
    }
    clearInterval(sampler);
    // Steady state: every cascade reconciled and idle; sample the operator's CPU over --idle-seconds.
    await new Promise((r) => setTimeout(r, 5000));
    const cpu0 = cpuSeconds(proc.pid!);
    const w0 = performance.now();
    if (idleSeconds > 0) console.error(`  sampling idle CPU for ${idleSeconds} s ...`);
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idleCpu = idleSeconds > 0 ? (cpuSeconds(proc.pid!) - cpu0) / ((performance.now() - w0) / 1000) : NaN;
    const idleLoad = loadavg()[0];
    const metricsPort = /"http":"127\.0\.0\.1:(\d+)"/.exec(opLog)?.[1];
    const metrics = metricsPort ? await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text() : '';
    const m = (re: RegExp) => Number(re.exec(metrics)?.[1] ?? NaN);
    const rows: [string, string][] = [
      ['ModelCascades', String(count)],
      ['owned objects', `${5 * count} (2 Deployments, 2 Services, 1 ConfigMap each)`],
      ['operator workers', String(workers)],
      ['kubectl apply returned', `${((tApplied - t0) / 1000).toFixed(2)} s`],
      [
        'all owned objects exist',
        `${((tObjects - t0) / 1000).toFixed(2)} s (${((tObjects - tApplied) / 1000).toFixed(2)} s after kubectl returned)`,
      ],
      [
        'all statuses written',
        `${((tStatus - t0) / 1000).toFixed(2)} s (${((tStatus - tApplied) / 1000).toFixed(2)} s after kubectl returned)`,
      ],
      [
        'reconciles (success / stale / error)',
        `${m(/tinysaver_operator_reconcile_total\{result="success"\} (\S+)/)} / ${m(/tinysaver_operator_reconcile_total\{result="stale"\} (\S+)/) || 0} / ${m(/tinysaver_operator_reconcile_total\{result="error"\} (\S+)/) || 0}`,
      ],
      [
        'owned objects applied / skipped',
        `${m(/tinysaver_operator_applies_total\{result="applied"\} (\S+)/) || 0} / ${m(/tinysaver_operator_applies_total\{result="skipped"\} (\S+)/) || 0} (skipped: unchanged since our last apply, nothing sent)`,
      ],
      ['operator RSS idle / peak', `${idleRss.toFixed(0)} MiB / ${peakRss.toFixed(0)} MiB`],
      ['operator RSS after', `${rssMiB(proc.pid!).toFixed(0)} MiB`],
      [
        `operator CPU, ${count} idle cascades`,
        idleSeconds > 0
          ? `${(idleCpu * 100).toFixed(2)} % of one core (over ${idleSeconds} s; load ${idleLoad.toFixed(1)})`
          : 'not sampled',
      ],
      ['machine load (1 min avg) / cores', `${loadavg()[0].toFixed(1)} / ${cpus().length}`],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    console.log(`\noperator scale benchmark (real kube-apiserver + etcd on this machine)\n`);
    for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));

    if (floorConcurrency.length) {
      const floors: FloorRow[] = [];
      for (const [i, c] of floorConcurrency.entries()) {
        console.error(`floor: ${count} cascades, ${c} requests in flight ...`);
        floors.push(await floor(cluster, count, c, `floor-${i}`));
      }
      const best = floors.reduce((a, b) => (b.errors === 0 && (a.errors > 0 || b.totalS < a.totalS) ? b : a));
      const opAfter = (tStatus - tApplied) / 1000;
      console.log(`\nfloor: the same ${5 * count} objects + ${count} status applies from a minimal client (no operator running)\n`);
      console.log(
        `  ${'in flight'.padStart(9)} ${'kubectl s'.padStart(10)} ${'objects s'.padStart(10)} ${'+ status s'.padStart(11)} ${'errors'.padStart(7)}`,
      );
      for (const f of floors)
        console.log(
          `  ${String(f.concurrency).padStart(9)} ${f.kubectlS.toFixed(2).padStart(10)} ${f.objectsS.toFixed(2).padStart(10)} ${f.totalS.toFixed(2).padStart(11)} ${String(f.errors).padStart(7)}`,
        );
      console.log(
        `\n  operator after kubectl returned: ${opAfter.toFixed(2)} s; best floor: ${best.totalS.toFixed(2)} s at ${best.concurrency} in flight; ratio ${(opAfter / best.totalS).toFixed(2)}x (target <= 1.5x)`,
      );
      // kubectl and the operator share the apiserver: an operator that keeps up while kubectl runs slows
      // kubectl down and has little left to do when it returns, so the time from the apply's start is
      // compared as well (floor: its own kubectl apply, then its requests)
      const opTotal = (tStatus - t0) / 1000;
      const floorTotal = best.kubectlS + best.totalS;
      console.log(
        `  from the apply's start: operator ${opTotal.toFixed(2)} s; floor ${floorTotal.toFixed(2)} s (kubectl ${best.kubectlS.toFixed(2)} s + ${best.totalS.toFixed(2)} s); ratio ${(opTotal / floorTotal).toFixed(2)}x`,
      );
      console.log(`  machine load (1 min avg) / cores: ${loadavg()[0].toFixed(1)} / ${cpus().length}`);
    }
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
