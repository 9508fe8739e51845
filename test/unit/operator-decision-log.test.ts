// spec.router.decisionLog -> router args (sink, inputs, caps, model identities), the log volume, and the
// sample rate in the hot-reloaded threshold file.
import type { V1Deployment, V1PodSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { ModelCascade, DecisionLogSpec } from '../../operator/api/model-cascade.js';
import { buildOwnedObjects } from '../../operator/reconcile/builders/index.js';
import { buildSaverDeployment } from '../../operator/reconcile/builders/workloads.js';
import { buildRouterConfigMap, thresholdFileContent } from '../../operator/reconcile/builders/router-config.js';
import { CONFIG_HASH_ANNOTATION } from '../../operator/reconcile/builders/labels.js';

function mc(decisionLog?: DecisionLogSpec, sha?: string): ModelCascade {
  return {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'fashion', namespace: 'ml', uid: 'uid-1', generation: 1 },
    spec: {
      saver: { model: 'pvc://models/saver.onnx', ...(sha ? { modelSha256: sha } : {}) },
      base: { model: 'pvc://models/base.onnx' },
      router: decisionLog ? { decisionLog } : {},
    },
  };
}

/** The pod spec of a built Deployment (the builder always sets one). */
function podSpec(d: V1Deployment): V1PodSpec {
  const spec = d.spec?.template.spec;
  if (!spec) throw new Error('the Deployment has no pod template spec');
  return spec;
}
const router = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'router');
const hashOf = (d: any) => d.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
const argAfter = (args: string[], flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);

describe('spec.router.decisionLog', () => {
  it('absent: no log arguments, no volume, no sample rate in the threshold file', () => {
    const d = buildSaverDeployment(mc());
    expect(router(d).args.join(' ')).not.toContain('--decision');
    const volumes = podSpec(d).volumes;
    expect(volumes).toBeDefined();
    expect(volumes!.map((v) => v.name)).not.toContain('decision-log');
    expect(JSON.parse(thresholdFileContent(mc()))).toEqual({ threshold: 0.9, auditRate: 0.02 });
  });

  it('{} gives the CRD defaults: stdout, no inputs, audits only (sample rate 0 in the file)', () => {
    const args = router(buildSaverDeployment(mc({}))).args;
    expect(argAfter(args, '--decision-log')).toBe('-');
    expect(argAfter(args, '--decision-inputs')).toBe('none');
    expect(argAfter(args, '--saver-id')).toBe('pvc://models/saver.onnx');
    expect(argAfter(args, '--base-id')).toBe('pvc://models/base.onnx');
    expect(args).not.toContain('--decision-log-max-file-mib');
    expect(JSON.parse(thresholdFileContent(mc({})))).toEqual({ threshold: 0.9, auditRate: 0.02, decisionSampleRate: 0 });
  });

  it('file sink: capped emptyDir, mount and caps; a pinned sha256 is the model identity', () => {
    const sha = 'AB'.repeat(32);
    const d = buildSaverDeployment(mc({ sink: 'file', maxFileMiB: 8, maxTotalMiB: 32, includeInputs: 'hash' }, sha));
    const r = router(d);
    expect(argAfter(r.args, '--decision-log')).toBe('/var/log/tinysaver/decisions.jsonl');
    expect(argAfter(r.args, '--decision-log-max-file-mib')).toBe('8');
    expect(argAfter(r.args, '--decision-log-max-total-mib')).toBe('32');
    expect(argAfter(r.args, '--decision-inputs')).toBe('hash');
    expect(argAfter(r.args, '--saver-id')).toBe(`sha256:${'ab'.repeat(32)}`);
    expect(r.volumeMounts).toContainEqual({ name: 'decision-log', mountPath: '/var/log/tinysaver' });
    expect(podSpec(d).volumes).toContainEqual({ name: 'decision-log', emptyDir: { sizeLimit: '40Mi' } });
  });

  it('the sample rate changes only the ConfigMap (hot reload); sink or inputs change the pod template (roll)', () => {
    const a = mc({ sampleRate: 0.01 });
    const b = mc({ sampleRate: 0.5 });
    expect(hashOf(buildSaverDeployment(a))).toBe(hashOf(buildSaverDeployment(b)));
    expect(JSON.parse((buildRouterConfigMap(b).data as any)['threshold.json']).decisionSampleRate).toBe(0.5);
    expect(hashOf(buildSaverDeployment(mc({ sampleRate: 0.01, sink: 'file' })))).not.toBe(hashOf(buildSaverDeployment(a)));
    expect(hashOf(buildSaverDeployment(mc({ sampleRate: 0.01, includeInputs: 'tensor' })))).not.toBe(hashOf(buildSaverDeployment(a)));
    // and nothing else of the owned objects moves when the log is turned on
    const off = buildOwnedObjects(mc()).map((o: any) => o.kind);
    expect(buildOwnedObjects(a).map((o: any) => o.kind)).toEqual(off);
  });
});
