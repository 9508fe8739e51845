// The user's story on a real single-node cluster (kubelet + containerd, kube-proxy, CoreDNS; see
// test/cluster/global-setup.ts): helm install the chart with the images built from docker/, apply
// ModelCascades with a CPU base in both saver layouts, get correct v2 answers through the cascade
// Service, watch the in-cluster operator raise the threshold under drift while the routers pick it up
// from the mounted ConfigMap without a restart, then delete and uninstall. Real pods, real Services, real
// DNS (the router reaches its base by the Service's DNS name). No assertion on wall-clock times: the
// waits are generous for a loaded 2-core machine, and the durations are printed for the README/bench.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../../models/dataset/fashion-mnist.js';
import { V2Client } from '../../runtime/oip/client.js';
import { replayDataset, type RunStats } from '../../runtime/replay/replay.js';
import { corruptedStream } from '../integration/controller-helpers.js';
import {
  CHART_DIR,
  OPERATOR_IMAGE,
  ctr,
  RUNTIME_IMAGE,
  eventually,
  helm,
  kubectl,
  kubectlJson,
  kubectlOk,
  serviceUrl,
  localUp,
} from './harness.js';

const SYSTEM_NS = 'tinysaver-system';
const RELEASE = 'tinysaver';
const NS = 'ml';
const THRESHOLD = 0.88;
const SAMPLES = 2000;
const timings: Record<string, string> = {};
const note = (k: string, v: string) => {
  timings[k] = v;
  process.stderr.write(`[cluster story] ${k}: ${v}\n`);
};

function cascade(name: string, mode: 'Sidecar' | 'InRouter', extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name, namespace: NS },
    spec: {
      // no spec.image: the operator's --default-image (chart value operator.defaultRuntimeImage)
      imagePullPolicy: 'IfNotPresent',
      saver: { mode, model: 'file:///models/fashion-mnist/saver-tinycnn.onnx', resources: { requests: { cpu: '50m', memory: '64Mi' } } },
      base: {
        model: 'file:///models/fashion-mnist/base-cnn.onnx',
        provider: 'cpu',
        gpus: 0,
        resources: { requests: { cpu: '50m', memory: '64Mi' } },
      },
      router: { resources: { requests: { cpu: '50m', memory: '64Mi' } } },
      threshold: { initial: THRESHOLD, min: 0.5, max: 1, mode: 'fixed' },
      ...extra,
    },
  };
}

let operatorPod = '';
let fullname = '';

beforeAll(async () => {
  const install = await helm([
    'install',
    RELEASE,
    CHART_DIR,
    '-n',
    SYSTEM_NS,
    '--create-namespace',
    '--set',
    `image.repository=${OPERATOR_IMAGE.split(':')[0]}`,
    '--set',
    `image.tag=${OPERATOR_IMAGE.split(':')[1]}`,
    '--set',
    'image.pullPolicy=IfNotPresent',
    '--set',
    `operator.defaultRuntimeImage=${RUNTIME_IMAGE}`,
  ]);
  expect(install.stderr).not.toMatch(/Error/);
  expect(install.code).toBe(0);
  await kubectlOk(['create', 'namespace', NS]);
}, 600_000);

afterAll(async () => {
  // Left for the global teardown (scripts/cluster/down.sh); print what the story measured.
  process.stderr.write(`[cluster story] timings ${JSON.stringify(timings)}\n`);
});

describe('the user story on a real single-node cluster', () => {
  it('1. helm install: the operator pod becomes Ready, leads, and uses in-cluster configuration', async () => {
    const t0 = Date.now();
    const deploy = await eventually(
      'operator Deployment',
      async () => (await kubectlJson(['get', '-n', SYSTEM_NS, 'deployments'])).items[0],
      60_000,
    );
    fullname = deploy.metadata.name;
    const rollout = await kubectl(['rollout', 'status', '-n', SYSTEM_NS, `deployment/${fullname}`, '--timeout=600s']);
    expect(rollout.code, rollout.stderr).toBe(0);
    note('operator Ready after helm install', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const pods = await kubectlJson(['get', '-n', SYSTEM_NS, 'pods', '-l', 'app.kubernetes.io/name=tinysaver-operator']);
    expect(pods.items).toHaveLength(1);
    const pod = pods.items[0];
    operatorPod = pod.metadata.name;
    expect(pod.spec.containers[0].image).toBe(OPERATOR_IMAGE);
    expect(pod.status.containerStatuses[0].ready).toBe(true);
    // the pod runs as the image's numeric user on a read-only root filesystem
    expect(pod.spec.securityContext.runAsUser).toBe(65532);
    expect(pod.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    const lease = await eventually(
      'leader Lease held by the pod',
      async () => {
        const l = await kubectlJson(['get', '-n', SYSTEM_NS, 'lease', fullname]);
        return l.spec?.holderIdentity === operatorPod ? l : undefined;
      },
      120_000,
    );
    expect(lease.spec.holderIdentity).toBe(operatorPod);
    // in-cluster configuration: the service-account token against the kubernetes Service's ClusterIP
    const logs = await kubectlOk(['logs', '-n', SYSTEM_NS, operatorPod]);
    expect(logs).toMatch(/"msg":"operator started","server":"https:\/\/10\.96\.0\.1:443"/);
  });

  const layouts = [
    { name: 'fashion-sidecar', mode: 'Sidecar' as const, viaHttp: true },
    { name: 'fashion-inrouter', mode: 'InRouter' as const, viaHttp: false },
  ];

  it('2a. ModelCascades with a CPU base, Sidecar and InRouter: Deployments roll out, kubectl get mc shows Ready', async () => {
    const t0 = Date.now();
    for (const l of layouts) await kubectlOk(['apply', '-f', '-'], JSON.stringify(cascade(l.name, l.mode)));
    for (const l of layouts) {
      const w = await kubectl(['wait', '-n', NS, `mc/${l.name}`, '--for=condition=Ready', '--timeout=900s']);
      expect(w.code, `${l.name}: ${w.stderr}\n${await kubectl(['describe', '-n', NS, 'mc', l.name]).then((r) => r.stdout)}`).toBe(0);
    }
    note('both cascades Ready after apply', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const table = await kubectlOk(['get', '-n', NS, 'mc']);
    expect(table).toMatch(/NAME\s+THRESHOLD\s+SAVER-SHARE\s+LOSS-BOUND\s+.*READY\s+AGE/);
    for (const l of layouts) expect(table).toMatch(new RegExp(`${l.name}\\s+0\\.88\\s+.*True\\s`));
    // every container runs the default runtime image set at install time (defect 1)
    const deploys = await kubectlJson(['get', '-n', NS, 'deployments']);
    const images = new Set(deploys.items.flatMap((d: any) => d.spec.template.spec.containers.map((c: any) => c.image)));
    expect([...images]).toEqual([RUNTIME_IMAGE]);
    const sidecar = deploys.items.find((d: any) => d.metadata.name === 'fashion-sidecar-saver');
    const inrouter = deploys.items.find((d: any) => d.metadata.name === 'fashion-inrouter-saver');
    expect(sidecar.spec.template.spec.containers.map((c: any) => c.name).sort()).toEqual(['router', 'saver']);
    expect(inrouter.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['router']);
  });

  it('2b. correct v2 answers through the cascade Service, JSON and binary', async () => {
    const data = await loadFashionMnist('test');
    for (const l of layouts) {
      const client = new V2Client(await serviceUrl(NS, l.name));
      try {
        const meta = await client.metadata('cascade');
        expect(meta.name).toBe('cascade');
        const rows = 16;
        const req = {
          inputs: [
            { name: meta.inputs[0].name, datatype: 'FP32' as const, shape: [rows, 1, 28, 28], data: data.images.slice(0, rows * 784) },
          ],
        };
        const bin = await client.infer('cascade', req, { binary: true });
        const json = await client.infer('cascade', req, { binary: false });
        for (const res of [bin, json]) {
          expect(res.outputs[0].shape).toEqual([rows, 10]);
          const scores = Array.from(res.outputs[0].data as ArrayLike<number>);
          let correct = 0;
          for (let r = 0; r < rows; r++) {
            const row = scores.slice(r * 10, r * 10 + 10);
            if (row.indexOf(Math.max(...row)) === data.labels[r]) correct++;
          }
          expect(correct).toBeGreaterThanOrEqual(12);
          expect(String(res.parameters?.tinysaver_routes ?? '')).toMatch(/saver/);
        }
        expect(Array.from(bin.outputs[0].data as ArrayLike<number>)).toEqual(Array.from(json.outputs[0].data as ArrayLike<number>));
      } finally {
        client.close();
      }
    }
  });

  it('2c. saver share and accuracy on 2000 test images match local `up` + replay', async () => {
    const all = await loadFashionMnist('test');
    const data = { images: all.images.subarray(0, SAMPLES * 784), labels: all.labels.subarray(0, SAMPLES), count: SAMPLES };
    const opts = { batchSize: 1, concurrency: 4, timeoutMs: 30_000 };
    const share = (s: RunStats) => (s.routes.saver ?? 0) / s.samples;
    for (const l of layouts) {
      const inCluster = await replayDataset({ url: await serviceUrl(NS, l.name), model: 'cascade' }, data, opts);
      const local = await localUp(THRESHOLD, l.viaHttp, (url) => replayDataset({ url, model: 'cascade' }, data, opts));
      note(
        `${l.mode} saver share / accuracy (cluster vs local up)`,
        `${(100 * share(inCluster)).toFixed(2)}% / ${((100 * inCluster.correct) / SAMPLES).toFixed(2)}% vs ${(100 * share(local)).toFixed(2)}% / ${((100 * local.correct) / SAMPLES).toFixed(2)}%`,
      );
      expect(inCluster.samples).toBe(SAMPLES);
      expect(Math.abs(share(inCluster) - share(local))).toBeLessThanOrEqual(0.005);
      expect(Math.abs(inCluster.correct - local.correct) / SAMPLES).toBeLessThanOrEqual(0.005);
      expect(share(inCluster)).toBeGreaterThan(0.3);
    }
  });

  it('3. drift: the in-cluster operator raises the threshold; routers follow the mounted ConfigMap without a restart', async () => {
    const name = 'fashion-sidecar';
    const url = await serviceUrl(NS, name);
    const podsBefore = await kubectlJson(['get', '-n', NS, 'pods', '-l', `tinysaver.io/cascade=${name},app.kubernetes.io/component=saver`]);
    const patch = {
      spec: {
        router: { auditRate: 0.1 },
        threshold: { mode: 'adaptive' },
        budget: { maxAccuracyLoss: 0.02, confidence: 0.95 },
        control: { interval: '5s', window: '2m', maxStep: 0.02, minAudits: 50, maxAuditRate: 0.5 },
      },
    };
    await patchCascade(name, patch);
    const stream = await corruptedStream(21);
    const client = new V2Client(url);
    let raised: any;
    try {
      raised = await eventually(
        'status.threshold above the initial 0.88',
        async () => {
          for (let i = 0; i < 5; i++) {
            await client.infer('cascade', { inputs: [{ name: 'input', datatype: 'FP32', shape: [100, 1, 28, 28], data: stream(100, 1) }] });
          }
          const obj = await kubectlJson(['get', '-n', NS, 'mc', name]);
          return obj.status?.threshold > THRESHOLD ? obj : undefined;
        },
        600_000,
        0,
      );
    } finally {
      client.close();
    }
    const seenAt = Date.now();
    const target: number = raised.status.threshold;
    expect(raised.status.lastChange.from).toBe(THRESHOLD);
    // the change detector may fire before the bound does: either names why the threshold went up
    expect(['BoundExceeded', 'ChangeDetected']).toContain(raised.status.lastChange.reason);
    // the routers' own gauge, read through the Service, reaches the new value (kubelet ConfigMap sync)
    const routerThreshold = async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      const m = /^tinysaver_threshold(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text);
      return m ? Number(m[1]) : NaN;
    };
    await eventually('router uses the raised threshold', async () => (await routerThreshold()) >= target, 600_000, 500);
    note('threshold propagation status -> router (ConfigMap volume)', `${((Date.now() - seenAt) / 1000).toFixed(1)} s`);
    // no restart: same pods, restartCount 0
    const podsAfter = await kubectlJson(['get', '-n', NS, 'pods', '-l', `tinysaver.io/cascade=${name},app.kubernetes.io/component=saver`]);
    expect(podsAfter.items.map((p: any) => p.metadata.uid).sort()).toEqual(podsBefore.items.map((p: any) => p.metadata.uid).sort());
    for (const p of podsAfter.items)
      for (const cs of p.status.containerStatuses) expect(cs.restartCount, `${p.metadata.name}/${cs.name}`).toBe(0);
    // kubectl get mc shows the new value; describe shows the Event with its reason
    const table = await kubectlOk(['get', '-n', NS, 'mc', name]);
    expect(table).toMatch(new RegExp(`${name}\\s+(0\\.\\d+|1)\\s`));
    expect(table).not.toMatch(new RegExp(`${name}\\s+0\\.88\\s`));
    const described = await kubectlOk(['describe', '-n', NS, 'mc', name]);
    expect(described).toMatch(/ThresholdRaised\s+.*0\.88 -> [0-9.]+/);
  });

  it('4. a GPU base on a node without GPUs: Degraded names the base pod failure; the saver keeps answering (fallback)', async () => {
    // a fake extended resource, as a device plugin would advertise it: the pod is scheduled, CUDA is missing
    const node = (await kubectlJson(['get', 'nodes'])).items[0].metadata.name;
    await kubectlOk([
      'patch',
      'node',
      node,
      '--subresource=status',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/status/capacity/nvidia.com~1gpu', value: '1' }]),
    ]);
    const name = 'fashion-gpu';
    const mc = cascade(name, 'Sidecar');
    mc.spec.base = {
      model: 'file:///models/fashion-mnist/base-cnn.onnx',
      resources: { requests: { cpu: '50m', memory: '64Mi' } },
    } as typeof mc.spec.base; // provider cuda, gpus 1 (defaults)
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(mc));
    const t0 = Date.now();
    // Until the scheduler sees the patched capacity the pod may first be Unschedulable (also named); the
    // state it settles in is the base container failing without CUDA.
    const degraded = await eventually(
      'Degraded naming the failing base container',
      async () => {
        const obj = await kubectlJson(['get', '-n', NS, 'mc', name]);
        const c = obj.status?.conditions?.find((x: any) => x.type === 'Degraded');
        return c?.status === 'True' && /pod fashion-gpu-base-\S+ container base: (CrashLoopBackOff|RunContainerError)/.test(c.message ?? '')
          ? c
          : undefined;
      },
      600_000,
      2000,
    );
    note(
      'GPU base without GPU: Degraded (container failure) after apply',
      `${((Date.now() - t0) / 1000).toFixed(1)} s (${degraded.reason})`,
    );
    // the saver pod is Ready (the router serves saver-only while the base is unusable) and answers
    await kubectlOk(['rollout', 'status', '-n', NS, `deployment/${name}-saver`, '--timeout=600s']);
    const data = await loadFashionMnist('test');
    const client = new V2Client(await serviceUrl(NS, name));
    try {
      const res = await client.infer('cascade', {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [64, 1, 28, 28], data: data.images.slice(0, 64 * 784) }],
      });
      expect(res.outputs[0].shape).toEqual([64, 10]);
      expect(String(res.parameters?.tinysaver_routes)).toMatch(/fallback/);
      expect(String(res.parameters?.tinysaver_routes)).not.toMatch(/base/);
    } finally {
      client.close();
    }
    await kubectlOk(['delete', '-n', NS, 'mc', name, '--wait=true', '--timeout=300s']);
    await kubectl([
      'patch',
      'node',
      node,
      '--subresource=status',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/status/capacity/nvidia.com~1gpu' }]),
    ]);
  });

  it('an image that does not exist: Degraded says ErrImagePull/ImagePullBackOff with the pod named; the operator keeps running', async () => {
    const name = 'fashion-noimage';
    const mc = { ...cascade(name, 'InRouter'), spec: { ...cascade(name, 'InRouter').spec, image: 'localhost/tinysaver/missing:0' } };
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(mc));
    const degraded = await eventually(
      'Degraded with the pull failure',
      async () => {
        const obj = await kubectlJson(['get', '-n', NS, 'mc', name]);
        const c = obj.status?.conditions?.find((x: any) => x.type === 'Degraded');
        return c?.status === 'True' && /ErrImagePull|ImagePullBackOff/.test(c.reason ?? '') ? c : undefined;
      },
      600_000,
      2000,
    );
    expect(degraded.message).toMatch(/pod fashion-noimage-(saver|base)-.* container (router|base): (ErrImagePull|ImagePullBackOff)/);
    const described = await kubectlOk(['describe', '-n', NS, 'mc', name]);
    expect(described).toMatch(/Warning\s+(ErrImagePull|ImagePullBackOff)\s/);
    const op = await kubectlJson(['get', '-n', SYSTEM_NS, 'pod', operatorPod]);
    expect(op.status.containerStatuses[0].restartCount).toBe(0);
    await kubectlOk(['delete', '-n', NS, 'mc', name, '--wait=true', '--timeout=300s']);
  });

  it('a model URI that cannot be fetched: Degraded names the init container and the fetch error; nothing else breaks', async () => {
    const name = 'fashion-nofetch';
    const mc = cascade(name, 'InRouter');
    // inside the pod nothing listens on this port: the fetch fails at once with ECONNREFUSED
    mc.spec.saver = { ...mc.spec.saver, model: 'http://127.0.0.1:65500/saver.onnx' };
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(mc));
    const degraded = await eventually(
      'Degraded with the fetch failure',
      async () => {
        const obj = await kubectlJson(['get', '-n', NS, 'mc', name]);
        const c = obj.status?.conditions?.find((x: any) => x.type === 'Degraded');
        return c?.status === 'True' && /container fetch-saver-model: CrashLoopBackOff/.test(c.message ?? '') ? c : undefined;
      },
      600_000,
      2000,
    );
    note('unfetchable model: Degraded message', String(degraded.message).slice(0, 200));
    expect(degraded.message).toMatch(/http:\/\/127\.0\.0\.1:65500\/saver\.onnx: fetch failed \(ECONNREFUSED/);
    const op = await kubectlJson(['get', '-n', SYSTEM_NS, 'pod', operatorPod]);
    expect(op.status.containerStatuses[0].restartCount).toBe(0);
    await kubectlOk(['delete', '-n', NS, 'mc', name, '--wait=true', '--timeout=300s']);
  });

  it('5. rolling update under load: changing the pod template while requests flow through the Service fails none', async () => {
    const name = 'fashion-inrouter';
    const url = await serviceUrl(NS, name);
    const before = await podUids(name, 'saver');
    const load = startLoad(url, 4);
    await sleep(3000);
    const t0 = Date.now();
    // any pod-template field rolls the pods; a resource request is one a user changes often
    await patchCascade(name, { spec: { saver: { resources: { requests: { cpu: '60m', memory: '64Mi' } } } } });
    await eventually('a new saver pod', async () => (await podUids(name, 'saver')).some((u) => !before.includes(u)), 120_000);
    const rollout = await kubectl(['rollout', 'status', '-n', NS, `deployment/${name}-saver`, '--timeout=600s']);
    expect(rollout.code, rollout.stderr).toBe(0);
    await eventually('old saver pods gone', async () => (await podUids(name, 'saver')).every((u) => !before.includes(u)), 120_000);
    const rolled = Date.now() - t0;
    await sleep(3000);
    const stats = await load.stop();
    note('rolling update under load', `${stats.ok} requests, ${stats.failures.length} failed, rollout ${(rolled / 1000).toFixed(1)} s`);
    expect(stats.failures).toEqual([]);
    expect(stats.ok).toBeGreaterThan(50);
  });

  it('a router pod deleted or killed under load: the Service keeps answering from the other replica (2 replicas)', async () => {
    const name = 'fashion-inrouter';
    await patchCascade(name, { spec: { saver: { replicas: 2 } } });
    await eventually(
      'two saver pods Ready',
      async () => {
        const d = await kubectlJson(['get', '-n', NS, 'deployment', `${name}-saver`]);
        return d.status?.readyReplicas === 2 && d.status?.updatedReplicas === 2 && d.status?.replicas === 2;
      },
      600_000,
      2000,
    );
    const url = await serviceUrl(NS, name);
    // graceful delete (scale-down, eviction, node drain): not one request fails
    const [victim] = await podNames(name, 'saver');
    let load = startLoad(url, 4);
    await sleep(2000);
    await kubectlOk(['delete', 'pod', '-n', NS, victim, '--wait=false']);
    await eventually(
      'the deleted pod gone and a replacement Ready',
      async () => {
        const d = await kubectlJson(['get', '-n', NS, 'deployment', `${name}-saver`]);
        return !(await podNames(name, 'saver')).includes(victim) && d.status?.readyReplicas === 2;
      },
      600_000,
      1000,
    );
    let stats = await load.stop();
    note('router pod deleted under load (2 replicas)', `${stats.ok} requests, ${stats.failures.length} failed`);
    expect(stats.failures).toEqual([]);
    // a crash (SIGKILL of the router process): requests on its connections fail until the readiness probe
    // takes the pod out; the other replica keeps answering throughout, and the container restarts
    const [crashed] = await podNames(name, 'saver');
    const pod = await kubectlJson(['get', 'pod', '-n', NS, crashed]);
    const containerId = String(pod.status.containerStatuses[0].containerID).replace(/^containerd:\/\//, '');
    load = startLoad(url, 4);
    await sleep(2000);
    const killedAt = Date.now();
    const kill = await ctr(['-n', 'k8s.io', 'task', 'kill', '-s', 'SIGKILL', containerId]);
    expect(kill.code, kill.stderr).toBe(0);
    await eventually(
      'the killed container restarted and Ready again',
      async () => {
        const p = await kubectlJson(['get', 'pod', '-n', NS, crashed]);
        const cs = p.status.containerStatuses[0];
        return cs.restartCount >= 1 && cs.ready ? true : undefined;
      },
      600_000,
      1000,
    );
    await sleep(2000);
    stats = await load.stop();
    const after = stats.okAt.filter((t) => t > killedAt);
    note(
      'router process SIGKILLed under load (2 replicas)',
      `${stats.ok} requests, ${stats.failures.length} failed (${[...new Set(stats.failures.map((f) => f.error.split(':')[0]))].join(', ')})`,
    );
    // the other replica answered in every 2 s slot after the kill
    for (let t = killedAt; t < Math.max(...after) - 2000; t += 2000) {
      expect(
        after.some((x) => x >= t && x < t + 2000),
        `no answer between ${t - killedAt} and ${t - killedAt + 2000} ms after the kill`,
      ).toBe(true);
    }
    // what failed, failed as a connection error (the dead pod), never a wrong or 5xx answer from a live one
    for (const f of stats.failures) expect(f.error).toMatch(/ECONNRESET|ECONNREFUSED|socket hang up|EPIPE|ETIMEDOUT|timed out/i);
  });

  it('7. HPAs from spec.autoscaling: accepted and reconciled by the real HPA controller, which says why it cannot scale', async () => {
    const name = 'fashion-sidecar';
    await patchCascade(name, { spec: { autoscaling: { saver: { minReplicas: 1, maxReplicas: 3, targetCPUUtilization: 70 } } } });
    const hpa = await eventually(
      'the HPA controller reports on the HPA',
      async () => {
        const h = await kubectlJson(['get', '-n', NS, 'hpa', `${name}-saver`]).catch(() => undefined);
        const c = h?.status?.conditions?.find((x: any) => x.type === 'ScalingActive');
        return c ? h : undefined;
      },
      300_000,
      2000,
    );
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: `${name}-saver` });
    expect(hpa.spec.minReplicas).toBe(1);
    expect(hpa.spec.maxReplicas).toBe(3);
    const able = hpa.status.conditions.find((x: any) => x.type === 'AbleToScale');
    expect(able?.status).toBe('True');
    // no metrics server in this cluster: the controller says it cannot read CPU utilization
    const active = hpa.status.conditions.find((x: any) => x.type === 'ScalingActive');
    expect(active.status).toBe('False');
    expect(active.reason).toMatch(/FailedGetResourceMetric/);
    note('HPA ScalingActive without a metrics server', `${active.reason}: ${String(active.message).slice(0, 120)}`);
    // the operator leaves replicas to the HPA: its Deployment apply no longer owns spec.replicas
    const d = await kubectlJson(['get', '-n', NS, 'deployment', `${name}-saver`, '--show-managed-fields']);
    const mine = d.metadata.managedFields.find((f: any) => f.manager === 'tinysaver-operator' && f.operation === 'Apply');
    expect(JSON.stringify(mine?.fieldsV1 ?? {})).not.toContain('"f:replicas"');
    // removing spec.autoscaling removes the HPA
    await kubectlOk(['patch', '-n', NS, 'mc', name, '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/autoscaling' }])]);
    await eventually('HPA removed', async () => (await kubectl(['get', '-n', NS, 'hpa', `${name}-saver`])).code !== 0, 120_000);
  });

  it('the operator pod killed mid-reconcile: the new leader converges with nothing lost', async () => {
    const name = 'fashion-failover';
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(cascade(name, 'InRouter')));
    // kill as soon as the operator has started on it (its first owned object exists), before it is Ready
    await eventually(
      'reconcile started',
      async () => (await kubectl(['get', '-n', NS, 'configmap', `${name}-router`])).code === 0,
      120_000,
      100,
    );
    const killed = operatorPod;
    await kubectlOk(['delete', 'pod', '-n', SYSTEM_NS, killed, '--grace-period=0', '--force']);
    const t0 = Date.now();
    const next = await eventually(
      'a new operator pod holds the lease',
      async () => {
        const pods = await kubectlJson(['get', '-n', SYSTEM_NS, 'pods', '-l', 'app.kubernetes.io/name=tinysaver-operator']);
        const fresh = pods.items.find((p: any) => p.metadata.name !== killed && !p.metadata.deletionTimestamp);
        if (!fresh) return undefined;
        const l = await kubectlJson(['get', '-n', SYSTEM_NS, 'lease', fullname]);
        return l.spec?.holderIdentity === fresh.metadata.name ? fresh.metadata.name : undefined;
      },
      300_000,
      1000,
    );
    operatorPod = next;
    const w = await kubectl(['wait', '-n', NS, `mc/${name}`, '--for=condition=Ready', '--timeout=600s']);
    expect(w.code, w.stderr).toBe(0);
    note('operator killed mid-reconcile: new leader has the cascade Ready', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const obj = await kubectlJson(['get', '-n', NS, 'mc', name]);
    expect(obj.status.observedGeneration).toBe(obj.metadata.generation);
    // every owned object exactly once, owned by the cascade; the other cascades untouched and Ready
    const owned = await kubectlJson(['get', '-n', NS, 'deployments,services,configmaps', '-l', `tinysaver.io/cascade=${name}`]);
    const kinds = owned.items.map((o: any) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [`ConfigMap/${name}-router`, `Deployment/${name}-base`, `Deployment/${name}-saver`, `Service/${name}`, `Service/${name}-base`].sort(),
    );
    for (const o of owned.items) expect(o.metadata.ownerReferences?.[0]?.uid).toBe(obj.metadata.uid);
    for (const l of ['fashion-sidecar', 'fashion-inrouter']) {
      const other = await kubectlJson(['get', '-n', NS, 'mc', l]);
      expect(other.status.conditions.find((c: any) => c.type === 'Ready')?.status, l).toBe('True');
    }
  });

  it('6. kubectl delete mc: the garbage collector removes every owned object; helm uninstall keeps the CRD', async () => {
    const t0 = Date.now();
    await kubectlOk(['delete', '-n', NS, 'mc', '--all', '--wait=true', '--timeout=300s']);
    await eventually(
      'owned objects garbage-collected',
      async () => {
        const left = await kubectlJson(['get', '-n', NS, 'deployments,services,configmaps,replicasets', '-l', 'tinysaver.io/cascade']);
        return left.items.length === 0 ? true : undefined;
      },
      300_000,
    );
    note('garbage collection after kubectl delete mc', `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await eventually('cascade pods gone', async () => (await kubectlJson(['get', '-n', NS, 'pods'])).items.length === 0, 300_000);
    const un = await helm(['uninstall', RELEASE, '-n', SYSTEM_NS, '--wait', '--timeout', '300s']);
    expect(un.code, un.stderr).toBe(0);
    await eventually('operator pod gone', async () => (await kubectlJson(['get', '-n', SYSTEM_NS, 'pods'])).items.length === 0, 300_000);
    // the leader Lease is part of the release and goes with it
    expect((await kubectl(['get', 'lease', '-n', SYSTEM_NS, fullname])).code).not.toBe(0);
    // the CRD stays (helm never deletes CRDs from crds/), as the README documents
    expect((await kubectl(['get', 'crd', 'modelcascades.tinysaver.io'])).code).toBe(0);
  });
});

/** kubectl patch --type merge on a ModelCascade in NS. */
async function patchCascade(name: string, patch: object): Promise<void> {
  await kubectlOk(['patch', '-n', NS, 'mc', name, '--type', 'merge', '-p', JSON.stringify(patch)]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function podNames(cascadeName: string, component: string): Promise<string[]> {
  const pods = await kubectlJson([
    'get',
    '-n',
    NS,
    'pods',
    '-l',
    `tinysaver.io/cascade=${cascadeName},app.kubernetes.io/component=${component}`,
  ]);
  return pods.items.filter((p: any) => !p.metadata.deletionTimestamp).map((p: any) => p.metadata.name);
}

async function podUids(cascadeName: string, component: string): Promise<string[]> {
  const pods = await kubectlJson([
    'get',
    '-n',
    NS,
    'pods',
    '-l',
    `tinysaver.io/cascade=${cascadeName},app.kubernetes.io/component=${component}`,
  ]);
  return pods.items.map((p: any) => p.metadata.uid);
}

interface LoadStats {
  ok: number;
  okAt: number[];
  failures: { at: number; error: string }[];
}

/**
 * A bounded load loop through the Service: `workers` clients each sending 4-image requests back to back on
 * keep-alive connections (as a real client does), every answer checked for shape. stop() returns the counts.
 */
function startLoad(url: string, workers: number): { stop: () => Promise<LoadStats> } {
  const stats: LoadStats = { ok: 0, okAt: [], failures: [] };
  let running = true;
  const rows = 4;
  const data = new Float32Array(rows * 784).map((_, i) => ((i * 7919) % 256) / 255);
  const client = new V2Client(url, { timeoutMs: 30_000 });
  const worker = async () => {
    while (running) {
      try {
        const res = await client.infer('cascade', { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 1, 28, 28], data }] });
        if (res.outputs[0].shape.join(',') !== `${rows},10`) throw new Error(`bad shape ${JSON.stringify(res.outputs[0].shape)}`);
        stats.ok++;
        stats.okAt.push(Date.now());
      } catch (e) {
        stats.failures.push({ at: Date.now(), error: `${(e as NodeJS.ErrnoException).code ?? ''}: ${(e as Error).message}` });
        await sleep(50);
      }
    }
  };
  const all = Array.from({ length: workers }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(all);
      client.close();
      return stats;
    },
  };
}
