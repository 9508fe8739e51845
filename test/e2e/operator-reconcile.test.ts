// The operator against a real kube-apiserver + etcd (test/e2e/harness), driven with real kubectl.
// No kube-controller-manager runs here: no garbage collector, no Deployment controller, no pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './harness/cluster.js';
import {
  adminClient,
  createNamespace,
  eventually,
  installCrd,
  kubectlJson,
  markDeploymentReady,
  startOperator,
  type OperatorHandle,
} from './harness/operator.js';
import type { KubeClient } from '../../operator/kube/client.js';
import { ROUTER_CONFIG_ANNOTATION, routerConfigDigest } from '../../operator/reconcile/router-nudge.js';

let cluster: Cluster;
let operator: OperatorHandle;
let client: KubeClient;

beforeAll(async () => {
  cluster = await startCluster();
  client = adminClient(cluster);
  await installCrd(cluster);
  operator = await startOperator(cluster);
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  client?.close();
  await cluster?.stop();
});

/** Sum of an operator metric's samples (the line's name and labels start with `name`). */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${operator.op.httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

const hashAnnotation = (d: any) => d.spec.template.metadata.annotations['tinysaver.io/config-hash'];
const condition = (mc: any, type: string) => mc.status?.conditions?.find((c: any) => c.type === type);

async function applyFile(ns: string, file: string) {
  const r = await cluster.kubectl(['apply', '-n', ns, '-f', file]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

async function get(ns: string, kind: string, name: string, ...extra: string[]) {
  return kubectlJson(cluster, ['get', '-n', ns, kind, name, ...extra]);
}

describe('apply examples', () => {
  it('basic: every owned object appears with the fields that matter', async () => {
    await createNamespace(cluster, 'basic');
    await applyFile('basic', 'examples/modelcascade-basic.yaml');
    const mc = await get('basic', 'modelcascade', 'fashion');
    const m = '--show-managed-fields';
    const saver = await eventually('saver deployment', () => get('basic', 'deployment', 'fashion-saver', m));
    const base = await eventually('base deployment', () => get('basic', 'deployment', 'fashion-base', m));
    const cm = await eventually('router configmap', () => get('basic', 'configmap', 'fashion-router', m));
    const svc = await eventually('router service', () => get('basic', 'service', 'fashion', m));
    const baseSvc = await eventually('base service', () => get('basic', 'service', 'fashion-base', m));

    for (const o of [saver, base, cm, svc, baseSvc]) {
      expect(o.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'tinysaver.io/v1alpha1',
          kind: 'ModelCascade',
          name: 'fashion',
          uid: mc.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(o.metadata.labels['tinysaver.io/cascade']).toBe('fashion');
      expect(o.metadata.managedFields.some((m: any) => m.manager === 'tinysaver-operator' && m.operation === 'Apply')).toBe(true);
    }
    // GPU limit on the base, PVC mounted read-only.
    const baseC = base.spec.template.spec.containers[0];
    expect(baseC.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(base.spec.template.spec.volumes).toContainEqual({
      name: 'base-model',
      persistentVolumeClaim: { claimName: 'models', readOnly: true },
    });
    // Sidecar present, config mounted, restricted security context.
    const names = saver.spec.template.spec.containers.map((c: any) => c.name);
    expect(names).toEqual(['saver', 'router']);
    const router = saver.spec.template.spec.containers[1];
    expect(router.volumeMounts).toContainEqual({ name: 'router-config', mountPath: '/etc/tinysaver/router', readOnly: true });
    expect(router.args).toContain('http://fashion-base.basic.svc:8080');
    expect(saver.spec.replicas).toBe(2);
    for (const c of saver.spec.template.spec.containers) {
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    }
    expect(saver.spec.template.spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(JSON.parse(cm.data['threshold.json'])).toEqual({ threshold: 0.9, auditRate: 0.02 });
    expect(svc.spec.ports[0]).toMatchObject({ port: 8000, targetPort: 'http' });
    expect(svc.spec.selector).toEqual({ 'tinysaver.io/cascade': 'fashion', 'app.kubernetes.io/component': 'saver' });

    // Status: nothing runs pods here, so not Ready yet, but generation observed and the threshold reported.
    const withStatus = await eventually('status', async () => {
      const m = await get('basic', 'modelcascade', 'fashion');
      return m.status?.observedGeneration === 1 ? m : null;
    });
    expect(condition(withStatus, 'Ready')).toMatchObject({ status: 'False', reason: 'Unavailable' });
    expect(condition(withStatus, 'Progressing')).toMatchObject({ status: 'True' });
    expect(withStatus.status.threshold).toBe(0.9);
    // Printer columns work through kubectl.
    const table = await cluster.kubectl(['get', '-n', 'basic', 'mc']);
    expect(table.stdout).toMatch(/NAME\s+THRESHOLD\s+SAVER-SHARE\s+LOSS-BOUND\s+IN-USE\s+SAVED\s+READY\s+AGE/);
    expect(table.stdout).toMatch(/fashion\s+0\.9\s+False/);
    const explain = await cluster.kubectl(['explain', 'mc.spec.threshold.mode']);
    expect(explain.stdout).toContain('observe computes and reports');
  });

  it('external: no base Deployment/Service, router points at the v2 endpoint, HPA for the saver, model fetched by an init container', async () => {
    await createNamespace(cluster, 'ext');
    await applyFile('ext', 'examples/modelcascade-external.yaml');
    const saver = await eventually('saver deployment', () => get('ext', 'deployment', 'vision-triton-saver'));
    const hpa = await eventually('saver hpa', () => get('ext', 'hpa', 'vision-triton-saver'));
    expect(hpa.spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 10,
      scaleTargetRef: { kind: 'Deployment', name: 'vision-triton-saver' },
    });
    expect(saver.spec.replicas).toBe(1); // no replicas in our apply: apiserver default; the HPA owns scaling
    const router = saver.spec.template.spec.containers.find((c: any) => c.name === 'router');
    expect(router.args.join(' ')).toContain('--base-url http://triton.inference.svc:8000 --base-model resnet50');
    const init = saver.spec.template.spec.initContainers[0];
    expect(init.args.slice(0, 3)).toEqual(['fetch-model', 'https://models.example.com/vision/saver-mlp.onnx', '/models/saver/model.onnx']);
    await eventually('status', async () => (await get('ext', 'modelcascade', 'vision-triton')).status?.observedGeneration === 1);
    const deps = await kubectlJson(cluster, ['get', '-n', 'ext', 'deployments']);
    expect(deps.items.map((d: any) => d.metadata.name)).toEqual(['vision-triton-saver']);
    const svcs = await kubectlJson(cluster, ['get', '-n', 'ext', 'services']);
    expect(svcs.items.map((d: any) => d.metadata.name)).toEqual(['vision-triton']);
  });

  it('in-router: one router container running the saver model in-process; InRouter is the default', async () => {
    await createNamespace(cluster, 'inr');
    await applyFile('inr', 'examples/modelcascade-in-router.yaml');
    const mc = await get('inr', 'mc', 'fashion-inrouter');
    expect(mc.spec.saver.mode).toBe('InRouter');
    const saver = await eventually('saver deployment', () => get('inr', 'deployment', 'fashion-inrouter-saver'));
    const pod = saver.spec.template.spec;
    expect(pod.containers.map((c: any) => c.name)).toEqual(['router']);
    const router = pod.containers[0];
    expect(router.args.join(' ')).toContain('--saver-onnx /models/fashion-mnist/saver-mlp.onnx --saver-model saver --max-coalesce-rows 64');
    expect(router.args).not.toContain('--saver-url');
    // saver resources on top of the router's (apiserver-canonical quantities)
    expect(router.resources).toEqual({ requests: { cpu: '750m', memory: '384Mi' }, limits: { memory: '512Mi' } });
    expect(router.readinessProbe.httpGet).toMatchObject({ path: '/v2/health/ready', port: 'http' });
    await eventually('status', async () => (await get('inr', 'mc', 'fashion-inrouter')).status?.observedGeneration === 1);
    // The apiserver fills in the default for a cascade that does not name a mode.
    await applyFile('inr', 'examples/modelcascade-observe.yaml');
    expect((await get('inr', 'mc', 'fashion-observe')).spec.saver.mode).toBe('InRouter');
    const dflt = await eventually('default-mode deployment', () => get('inr', 'deployment', 'fashion-observe-saver'));
    expect(dflt.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['router']);
    const explain = await cluster.kubectl(['explain', 'mc.spec.saver.mode']);
    expect(explain.stdout).toMatch(/ENUM:[\s\S]*Sidecar[\s\S]*InRouter/);
    expect(explain.stdout).toContain('InRouter (default)');
  });

  it('observe: threshold stays at initial', async () => {
    await createNamespace(cluster, 'obs');
    await applyFile('obs', 'examples/modelcascade-observe.yaml');
    const mc = await eventually('status', async () => {
      const m = await get('obs', 'modelcascade', 'fashion-observe');
      return m.status?.observedGeneration === 1 ? m : null;
    });
    expect(mc.status.threshold).toBe(0.9);
    const base = await get('obs', 'deployment', 'fashion-observe-base');
    expect(base.spec.template.spec.containers[0].resources.limits?.['nvidia.com/gpu']).toBeUndefined();

    // a new fixed threshold changes the ConfigMap; the router pods get the digest of its data (so the kubelet
    // refreshes the mounted file now, not at its next periodic sync), the base pod does not
    const pod = (name: string, component: string) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { 'tinysaver.io/cascade': 'fashion-observe', 'app.kubernetes.io/component': component } },
      spec: { containers: [{ name: 'c', image: 'x' }] },
    });
    for (const [n, c] of [
      ['router-a', 'saver'],
      ['router-b', 'saver'],
      ['base-a', 'base'],
    ])
      expect((await cluster.kubectl(['apply', '-n', 'obs', '-f', '-'], JSON.stringify(pod(n, c)))).code).toBe(0);
    const patched = await cluster.kubectl([
      'patch',
      '-n',
      'obs',
      'mc',
      'fashion-observe',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { threshold: { initial: 0.93 } } }),
    ]);
    expect(patched.code, patched.stderr).toBe(0);
    const cm = await eventually('ConfigMap with 0.93', async () => {
      const c = await get('obs', 'configmap', 'fashion-observe-router');
      return JSON.parse(c.data['threshold.json']).threshold === 0.93 ? c : null;
    });
    const digest = routerConfigDigest(cm.data);
    await eventually('router pods annotated', async () => {
      const a = await get('obs', 'pod', 'router-a');
      const b = await get('obs', 'pod', 'router-b');
      return a.metadata.annotations?.[ROUTER_CONFIG_ANNOTATION] === digest && b.metadata.annotations?.[ROUTER_CONFIG_ANNOTATION] === digest;
    });
    expect((await get('obs', 'pod', 'base-a')).metadata.annotations?.[ROUTER_CONFIG_ANNOTATION]).toBeUndefined();
  });
});

describe('validation by the apiserver', () => {
  const manifest = (name: string, spec: string) => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata:
  name: ${name}
  namespace: default
spec:
${spec}`;
  const saverOk = '  saver: {model: /m/saver.onnx}\n';
  const cases: [string, string, string, RegExp][] = [
    [
      'min > initial',
      'thr',
      `${saverOk}  base: {model: /m/base.onnx}\n  threshold: {initial: 0.5, min: 0.6, max: 0.9}\n`,
      /spec\.threshold.*min <= initial <= max/,
    ],
    [
      'initial > max',
      'thr2',
      `${saverOk}  base: {model: /m/base.onnx}\n  threshold: {initial: 0.95, max: 0.9}\n`,
      /spec\.threshold.*min <= initial <= max/,
    ],
    [
      'both base model and external',
      'both',
      `${saverOk}  base: {model: /m/base.onnx, external: {url: "http://t:8000", modelName: m}}\n`,
      /spec\.base.*exactly one of base\.model/,
    ],
    ['neither base model nor external', 'neither', `${saverOk}  base: {gpus: 1}\n`, /spec\.base.*exactly one of base\.model/],
    [
      'unsupported model URI scheme',
      'scheme',
      '  saver: {model: "s3://bucket/x.onnx"}\n  base: {model: /m/base.onnx}\n',
      /spec\.saver\.model/,
    ],
    ['audit rate above 1', 'audit', `${saverOk}  base: {model: /m/base.onnx}\n  router: {auditRate: 1.5}\n`, /spec\.router\.auditRate/],
    [
      'unknown threshold mode',
      'mode',
      `${saverOk}  base: {model: /m/base.onnx}\n  threshold: {mode: magic}\n`,
      /spec\.threshold\.mode.*Unsupported value/,
    ],
    [
      'unknown saver mode',
      'smode',
      '  saver: {model: /m/saver.onnx, mode: Bogus}\n  base: {model: /m/base.onnx}\n',
      /spec\.saver\.mode.*Unsupported value.*"Sidecar", "InRouter"/,
    ],
    [
      'window shorter than interval',
      'win',
      `${saverOk}  base: {model: /m/base.onnx}\n  control: {interval: 5m, window: 1m}\n`,
      /spec\.control.*window must be at least interval/,
    ],
    ['missing saver', 'nosaver', '  base: {model: /m/base.onnx}\n', /spec\.saver: Required value/],
    [
      'autoscaling min > max',
      'hpa',
      `${saverOk}  base: {model: /m/base.onnx}\n  autoscaling: {saver: {minReplicas: 5, maxReplicas: 2}}\n`,
      /spec\.autoscaling\.saver.*minReplicas must be <= maxReplicas/,
    ],
    ['name that cannot name a Service', '9lives', `${saverOk}  base: {model: /m/base.onnx}\n`, /metadata\.name.*DNS-1035/],
  ];
  it.each(cases)('rejects %s with a message naming the field', async (_label, name, spec, message) => {
    const r = await cluster.kubectl(['apply', '-f', '-'], manifest(name, spec));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    const list = await kubectlJson(cluster, ['get', '-n', 'default', 'mc']);
    expect(list.items.map((i: any) => i.metadata.name)).not.toContain(name);
  });
});

describe('updates', () => {
  it('spec change updates owned objects; switching the base to external removes the base objects', async () => {
    await createNamespace(cluster, 'upd');
    await applyFile('upd', 'examples/modelcascade-basic.yaml');
    const before = await eventually('saver', () => get('upd', 'deployment', 'fashion-saver'));
    const r = await cluster.kubectl([
      'patch',
      '-n',
      'upd',
      'mc',
      'fashion',
      '--type',
      'merge',
      '-p',
      '{"spec":{"saver":{"replicas":3},"router":{"confidence":"margin"}}}',
    ]);
    expect(r.code).toBe(0);
    const after = await eventually('saver updated', async () => {
      const d = await get('upd', 'deployment', 'fashion-saver');
      return d.spec.replicas === 3 ? d : null;
    });
    expect(after.spec.template.spec.containers[1].args.join(' ')).toContain('--confidence margin');
    expect(hashAnnotation(after)).not.toBe(hashAnnotation(before));

    const ext = await cluster.kubectl([
      'patch',
      '-n',
      'upd',
      'mc',
      'fashion',
      '--type',
      'json',
      '-p',
      JSON.stringify([
        { op: 'remove', path: '/spec/base/model' },
        { op: 'add', path: '/spec/base/external', value: { url: 'http://kserve.x.svc', modelName: 'big' } },
      ]),
    ]);
    expect(ext.stderr).toBe('');
    await eventually('base removed', async () => {
      const deps = await kubectlJson(cluster, ['get', '-n', 'upd', 'deployments']);
      const svcs = await kubectlJson(cluster, ['get', '-n', 'upd', 'services']);
      return (
        !deps.items.some((d: any) => d.metadata.name === 'fashion-base') && !svcs.items.some((s: any) => s.metadata.name === 'fashion-base')
      );
    });
    const saver = await get('upd', 'deployment', 'fashion-saver');
    expect(saver.spec.template.spec.containers[1].args.join(' ')).toContain('--base-url http://kserve.x.svc --base-model big');

    // Sidecar -> InRouter and back: the saver container goes and comes back, the pods roll each time.
    const toIn = await cluster.kubectl([
      'patch',
      '-n',
      'upd',
      'mc',
      'fashion',
      '--type',
      'merge',
      '-p',
      '{"spec":{"saver":{"mode":"InRouter"}}}',
    ]);
    expect(toIn.code).toBe(0);
    const inRouter = await eventually('in-router', async () => {
      const d = await get('upd', 'deployment', 'fashion-saver');
      return d.spec.template.spec.containers.length === 1 ? d : null;
    });
    expect(inRouter.spec.template.spec.containers[0].args).toContain('--saver-onnx');
    expect(hashAnnotation(inRouter)).not.toBe(hashAnnotation(saver));
    const back = await cluster.kubectl([
      'patch',
      '-n',
      'upd',
      'mc',
      'fashion',
      '--type',
      'merge',
      '-p',
      '{"spec":{"saver":{"mode":"Sidecar"}}}',
    ]);
    expect(back.code).toBe(0);
    const sidecar = await eventually('sidecar again', async () => {
      const d = await get('upd', 'deployment', 'fashion-saver');
      return d.spec.template.spec.containers.length === 2 ? d : null;
    });
    expect(sidecar.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['saver', 'router']);
    expect(hashAnnotation(sidecar)).toBe(hashAnnotation(saver));
  });

  it('repairs drift: a hand-edited Deployment is put back, a deleted ConfigMap is recreated', async () => {
    await createNamespace(cluster, 'drift');
    await applyFile('drift', 'examples/modelcascade-basic.yaml');
    await eventually('saver', () => get('drift', 'deployment', 'fashion-saver'));
    await eventually('configmap', () => get('drift', 'configmap', 'fashion-router'));
    expect((await cluster.kubectl(['scale', '-n', 'drift', 'deployment/fashion-saver', '--replicas=7'])).code).toBe(0);
    await eventually('replicas restored', async () => (await get('drift', 'deployment', 'fashion-saver')).spec.replicas === 2);
    expect((await cluster.kubectl(['delete', '-n', 'drift', 'configmap', 'fashion-router'])).code).toBe(0);
    const cm = await eventually('configmap recreated', () => get('drift', 'configmap', 'fashion-router'));
    expect(JSON.parse(cm.data['threshold.json']).threshold).toBe(0.9);
  });

  // The reconciler skips applies whose result it already knows (operator/reconcile/applied.ts); every edit of a
  // field it sets must still be put back, on the event that reports it.
  it('repairs drift in every owned kind: an edited image, Service port and ConfigMap data, a removed label', async () => {
    await createNamespace(cluster, 'drift2');
    await applyFile('drift2', 'examples/modelcascade-basic.yaml');
    const saver = await eventually('saver', () => get('drift2', 'deployment', 'fashion-saver'));
    await eventually('status', async () => (await get('drift2', 'mc', 'fashion')).status?.observedGeneration === 1);
    const image = saver.spec.template.spec.containers[0].image;
    const patch = (kind: string, name: string, body: object, type = 'merge') =>
      cluster.kubectl(['patch', '-n', 'drift2', kind, name, '--type', type, '-p', JSON.stringify(body)]);
    expect(
      (
        await patch(
          'deployment',
          'fashion-saver',
          [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'evil:1' }],
          'json',
        )
      ).code,
    ).toBe(0);
    await eventually(
      'image restored',
      async () => (await get('drift2', 'deployment', 'fashion-saver')).spec.template.spec.containers[0].image === image,
    );
    // (targetPort, not port: ports are a list keyed by port, so an edited port is another item, not drift of ours)
    const svc = await get('drift2', 'service', 'fashion');
    const target = svc.spec.ports[0].targetPort;
    expect((await patch('service', 'fashion', [{ op: 'replace', path: '/spec/ports/0/targetPort', value: 9999 }], 'json')).code).toBe(0);
    await eventually(
      'service targetPort restored',
      async () => (await get('drift2', 'service', 'fashion')).spec.ports[0].targetPort === target,
    );
    expect((await patch('configmap', 'fashion-router', { data: { 'threshold.json': '{"threshold":0.1}' } })).code).toBe(0);
    await eventually(
      'configmap data restored',
      async () => JSON.parse((await get('drift2', 'configmap', 'fashion-router')).data['threshold.json']).threshold === 0.9,
    );
    // Without the cascade label the Deployment leaves the operator's label-selected cache: a cache miss.
    expect((await cluster.kubectl(['label', '-n', 'drift2', 'deployment', 'fashion-base', 'tinysaver.io/cascade-'])).code).toBe(0);
    await eventually(
      'label restored',
      async () => (await get('drift2', 'deployment', 'fashion-base')).metadata.labels?.['tinysaver.io/cascade'] === 'fashion',
    );
  });

  it('an unchanged cascade is not applied again: a reconcile with nothing to change sends no apply', async () => {
    await createNamespace(cluster, 'idle');
    await applyFile('idle', 'examples/modelcascade-basic.yaml');
    await eventually('status', async () => (await get('idle', 'mc', 'fashion')).status?.observedGeneration === 1);
    // quiet: no apply for a while (nothing else in this file is changing)
    let applied = await metric('tinysaver_operator_applies_total{result="applied"}');
    await eventually('no applies in flight', async () => {
      await new Promise((r) => setTimeout(r, 1500));
      const now = await metric('tinysaver_operator_applies_total{result="applied"}');
      const quiet = now === applied;
      applied = now;
      return quiet;
    });
    const skipped = await metric('tinysaver_operator_applies_total{result="skipped"}');
    // An annotation on the cascade changes its metadata: the reconciler runs (and finds nothing to send:
    // its five objects are counted as skipped).
    expect((await cluster.kubectl(['annotate', '-n', 'idle', 'mc', 'fashion', 'note=1'])).code).toBe(0);
    await eventually('reconciled', async () => (await metric('tinysaver_operator_applies_total{result="skipped"}')) >= skipped + 5);
    expect(await metric('tinysaver_operator_applies_total{result="applied"}')).toBe(applied);
    // ... while a spec change is applied
    await cluster.kubectl(['patch', '-n', 'idle', 'mc', 'fashion', '--type', 'merge', '-p', '{"spec":{"saver":{"replicas":3}}}']);
    await eventually('applied', async () => (await get('idle', 'deployment', 'fashion-saver')).spec.replicas === 3);
    expect(await metric('tinysaver_operator_applies_total{result="applied"}')).toBeGreaterThan(applied);
  });

  it('threshold-only change updates the ConfigMap and leaves the pod template alone', async () => {
    await createNamespace(cluster, 'thr');
    await applyFile('thr', 'examples/modelcascade-basic.yaml');
    const saver = await eventually('saver', () => get('thr', 'deployment', 'fashion-saver'));
    await eventually('status', async () => (await get('thr', 'mc', 'fashion')).status?.observedGeneration === 1);
    // In mode fixed the threshold is spec.threshold.initial; the audit rate rides in the same hot-reloaded file.
    const r = await cluster.kubectl([
      'patch',
      '-n',
      'thr',
      'mc',
      'fashion',
      '--type',
      'merge',
      '-p',
      '{"spec":{"threshold":{"mode":"fixed","initial":0.8},"router":{"auditRate":0.1}}}',
    ]);
    expect(r.code).toBe(0);
    await eventually('configmap updated', async () => {
      const cm = await get('thr', 'configmap', 'fashion-router');
      const v = JSON.parse(cm.data['threshold.json']);
      return v.threshold === 0.8 && v.auditRate === 0.1;
    });
    const mc = await eventually('generation 2 observed', async () => {
      const m = await get('thr', 'mc', 'fashion');
      return m.status?.observedGeneration === 2 ? m : null;
    });
    expect(mc.status.threshold).toBe(0.8);
    const again = await get('thr', 'deployment', 'fashion-saver');
    expect(hashAnnotation(again)).toBe(hashAnnotation(saver));
    // Not even a new Deployment generation: the pod template did not change, so nothing would roll.
    expect(again.metadata.generation).toBe(saver.metadata.generation);
  });

  it('the threshold controller seam: in mode adaptive, status.threshold flows into the ConfigMap, clamped to [min, max]', async () => {
    // Issue 5's controller writes status.threshold; reconcile must carry it to the routers and not fight it.
    await createNamespace(cluster, 'seam');
    await applyFile('seam', 'examples/modelcascade-basic.yaml');
    await eventually('status', async () => (await get('seam', 'mc', 'fashion')).status?.observedGeneration === 1);
    const saver = await get('seam', 'deployment', 'fashion-saver');
    await client.request('PATCH', '/apis/tinysaver.io/v1alpha1/namespaces/seam/modelcascades/fashion/status', {
      contentType: 'application/merge-patch+json',
      body: { status: { threshold: 0.85 } },
    });
    const thresholdInFile = async () => JSON.parse((await get('seam', 'configmap', 'fashion-router')).data['threshold.json']).threshold;
    await eventually('configmap follows status', async () => (await thresholdInFile()) === 0.85);
    expect((await get('seam', 'mc', 'fashion')).status.threshold).toBe(0.85);
    // Raising min above it clamps the routers' threshold.
    await cluster.kubectl(['patch', '-n', 'seam', 'mc', 'fashion', '--type', 'merge', '-p', '{"spec":{"threshold":{"min":0.88}}}']);
    await eventually('clamped to min', async () => (await thresholdInFile()) === 0.88);
    expect(hashAnnotation(await get('seam', 'deployment', 'fashion-saver'))).toBe(hashAnnotation(saver));
  });
});

describe('status', () => {
  it('Deployments patched to ready -> Ready=True with the current observedGeneration', async () => {
    await createNamespace(cluster, 'rdy');
    await applyFile('rdy', 'examples/modelcascade-basic.yaml');
    await cluster.kubectl(['patch', '-n', 'rdy', 'mc', 'fashion', '--type', 'merge', '-p', '{"spec":{"saver":{"replicas":1}}}']);
    const gen = (await get('rdy', 'mc', 'fashion')).metadata.generation;
    expect(gen).toBe(2);
    await eventually('deployments', async () => (await get('rdy', 'deployment', 'fashion-saver')).spec.replicas === 1);
    await eventually('base', () => get('rdy', 'deployment', 'fashion-base'));
    await markDeploymentReady(client, 'rdy', 'fashion-saver');
    // Only the saver is ready: still not Ready.
    await eventually('saver counted', async () =>
      condition(await get('rdy', 'mc', 'fashion'), 'Ready')?.message?.includes('fashion-saver 1/1 available'),
    );
    expect(condition(await get('rdy', 'mc', 'fashion'), 'Ready').status).toBe('False');
    await markDeploymentReady(client, 'rdy', 'fashion-base');
    const mc = await eventually('Ready=True', async () => {
      const m = await get('rdy', 'mc', 'fashion');
      return condition(m, 'Ready')?.status === 'True' ? m : null;
    });
    expect(mc.status.observedGeneration).toBe(gen);
    expect(condition(mc, 'Ready').observedGeneration).toBe(gen);
    expect(condition(mc, 'Progressing').status).toBe('False');
    expect(condition(mc, 'Degraded').status).toBe('False');
    const w = await cluster.kubectl(['wait', '-n', 'rdy', '--for=condition=Ready', 'mc/fashion', '--timeout=10s']);
    expect(w.code).toBe(0);
    const events = await kubectlJson(cluster, ['get', '-n', 'rdy', 'events', '--field-selector', 'involvedObject.name=fashion']);
    const reasons = events.items.map((e: any) => e.reason);
    expect(reasons).toContain('Ready');
    // Created events name each owned object once (the apply that created it answered 201), none for later
    // applies; one Event per reconcile, not per object.
    const created = events.items.filter((e: any) => e.reason === 'Created').map((e: any) => e.message);
    expect(created.length).toBeLessThanOrEqual(2);
    expect(created.flatMap((m: string) => m.replace(/^created /, '').split(', ')).sort()).toEqual([
      'ConfigMap fashion-router',
      'Deployment fashion-base',
      'Deployment fashion-saver',
      'Service fashion',
      'Service fashion-base',
    ]);
  });
});

describe('specs the schema accepts but pods cannot use', () => {
  it('a model path escaping its volume -> Degraded=InvalidSpec with the field named, a Warning Event, and no workloads', async () => {
    await createNamespace(cluster, 'bad');
    const r = await cluster.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: escape, namespace: bad}
spec:
  saver: {model: "pvc://models/../../etc/passwd"}
  base: {model: /m/base.onnx}
`,
    );
    expect(r.code).toBe(0);
    const mc = await eventually('status', async () => {
      const m = await get('bad', 'mc', 'escape');
      return m.status?.observedGeneration === 1 ? m : null;
    });
    expect(condition(mc, 'Degraded')).toMatchObject({ status: 'True', reason: 'InvalidSpec' });
    expect(condition(mc, 'Degraded').message).toContain('saver.model');
    expect(condition(mc, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect((await kubectlJson(cluster, ['get', '-n', 'bad', 'deployments'])).items).toEqual([]);
    const events = await eventually('warning event', async () => {
      const ev = await kubectlJson(cluster, ['get', '-n', 'bad', 'events', '--field-selector', 'involvedObject.name=escape,type=Warning']);
      return ev.items.length ? ev.items : null;
    });
    expect(events[0].reason).toBe('InvalidSpec');
    // Fixing the spec recovers.
    await cluster.kubectl([
      'patch',
      '-n',
      'bad',
      'mc',
      'escape',
      '--type',
      'merge',
      '-p',
      '{"spec":{"saver":{"model":"pvc://models/saver.onnx"}}}',
    ]);
    await eventually('recovered', async () => condition(await get('bad', 'mc', 'escape'), 'Degraded')?.status === 'False');
    expect((await get('bad', 'deployment', 'escape-saver')).spec.template.spec.volumes).toContainEqual({
      name: 'saver-model',
      persistentVolumeClaim: { claimName: 'models', readOnly: true },
    });
  });
});

describe('objects the operator does not own', () => {
  it('a pre-existing Service with the cascade name is neither adopted nor changed: Degraded=NameConflict until it is gone', async () => {
    await createNamespace(cluster, 'conf');
    const svc = await cluster.kubectl(['create', 'service', 'clusterip', 'taken', '-n', 'conf', '--tcp=80:80']);
    expect(svc.code).toBe(0);
    const before = await get('conf', 'service', 'taken');
    const r = await cluster.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: taken, namespace: conf}
spec:
  saver: {model: /m/s.onnx}
  base: {model: /m/b.onnx}
`,
    );
    expect(r.code).toBe(0);
    const mc = await eventually('conflict reported', async () => {
      const m = await get('conf', 'mc', 'taken');
      return condition(m, 'Degraded')?.reason === 'NameConflict' ? m : null;
    });
    expect(condition(mc, 'Degraded').message).toContain('Service taken already exists and is not controlled by this ModelCascade');
    const after = await get('conf', 'service', 'taken');
    expect(after.metadata.ownerReferences).toBeUndefined();
    expect(after.spec.ports).toEqual(before.spec.ports);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    await cluster.kubectl(['delete', 'service', 'taken', '-n', 'conf']);
    // No event tells the operator (the Service was not labelled): the retry with backoff picks it up.
    const ok = await eventually(
      'recovered',
      async () => {
        const s = await get('conf', 'service', 'taken');
        return s.metadata.ownerReferences?.[0]?.uid === mc.metadata.uid ? s : null;
      },
      90_000,
    );
    expect(ok.spec.ports[0].port).toBe(8000);
    await eventually('not degraded', async () => condition(await get('conf', 'mc', 'taken'), 'Degraded')?.status === 'False');
  }, 120_000);
});

describe('restart and deletion', () => {
  it('operator stopped mid-way and restarted converges with no duplicate or lost objects', async () => {
    await createNamespace(cluster, 'rst');
    const many = Array.from(
      { length: 12 },
      (_, i) => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: c${i}, namespace: rst}
spec:
  saver: {model: /m/s.onnx}
  base: {model: /m/b.onnx}
`,
    ).join('---\n');
    const r = await cluster.kubectl(['apply', '-f', '-'], many);
    expect(r.code).toBe(0);
    // Stop as soon as the operator has started creating objects, so some cascades are half done.
    await eventually(
      'first objects',
      async () => (await kubectlJson(cluster, ['get', '-n', 'rst', 'deployments'])).items.length > 0,
      30_000,
    );
    await operator.stop();
    const mid = (await kubectlJson(cluster, ['get', '-n', 'rst', 'deployments'])).items.length;
    operator = await startOperator(cluster);
    await eventually(
      'all objects',
      async () => {
        const deps = await kubectlJson(cluster, ['get', '-n', 'rst', 'deployments']);
        return deps.items.length === 24;
      },
      60_000,
    );
    await eventually(
      'all statuses',
      async () => {
        const mcs = await kubectlJson(cluster, ['get', '-n', 'rst', 'mc']);
        return mcs.items.every((m: any) => m.status?.observedGeneration === 1);
      },
      60_000,
    );
    for (const [kind, n] of [
      ['deployments', 24],
      ['services', 24],
      ['configmaps', 12],
    ] as const) {
      const items = (await kubectlJson(cluster, ['get', '-n', 'rst', kind, '-l', 'tinysaver.io/cascade'])).items;
      const names = items.map((i: any) => i.metadata.name);
      expect(new Set(names).size).toBe(names.length);
      expect(items.length).toBe(n);
    }
    expect(mid).toBeLessThanOrEqual(24);
  });

  it('deleting the ModelCascade leaves owned objects pointing at it (no garbage collector runs in this harness)', async () => {
    const mc = await get('basic', 'mc', 'fashion');
    const r = await cluster.kubectl(['delete', '-n', 'basic', 'mc', 'fashion', '--wait=true']);
    expect(r.code).toBe(0);
    const gone = await cluster.kubectl(['get', '-n', 'basic', 'mc', 'fashion']);
    expect(gone.stderr).toContain('NotFound');
    // In a real cluster the garbage collector deletes these because of the controller owner reference;
    // envtest has no kube-controller-manager, so they stay and we check the reference is right.
    for (const [kind, name] of [
      ['deployment', 'fashion-saver'],
      ['deployment', 'fashion-base'],
      ['service', 'fashion'],
      ['configmap', 'fashion-router'],
    ]) {
      const o = await get('basic', kind, name);
      expect(o.metadata.ownerReferences).toEqual([
        expect.objectContaining({ uid: mc.metadata.uid, controller: true, blockOwnerDeletion: true, kind: 'ModelCascade' }),
      ]);
    }
    // And the operator does not recreate anything or crash on the deletion.
    await new Promise((res) => setTimeout(res, 500));
    const health = await fetch(`http://127.0.0.1:${operator.op.httpPort}/healthz`);
    expect(health.status).toBe(200);
  });
});
