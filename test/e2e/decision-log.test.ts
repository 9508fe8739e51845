// spec.router.decisionLog against a real kube-apiserver: the schema's checks, the field reaching the router's
// arguments (sink, inputs, caps, identities) and the hot-reloaded threshold file (sample rate), and the
// documented one-command threshold rollback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './harness/cluster.js';
import {
  adminClient,
  createNamespace,
  eventually,
  installCrd,
  kubectlJson,
  startOperator,
  type OperatorHandle,
} from './harness/operator.js';
import type { KubeClient } from '../../operator/kube/client.js';
import { parseFlags } from '../../cli/flags.js';
import { ROUTE_FLAGS } from '../../cli/commands/route.js';

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

const get = (ns: string, kind: string, name: string) => kubectlJson(cluster, ['get', '-n', ns, kind, name]);
const hashOf = (d: any) => d.spec.template.metadata.annotations['tinysaver.io/config-hash'];
const routerOf = (d: any) => d.spec.template.spec.containers.find((c: any) => c.name === 'router');
const file = async (ns: string, name: string) => JSON.parse((await get(ns, 'configmap', `${name}-router`)).data['threshold.json']);

describe('spec.router.decisionLog on the apiserver', () => {
  it('reaches the router: arguments that route accepts, the capped log volume, the sample rate in the threshold file', async () => {
    await createNamespace(cluster, 'dlog');
    const r = await cluster.kubectl(['apply', '-n', 'dlog', '-f', 'examples/modelcascade-decision-log.yaml']);
    expect(r.code, r.stderr).toBe(0);
    const d = await eventually('saver deployment', () => get('dlog', 'deployment', 'fashion-logged-saver'));
    const args: string[] = routerOf(d).args;
    const parsed = parseFlags(args.slice(1), 'x', 'x', ROUTE_FLAGS);
    expect(parsed.kind, parsed.kind === 'error' ? parsed.message : '').toBe('ok');
    const v = (parsed as { values: Record<string, unknown> }).values;
    expect(v).toMatchObject({
      'decision-log': '/var/log/tinysaver/decisions.jsonl',
      'decision-inputs': 'hash',
      'decision-log-max-file-mib': 64,
      'decision-log-max-total-mib': 512,
    });
    expect(v['saver-id']).toBe('file:///models/fashion-mnist/saver-tinycnn.onnx');
    expect(d.spec.template.spec.volumes).toContainEqual({ name: 'decision-log', emptyDir: { sizeLimit: '576Mi' } });
    expect(await eventually('threshold file', async () => (await file('dlog', 'fashion-logged')).decisionSampleRate === 0.01)).toBe(true);

    // the sample rate moves through the ConfigMap only: same pod template, nothing rolls
    const p = await cluster.kubectl([
      'patch',
      '-n',
      'dlog',
      'mc',
      'fashion-logged',
      '--type',
      'merge',
      '-p',
      '{"spec":{"router":{"decisionLog":{"sampleRate":0.25}}}}',
    ]);
    expect(p.code, p.stderr).toBe(0);
    await eventually('sample rate reloaded', async () => (await file('dlog', 'fashion-logged')).decisionSampleRate === 0.25);
    await eventually('generation observed', async () => (await get('dlog', 'mc', 'fashion-logged')).status?.observedGeneration === 2);
    const same = await get('dlog', 'deployment', 'fashion-logged-saver');
    expect(hashOf(same)).toBe(hashOf(d));

    // the sink is a router argument: a change rolls the pods
    const s = await cluster.kubectl([
      'patch',
      '-n',
      'dlog',
      'mc',
      'fashion-logged',
      '--type',
      'merge',
      '-p',
      '{"spec":{"router":{"decisionLog":{"sink":"stdout"}}}}',
    ]);
    expect(s.code, s.stderr).toBe(0);
    const rolled = await eventually('sink change', async () => {
      const x = await get('dlog', 'deployment', 'fashion-logged-saver');
      return hashOf(x) !== hashOf(d) ? x : null;
    });
    expect(routerOf(rolled).args.join(' ')).toContain('--decision-log -');
    expect(rolled.spec.template.spec.volumes.map((x: any) => x.name)).not.toContain('decision-log');
  });

  it('rolls the threshold back with one kubectl patch (mode fixed + the threshold from status history)', async () => {
    await createNamespace(cluster, 'rollback');
    const r = await cluster.kubectl(['apply', '-n', 'rollback', '-f', 'examples/modelcascade-decision-log.yaml']);
    expect(r.code, r.stderr).toBe(0);
    await eventually('configmap', () => get('rollback', 'configmap', 'fashion-logged-router'));
    // the README's command, with a threshold as it would be read from .status.history[].to
    const p = await cluster.kubectl([
      'patch',
      '-n',
      'rollback',
      'mc',
      'fashion-logged',
      '--type',
      'merge',
      '-p',
      '{"spec":{"threshold":{"mode":"fixed","initial":0.93}}}',
    ]);
    expect(p.code, p.stderr).toBe(0);
    await eventually('pinned', async () => (await file('rollback', 'fashion-logged')).threshold === 0.93);
    const mc = await eventually('status', async () => {
      const m = await get('rollback', 'mc', 'fashion-logged');
      return m.status?.observedGeneration === 2 ? m : null;
    });
    expect(mc.status.threshold).toBe(0.93);
  });

  const manifest = (name: string, log: string) => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: ${name}, namespace: default}
spec:
  saver: {model: /m/saver.onnx}
  base: {model: /m/base.onnx}
  router: {decisionLog: ${log}}
`;
  it.each([
    ['unknown includeInputs', 'inp', '{includeInputs: pixels}', /spec\.router\.decisionLog\.includeInputs.*Unsupported value/],
    ['sample rate above 1', 'rate', '{sampleRate: 2}', /spec\.router\.decisionLog\.sampleRate/],
    ['unknown sink', 'sink', '{sink: kafka}', /spec\.router\.decisionLog\.sink.*Unsupported value/],
    ['file cap above the total cap', 'caps', '{maxFileMiB: 100, maxTotalMiB: 10}', /maxFileMiB must be <= maxTotalMiB/],
  ])('rejects %s naming the field', async (_l, name, log, message) => {
    const r = await cluster.kubectl(['apply', '-f', '-'], manifest(name, log));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
