import { describe, expect, it } from 'vitest';
import type { ModelCascade } from '../../operator/api/model-cascade.js';
import { buildOwnedObjects, effectiveThreshold } from '../../operator/reconcile/builders/index.js';
import { buildSaverDeployment, buildBaseDeployment, baseEndpoint } from '../../operator/reconcile/builders/workloads.js';
import { buildRouterConfigMap } from '../../operator/reconcile/builders/router-config.js';
import { modelSource, ModelUriError } from '../../operator/reconcile/builders/model-source.js';
import { CONFIG_HASH_ANNOTATION } from '../../operator/reconcile/builders/labels.js';

function mc(spec: Partial<ModelCascade['spec']> = {}, status?: ModelCascade['status']): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'fashion', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: {
      saver: { model: 'file:///models/saver.onnx' },
      base: { model: 'pvc://models/base/resnet.onnx' },
      ...spec,
    },
    status,
  };
}

const container = (d: any, name: string) => d.spec.template.spec.containers.find((c: any) => c.name === name);
const hashOf = (d: any) => d.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];

describe('buildOwnedObjects', () => {
  it('produces ConfigMap, base Deployment+Service, saver Deployment+Service for an in-cluster base', () => {
    const kinds = buildOwnedObjects(mc()).map((o: any) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual([
      'ConfigMap/fashion-router',
      'Deployment/fashion-base',
      'Service/fashion-base',
      'Deployment/fashion-saver',
      'Service/fashion',
    ]);
  });

  it('omits base objects for an external base and points the router at it', () => {
    const m = mc({ base: { external: { url: 'http://triton.x.svc:8000/', modelName: 'resnet' } } });
    const kinds = buildOwnedObjects(m).map((o: any) => o.metadata.name);
    expect(kinds).not.toContain('fashion-base');
    const args: string[] = container(buildSaverDeployment(m), 'router').args;
    expect(args[args.indexOf('--base-url') + 1]).toBe('http://triton.x.svc:8000');
    expect(args[args.indexOf('--base-model') + 1]).toBe('resnet');
  });

  it('sets controller owner references and the cascade label on every object', () => {
    for (const o of buildOwnedObjects(mc()) as any[]) {
      expect(o.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'tinysaver.io/v1alpha1',
          kind: 'ModelCascade',
          name: 'fashion',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(o.metadata.labels['tinysaver.io/cascade']).toBe('fashion');
      expect(o.metadata.labels['app.kubernetes.io/managed-by']).toBe('tinysaver-operator');
      expect(o.metadata.namespace).toBe('ml');
    }
  });

  it('adds HPAs only when asked and leaves replicas to them', () => {
    const m = mc({ autoscaling: { saver: { maxReplicas: 5 }, base: { minReplicas: 1, maxReplicas: 2 } } });
    const objs = buildOwnedObjects(m) as any[];
    const hpas = objs.filter((o) => o.kind === 'HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.spec.scaleTargetRef.name)).toEqual(['fashion-saver', 'fashion-base']);
    expect(hpas[0].spec.metrics[0].resource.target.averageUtilization).toBe(70);
    for (const d of objs.filter((o) => o.kind === 'Deployment')) expect(d.spec.replicas).toBeUndefined();
    expect((buildSaverDeployment(mc()) as any).spec.replicas).toBe(1);
  });
});

describe('saver Deployment', () => {
  const d = buildSaverDeployment(
    mc({
      saver: { model: 'file:///models/saver.onnx', mode: 'Sidecar' },
      router: { confidence: 'margin', failurePolicy: 'error', auditConcurrency: 7, baseTimeoutMs: 900 },
    }),
  ) as any;

  it('runs the saver on localhost and the router sidecar on 8000 with the contract flags', () => {
    const saver = container(d, 'saver');
    expect(saver.args).toEqual([
      'serve-model',
      '--model',
      '/models/saver.onnx',
      '--name',
      'saver',
      '--host',
      '127.0.0.1',
      '--port',
      '8001',
      '--max-batch-size',
      '32',
      '--max-queue-delay-ms',
      '2',
      '--inference-thread',
      'main',
    ]);
    const router = container(d, 'router');
    expect(router.args.slice(0, 6)).toEqual(['route', '--host', '0.0.0.0', '--port', '8000', '--name']);
    const flag = (f: string) => router.args[router.args.indexOf(f) + 1];
    expect(flag('--saver-url')).toBe('http://127.0.0.1:8001');
    expect(flag('--base-url')).toBe('http://fashion-base.ml.svc:8080');
    expect(flag('--base-model')).toBe('base');
    expect(flag('--threshold-file')).toBe('/etc/tinysaver/router/threshold.json');
    expect(flag('--confidence')).toBe('margin');
    expect(flag('--failure-policy')).toBe('error');
    expect(flag('--audit-concurrency')).toBe('7');
    expect(flag('--base-timeout-ms')).toBe('900');
    expect(router.ports).toEqual([
      { name: 'http', containerPort: 8000, protocol: 'TCP' },
      { name: 'grpc', containerPort: 9000, protocol: 'TCP' },
    ]);
    expect(router.args.slice(-2)).toEqual(['--grpc-port', '9000']);
    expect(router.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
  });

  it('mounts the router ConfigMap read-only', () => {
    expect(container(d, 'router').volumeMounts).toContainEqual({
      name: 'router-config',
      mountPath: '/etc/tinysaver/router',
      readOnly: true,
    });
    expect(d.spec.template.spec.volumes).toContainEqual({ name: 'router-config', configMap: { name: 'fashion-router' } });
  });

  it('uses the restricted security profile on pod and every container', () => {
    const pod = d.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        runAsNonRoot: true,
      });
      expect(c.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    }
    expect(pod.automountServiceAccountToken).toBe(false);
  });
});

describe('base Deployment', () => {
  it('requests GPUs, mounts the PVC read-only and serves on 8080 with CUDA', () => {
    const d = buildBaseDeployment(mc({ base: { model: 'pvc://models/base/resnet.onnx', gpus: 2 } })) as any;
    const base = container(d, 'base');
    expect(base.resources.limits['nvidia.com/gpu']).toBe('2');
    expect(base.args).toContain('--provider');
    expect(base.args[base.args.indexOf('--provider') + 1]).toBe('cuda');
    expect(base.args[base.args.indexOf('--model') + 1]).toBe('/models/base/base/resnet.onnx');
    expect(base.volumeMounts).toContainEqual({ name: 'base-model', mountPath: '/models/base', readOnly: true });
    expect(d.spec.template.spec.volumes).toContainEqual({
      name: 'base-model',
      persistentVolumeClaim: { claimName: 'models', readOnly: true },
    });
    expect(d.spec.template.spec.tolerations[0].key).toBe('nvidia.com/gpu');
  });

  it('has no GPU limit or toleration with gpus: 0', () => {
    const d = buildBaseDeployment(mc({ base: { model: '/m.onnx', gpus: 0, provider: 'cpu' } })) as any;
    expect(container(d, 'base').resources.limits).toBeUndefined();
    expect(d.spec.template.spec.tolerations).toBeUndefined();
  });

  it('is null for an external base', () => {
    expect(buildBaseDeployment(mc({ base: { external: { url: 'http://t:8000', modelName: 'm' } } }))).toBeNull();
    expect(baseEndpoint(mc({ base: { external: { url: 'http://t:8000', modelName: 'm' } } }))).toEqual({
      url: 'http://t:8000',
      model: 'm',
      protocol: 'http',
    });
  });

  it('an external base with protocol grpc is called over gRPC at its host:port', () => {
    const m = mc({ base: { external: { url: 'http://triton.x.svc:8001', modelName: 'resnet', protocol: 'grpc' } } });
    expect(baseEndpoint(m)).toEqual({ url: 'grpc://triton.x.svc:8001', model: 'resnet', protocol: 'grpc' });
    const args: string[] = container(buildSaverDeployment(m), 'router').args;
    expect(args[args.indexOf('--base-url') + 1]).toBe('grpc://triton.x.svc:8001');
    expect(args[args.indexOf('--base-protocol') + 1]).toBe('grpc');
    expect(container(buildSaverDeployment(mc()), 'router').args).not.toContain('--base-protocol');
  });
});

describe('termination (rolling updates lose no request)', () => {
  const sleepOf = (c: any): number => c.lifecycle?.preStop?.sleep?.seconds ?? 0;
  const grace = (d: any): number => d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  // the router drains for at most 10 s after SIGTERM (runtime/router/server.ts)
  const ROUTER_DRAIN_S = 10;

  it('router and base wait for kube-proxy before SIGTERM; the saver sidecar outlives the router drain', () => {
    const sidecar = buildSaverDeployment(mc({ saver: { model: 'file:///models/saver.onnx', mode: 'Sidecar' } }));
    const router = container(sidecar, 'router');
    const saver = container(sidecar, 'saver');
    expect(sleepOf(router)).toBeGreaterThanOrEqual(1);
    expect(sleepOf(saver)).toBeGreaterThanOrEqual(sleepOf(router) + ROUTER_DRAIN_S);
    expect(sleepOf(saver) + ROUTER_DRAIN_S).toBeLessThanOrEqual(grace(sidecar));
    const base = buildBaseDeployment(mc())!;
    expect(sleepOf(container(base, 'base'))).toBeGreaterThanOrEqual(1);
    const inRouter = buildSaverDeployment(mc({ saver: { model: 'file:///models/saver.onnx', mode: 'InRouter' } }));
    expect(sleepOf(container(inRouter, 'router'))).toBe(sleepOf(router));
    expect(sleepOf(container(inRouter, 'router')) + ROUTER_DRAIN_S).toBeLessThanOrEqual(grace(inRouter));
  });

  it('rolls out with a surge pod and none unavailable', () => {
    for (const d of [buildSaverDeployment(mc()), buildBaseDeployment(mc())!]) {
      expect(d.spec!.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    }
  });
});

describe('model URIs', () => {
  const ctx = { image: 'img', imagePullPolicy: 'IfNotPresent', securityContext: {} };
  it('http(s) -> init container fetch-model into an emptyDir, with sha256', () => {
    const s = modelSource('https://h/x.onnx', 'saver', { ...ctx, sha256: 'a'.repeat(64) });
    expect(s.path).toBe('/models/saver/model.onnx');
    expect(s.initContainers[0].args).toEqual(['fetch-model', 'https://h/x.onnx', '/models/saver/model.onnx', '--sha256', 'a'.repeat(64)]);
    expect(s.volumes).toEqual([{ name: 'saver-model', emptyDir: {} }]);
  });
  it('file:// and absolute paths need no volume', () => {
    expect(modelSource('file:///opt/m.onnx', 'base', ctx)).toMatchObject({ kind: 'image', path: '/opt/m.onnx', volumes: [] });
    expect(modelSource('/opt/m.onnx', 'base', ctx).path).toBe('/opt/m.onnx');
  });
  it('rejects traversal and malformed URIs naming the field', () => {
    expect(() => modelSource('pvc://models/../etc/passwd', 'saver', ctx)).toThrow(ModelUriError);
    expect(() => modelSource('pvc://models/../x', 'saver', ctx)).toThrow(/saver\.model/);
    expect(() => modelSource('pvc://Bad_Claim/x.onnx', 'base', ctx)).toThrow(/base\.model.*claim/);
    expect(() => modelSource('s3://b/x.onnx', 'base', ctx)).toThrow(/base\.model/);
  });
});

describe('config hash and threshold', () => {
  it('threshold and audit rate change the ConfigMap but not the pod template hash', () => {
    const a = mc({ threshold: { initial: 0.9 } });
    const b = mc({ threshold: { initial: 0.8 }, router: { auditRate: 0.1 } });
    expect(hashOf(buildSaverDeployment(a))).toBe(hashOf(buildSaverDeployment(b)));
    expect((buildRouterConfigMap(a) as any).data['threshold.json']).toBe('{"threshold":0.9,"auditRate":0.02}');
    expect((buildRouterConfigMap(b) as any).data['threshold.json']).toBe('{"threshold":0.8,"auditRate":0.1}');
  });

  it('a change the pods read at start (confidence measure, saver model) changes the hash', () => {
    const h0 = hashOf(buildSaverDeployment(mc()));
    expect(hashOf(buildSaverDeployment(mc({ router: { confidence: 'margin' } })))).not.toBe(h0);
    expect(hashOf(buildSaverDeployment(mc({ saver: { model: '/other.onnx' } })))).not.toBe(h0);
    expect(hashOf(buildSaverDeployment(mc()))).toBe(h0);
  });

  it('effective threshold: status in adaptive mode (clamped), initial otherwise', () => {
    expect(effectiveThreshold(mc({ threshold: { initial: 0.9, mode: 'adaptive' } }))).toBe(0.9);
    expect(effectiveThreshold(mc({ threshold: { initial: 0.9, min: 0.6, mode: 'adaptive' } }, { threshold: 0.75 }))).toBe(0.75);
    expect(effectiveThreshold(mc({ threshold: { initial: 0.9, min: 0.6, mode: 'adaptive' } }, { threshold: 0.1 }))).toBe(0.6);
    expect(effectiveThreshold(mc({ threshold: { initial: 0.9, mode: 'observe' } }, { threshold: 0.75 }))).toBe(0.9);
    expect(effectiveThreshold(mc({ threshold: { initial: 0.9, mode: 'fixed' } }, { threshold: 0.75 }))).toBe(0.9);
    expect(effectiveThreshold(mc({ threshold: { initial: 0.9 } }, { threshold: Number.NaN }))).toBe(0.9);
  });
});
