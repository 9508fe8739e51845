// spec.saver.mode: InRouter (default since issue 14: the router runs the saver model in-process, one
// container) vs Sidecar (saver model-server container + router, exactly as before when given explicitly).
import { describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { withDefaults } from '../../operator/api/model-cascade.js';
import { buildOwnedObjects } from '../../operator/reconcile/builders/index.js';
import { buildSaverDeployment } from '../../operator/reconcile/builders/workloads.js';
import { CONFIG_HASH_ANNOTATION } from '../../operator/reconcile/builders/labels.js';
import { combinedResources } from '../../operator/reconcile/builders/combined-resources.js';
import { addQuantities, maxQuantity, parseQuantity } from '../../operator/reconcile/builders/quantity.js';

function mc(saver: Partial<ModelCascade['spec']['saver']> = {}, spec: Partial<ModelCascade['spec']> = {}): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'fashion', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: {
      base: { model: 'pvc://models/base/resnet.onnx' },
      ...spec,
      saver: { model: 'https://models.example.com/saver.onnx', ...saver },
    },
  };
}

const pod = (d: any) => d.spec.template.spec;
const container = (d: any, name: string) => pod(d).containers.find((c: any) => c.name === name);
const hashOf = (d: any) => d.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];

const ROUTER_TAIL = [
  '--base-url',
  'http://fashion-base.ml.svc:8080',
  '--base-model',
  'base',
  '--threshold-file',
  '/etc/tinysaver/router/threshold.json',
  '--confidence',
  'max-prob',
  '--audit-concurrency',
  '4',
  '--failure-policy',
  'fallback',
  '--base-timeout-ms',
  '2000',
  '--grpc-port',
  '9000',
];

describe('spec.saver.mode default', () => {
  it('defaults to InRouter; an explicit InRouter builds exactly what an absent field builds', () => {
    expect(withDefaults(mc().spec).saver.mode).toBe('InRouter');
    expect(buildOwnedObjects(mc({ mode: 'InRouter' }))).toEqual(buildOwnedObjects(mc()));
    expect(buildOwnedObjects(mc({ mode: 'Sidecar' }))).not.toEqual(buildOwnedObjects(mc()));
  });
});

describe('spec.saver.mode Sidecar (explicit)', () => {
  it('saver model-server container on 127.0.0.1:8001 plus the router calling it over HTTP', () => {
    const d = buildSaverDeployment(mc({ mode: 'Sidecar', maxBatchSize: 16, resources: { requests: { cpu: '500m' } } }));
    expect(pod(d).containers.map((c: any) => c.name)).toEqual(['saver', 'router']);
    expect(container(d, 'saver').args).toEqual([
      'serve-model',
      '--model',
      '/models/saver/model.onnx',
      '--name',
      'saver',
      '--host',
      '127.0.0.1',
      '--port',
      '8001',
      '--max-batch-size',
      '16',
      '--max-queue-delay-ms',
      '2',
      '--inference-thread',
      'main',
    ]);
    expect(container(d, 'saver').resources).toEqual({ requests: { cpu: '500m' } });
    expect(container(d, 'router').args).toEqual([
      'route',
      '--host',
      '0.0.0.0',
      '--port',
      '8000',
      '--name',
      'cascade',
      '--saver-url',
      'http://127.0.0.1:8001',
      '--saver-model',
      'saver',
      ...ROUTER_TAIL,
    ]);
    expect(container(d, 'router').resources).toEqual({});
    // The model volume is the saver container's only.
    expect(container(d, 'router').volumeMounts.map((m: any) => m.name)).toEqual(['router-config', 'tmp']);
    expect(container(d, 'saver').volumeMounts).toContainEqual({ name: 'saver-model', mountPath: '/models/saver', readOnly: true });
  });
});

describe('spec.saver.mode InRouter', () => {
  const d = buildSaverDeployment(mc({ mode: 'InRouter', maxBatchSize: 16, maxQueueDelayMs: 7 })) as any;
  const router = container(d, 'router');

  it('has no saver container; the router runs the model with --saver-onnx and coalesces up to maxBatchSize rows', () => {
    expect(pod(d).containers.map((c: any) => c.name)).toEqual(['router']);
    expect(router.args).toEqual([
      'route',
      '--host',
      '0.0.0.0',
      '--port',
      '8000',
      '--name',
      'cascade',
      '--saver-onnx',
      '/models/saver/model.onnx',
      '--saver-model',
      'saver',
      '--max-coalesce-rows',
      '16',
      ...ROUTER_TAIL,
    ]);
    expect(router.args).not.toContain('--saver-url');
  });

  it('the router mounts the saver model; the fetch-model init container still fills it', () => {
    expect(router.volumeMounts).toEqual([
      { name: 'router-config', mountPath: '/etc/tinysaver/router', readOnly: true },
      { name: 'saver-model', mountPath: '/models/saver', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(pod(d).volumes).toContainEqual({ name: 'saver-model', emptyDir: {} });
    expect(pod(d).initContainers.map((c: any) => c.name)).toEqual(['fetch-saver-model']);
    expect(pod(d).initContainers[0].args.slice(0, 3)).toEqual([
      'fetch-model',
      'https://models.example.com/saver.onnx',
      '/models/saver/model.onnx',
    ]);
  });

  it('a PVC model is mounted into the router; an image model needs no mount', () => {
    const pvc = buildSaverDeployment(mc({ mode: 'InRouter', model: 'pvc://models/s/tiny.onnx' }));
    expect(container(pvc, 'router').args).toContain('/models/saver/s/tiny.onnx');
    expect(container(pvc, 'router').volumeMounts).toContainEqual({ name: 'saver-model', mountPath: '/models/saver', readOnly: true });
    expect(pod(pvc).volumes).toContainEqual({ name: 'saver-model', persistentVolumeClaim: { claimName: 'models', readOnly: true } });
    const img = buildSaverDeployment(mc({ mode: 'InRouter', model: 'file:///opt/tiny.onnx' }));
    expect(container(img, 'router').args[container(img, 'router').args.indexOf('--saver-onnx') + 1]).toBe('/opt/tiny.onnx');
    expect(container(img, 'router').volumeMounts.map((m: any) => m.name)).toEqual(['router-config', 'tmp']);
    expect(pod(img).initContainers).toBeUndefined();
  });

  it('keeps the port, probes, security context and metrics annotations of the router', () => {
    expect(router.ports).toEqual([
      { name: 'http', containerPort: 8000, protocol: 'TCP' },
      { name: 'grpc', containerPort: 9000, protocol: 'TCP' },
    ]);
    expect(router.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
    expect(router.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
    expect(router.securityContext).toMatchObject({ readOnlyRootFilesystem: true, runAsNonRoot: true, allowPrivilegeEscalation: false });
    expect(d.spec.template.metadata.annotations['prometheus.io/port']).toBe('8000');
  });

  it('gives the router the saver resources on top of its own', () => {
    const r = buildSaverDeployment(
      mc(
        { mode: 'InRouter', resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '512Mi' } } },
        { router: { resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } } } },
      ),
    );
    expect(container(r, 'router').resources).toEqual({ requests: { cpu: '750m', memory: '320Mi' }, limits: { memory: '640Mi' } });
  });

  it('same Service, HPA and object set as Sidecar', () => {
    const kinds = (m: ModelCascade) => buildOwnedObjects(m).map((o: any) => `${o.kind}/${o.metadata.name}`);
    const a = { autoscaling: { saver: { maxReplicas: 4 } } };
    expect(kinds(mc({ mode: 'InRouter' }, a))).toEqual(kinds(mc({ mode: 'Sidecar' }, a)));
  });

  it('switching the mode changes the config hash (pods roll); rebuilding is stable', () => {
    const side = hashOf(buildSaverDeployment(mc({ mode: 'Sidecar' })));
    const inr = hashOf(buildSaverDeployment(mc({ mode: 'InRouter' })));
    expect(inr).not.toBe(side);
    expect(hashOf(buildSaverDeployment(mc({ mode: 'InRouter' })))).toBe(inr);
    // maxBatchSize now reaches the router's args, so it rolls the pod in both modes.
    expect(hashOf(buildSaverDeployment(mc({ mode: 'InRouter', maxBatchSize: 8 })))).not.toBe(inr);
  });
});

describe('combinedResources (InRouter router container)', () => {
  it('adds requests and limits per resource name', () => {
    expect(combinedResources({ requests: { cpu: 1 } }, { requests: { cpu: '500m' } })).toEqual({ requests: { cpu: '1500m' } });
    expect(combinedResources({}, {})).toEqual({});
    expect(combinedResources({}, { requests: { cpu: '2' }, limits: { memory: '1Gi' } })).toEqual({
      requests: { cpu: '2' },
      limits: { memory: '1Gi' },
    });
  });
  it('a side with only a limit counts it as its request (Kubernetes defaulting); a limit never ends below the request', () => {
    expect(combinedResources({ limits: { cpu: '1' } }, { requests: { cpu: '2' } })).toEqual({
      requests: { cpu: '3' },
      limits: { cpu: '3' },
    });
    expect(combinedResources({ limits: { memory: '128Mi' } }, { limits: { memory: '1Gi' } })).toEqual({ limits: { memory: '1152Mi' } });
  });
});

describe('quantities', () => {
  it('parses the Kubernetes forms exactly', () => {
    expect(parseQuantity('500m')!.nano).toBe(500_000_000n);
    expect(parseQuantity(2)!.nano).toBe(2_000_000_000n);
    expect(parseQuantity('1.5Gi')!.nano).toBe(1536n * 1024n * 1024n * 1_000_000_000n);
    expect(parseQuantity('1e3')!.nano).toBe(1000n * 1_000_000_000n);
    expect(parseQuantity('1E')!.nano).toBe(10n ** 27n);
    expect(parseQuantity('.5')!.nano).toBe(500_000_000n);
    expect(parseQuantity('0.0000000001')!.nano).toBe(1n); // below 1n rounds up
    for (const bad of ['', 'abc', '1.5.5', '1Q', '1e1.5', '--1']) expect(parseQuantity(bad)).toBeNull();
  });
  it('adds with the shortest exact suffix', () => {
    expect(addQuantities('256Mi', '1Gi')).toBe('1280Mi');
    expect(addQuantities('512Mi', '512Mi')).toBe('1Gi');
    expect(addQuantities('1', '500m')).toBe('1500m');
    expect(addQuantities('500m', '500m')).toBe('1');
    expect(addQuantities('1G', '500M')).toBe('1500M');
    expect(addQuantities('100Mi', '1M')).toBe('105857600');
    expect(addQuantities('1', 'x')).toBeNull();
  });
  it('max compares across suffixes', () => {
    expect(maxQuantity('1Gi', '1G')).toBe('1Gi');
    expect(maxQuantity('900m', 1)).toBe(1);
  });
});
