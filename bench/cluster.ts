// Benchmarks on the real single-node cluster (scripts/cluster/): the cascade Service on real pods vs
// local `tinysaver up`, threshold propagation from the ModelCascade to the routers, bring-up time and
// memory. Prints tables; asserts nothing. Needs root (as the cluster tier does).
//
//   npm run build && node dist/bench/cluster.js [--samples 2000] [--changes 10] [--bring-up]
//
// Uses the running cluster (scripts/cluster/up.sh) or brings one up (and tears it down at the end);
// installs the chart and two CPU-base cascades (Sidecar, InRouter) in namespace bench when missing.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadFashionMnist } from '../models/dataset/fashion-mnist.js';
import { percentile, replayDataset, type RunStats } from '../runtime/replay/replay.js';
import { formatTable } from '../core/text/table.js';
import {
  CHART_DIR,
  CLUSTER_DIR,
  OPERATOR_IMAGE,
  RUNTIME_IMAGE,
  eventually,
  helm,
  kubectl,
  kubectlJson,
  kubectlOk,
  localUp,
  script,
  serviceUrl,
} from '../test/cluster/harness.js';
import { benchFlags } from './flags.js';

const flags = benchFlags(
  'node dist/bench/cluster.js [flags]',
  'Cascade on a real single-node cluster: Service vs local up latency, threshold propagation, bring-up, memory.',
  {
    samples: { kind: 'int', min: 100, default: 2000, help: 'test images per latency run' },
    changes: { kind: 'int', min: 1, default: 10, help: 'threshold changes timed for propagation' },
    'bring-up': { kind: 'boolean', default: false, help: 'also time a warm tear-down + bring-up (binaries and images cached)' },
  },
);

const NS = 'bench';
const THRESHOLD = 0.88;
const LAYOUTS = [
  { name: 'bench-sidecar', mode: 'Sidecar', viaHttp: true },
  { name: 'bench-inrouter', mode: 'InRouter', viaHttp: false },
] as const;

function cascade(name: string, mode: string) {
  const small = { requests: { cpu: '50m', memory: '64Mi' } };
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name, namespace: NS },
    spec: {
      saver: { mode, model: 'file:///models/fashion-mnist/saver-tinycnn.onnx', resources: small },
      base: { model: 'file:///models/fashion-mnist/base-cnn.onnx', provider: 'cpu', gpus: 0, resources: small },
      router: { resources: small },
      threshold: { initial: THRESHOLD, min: 0.5, max: 1, mode: 'fixed' },
    },
  };
}

const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function ensureCluster(): Promise<boolean> {
  const up = existsSync(join(CLUSTER_DIR, 'up'));
  if (!up) await script('scripts/cluster/up.sh');
  await script('scripts/cluster/images.sh');
  if ((await kubectl(['get', 'deployment', '-n', 'tinysaver-system', 'tinysaver-tinysaver-operator'])).code !== 0) {
    const [repo, tag] = OPERATOR_IMAGE.split(':');
    const r = await helm([
      'install',
      'tinysaver',
      CHART_DIR,
      '-n',
      'tinysaver-system',
      '--create-namespace',
      '--wait',
      '--timeout',
      '600s',
      '--set',
      `image.repository=${repo}`,
      '--set',
      `image.tag=${tag}`,
      '--set',
      `operator.defaultRuntimeImage=${RUNTIME_IMAGE}`,
    ]);
    if (r.code !== 0) throw new Error(`helm install: ${r.stderr}`);
  }
  if ((await kubectl(['get', 'namespace', NS])).code !== 0) await kubectlOk(['create', 'namespace', NS]);
  for (const l of LAYOUTS) await kubectlOk(['apply', '-f', '-'], JSON.stringify(cascade(l.name, l.mode)));
  for (const l of LAYOUTS) await kubectlOk(['wait', '-n', NS, `mc/${l.name}`, '--for=condition=Ready', '--timeout=900s']);
  return !up;
}

async function latencyTable(samples: number): Promise<string> {
  const all = await loadFashionMnist('test');
  const data = { images: all.images.subarray(0, samples * 784), labels: all.labels.subarray(0, samples), count: samples };
  const rows: string[][] = [];
  const row = (layout: string, where: string, c: number, s: RunStats) => {
    const l = [...s.latenciesMs].sort((a, b) => a - b);
    rows.push([
      layout,
      where,
      String(c),
      percentile(l, 50).toFixed(2),
      percentile(l, 99).toFixed(2),
      (s.samples / s.wallSeconds).toFixed(0),
    ]);
    return percentile(l, 50);
  };
  const overhead: string[][] = [];
  for (const l of LAYOUTS) {
    const svc = await serviceUrl(NS, l.name);
    for (const c of [1, 16]) {
      const opts = { batchSize: 1, concurrency: c, timeoutMs: 30_000 };
      await replayDataset({ url: svc, model: 'cascade' }, { ...data, count: Math.min(200, samples) }, opts); // warm-up
      const p50svc = row(l.mode, 'Service (pods)', c, await replayDataset({ url: svc, model: 'cascade' }, data, opts));
      const p50loc = row(
        l.mode,
        'local up',
        c,
        await localUp(THRESHOLD, l.viaHttp, async (url) => {
          await replayDataset({ url, model: 'cascade' }, { ...data, count: Math.min(200, samples) }, opts);
          return replayDataset({ url, model: 'cascade' }, data, opts);
        }),
      );
      overhead.push([l.mode, String(c), (p50svc - p50loc).toFixed(2)]);
    }
  }
  return (
    `${formatTable(['layout', 'endpoint', 'concurrency', 'p50 ms', 'p99 ms', 'rows/s'], rows, (i) => i < 2)}\n\n` +
    `pod networking + kube-proxy per request (p50 Service - p50 local):\n${formatTable(['layout', 'concurrency', 'ms'], overhead)}`
  );
}

async function routerThreshold(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^tinysaver_threshold(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

async function propagationTable(changes: number): Promise<string> {
  const name = LAYOUTS[0].name;
  const url = await serviceUrl(NS, name);
  const toStatus: number[] = [];
  const toRouter: number[] = [];
  for (let i = 0; i < changes; i++) {
    const t = i % 2 === 0 ? 0.8 + 0.001 * i : THRESHOLD;
    const t0 = Date.now();
    await kubectlOk(['patch', '-n', NS, 'mc', name, '--type', 'merge', '-p', JSON.stringify({ spec: { threshold: { initial: t } } })]);
    await eventually(
      'status.threshold',
      async () => (await kubectlJson(['get', '-n', NS, 'mc', name])).status?.threshold === t,
      300_000,
      200,
    );
    const t1 = Date.now();
    await eventually('router threshold', async () => (await routerThreshold(url)) === t, 600_000, 250);
    const t2 = Date.now();
    toStatus.push(t1 - t0);
    toRouter.push(t2 - t1);
    process.stderr.write(`change ${i + 1}/${changes}: status ${sec(t1 - t0)}, router ${sec(t2 - t1)}\n`);
  }
  const s = (v: number[]) => [...v].sort((a, b) => a - b);
  return formatTable(
    ['step', 'p50', 'max'],
    [
      ['spec patch -> status.threshold', sec(percentile(s(toStatus), 50)), sec(Math.max(...toStatus))],
      ['status -> router uses it (ConfigMap volume)', sec(percentile(s(toRouter), 50)), sec(Math.max(...toRouter))],
    ],
  );
}

function rssMiB(pid: string): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

async function memoryTable(): Promise<string> {
  const rows: string[][] = [];
  const dir = join(CLUSTER_DIR, 'pids');
  let total = 0;
  for (const f of readdirSync(dir).sort()) {
    const mib = rssMiB(readFileSync(join(dir, f), 'utf8').trim());
    total += Number.isFinite(mib) ? mib : 0;
    rows.push([f.replace(/\.pid$/, ''), mib.toFixed(0)]);
  }
  rows.push(['control plane + node, total', total.toFixed(0)]);
  // pods: the memory cgroup the kubelet made for each (cgroupfs driver, v1 hierarchy)
  const pods = await kubectlJson(['get', 'pods', '-A']);
  for (const p of pods.items) {
    const qos = String(p.status.qosClass ?? '').toLowerCase();
    const base = '/sys/fs/cgroup/memory/kubepods';
    const path = qos === 'guaranteed' ? `${base}/pod${p.metadata.uid}` : `${base}/${qos}/pod${p.metadata.uid}`;
    let mib = NaN;
    try {
      mib = Number(readFileSync(`${path}/memory.usage_in_bytes`, 'utf8')) / 2 ** 20;
    } catch {
      /* not on this hierarchy */
    }
    rows.push([`pod ${p.metadata.namespace}/${p.metadata.name}`, mib.toFixed(0)]);
  }
  return formatTable(['process / pod', 'memory MiB'], rows);
}

async function bringUpTable(): Promise<string> {
  await script('scripts/cluster/down.sh');
  const t0 = Date.now();
  await script('scripts/cluster/up.sh');
  const t1 = Date.now();
  await script('scripts/cluster/images.sh');
  const t2 = Date.now();
  const timings = readFileSync(join(CLUSTER_DIR, 'timings'), 'utf8').trim();
  return formatTable(
    ['warm step (binaries, base image cached)', 'time'],
    [
      ['scripts/cluster/up.sh (node Ready)', sec(t1 - t0)],
      ['scripts/cluster/images.sh (build from docker/ + import)', sec(t2 - t1)],
      ['up.sh breakdown', timings],
    ],
  );
}

const broughtUp = await ensureCluster();
console.log(`\nCascade Service on real pods vs local \`tinysaver up\` (${flags.samples} test images, batch 1, threshold ${THRESHOLD})\n`);
console.log(await latencyTable(flags.samples as number));
console.log(
  `\nThreshold propagation over ${flags.changes} changes (ConfigMap volume, kubelet defaults; the operator annotates the router pods after each change)\n`,
);
console.log(await propagationTable(flags.changes as number));
console.log('\nMemory (RSS of the cluster processes; pod memory cgroups)\n');
console.log(await memoryTable());
if (flags['bring-up']) {
  console.log('\nBring-up\n');
  console.log(await bringUpTable());
}
if (broughtUp) await script('scripts/cluster/down.sh');
