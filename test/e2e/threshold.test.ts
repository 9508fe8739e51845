// The threshold controller end to end against a real kube-apiserver + etcd (test/e2e/harness), with the
// operator running in-process. No kubelet runs here, so the test plays it: real routers (in-process HTTP
// servers on 127.0.0.2 / 127.0.0.3, real ONNX models) are registered as Pod objects whose status (podIP,
// Ready) the test patches, and the router ConfigMap is mirrored into the routers' watched file.

import { registerRouterPod as registerPod } from './harness/router-pod.js';
import { ROUTER_CONFIG_ANNOTATION, routerConfigDigest } from '../../operator/reconcile/router-nudge.js';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../operator/kube/client.js';
import { parseRouterMetrics } from '../../operator/telemetry/router-metrics.js';
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
import {
  BASE_MODEL,
  SAVER_MODEL,
  type Cascade,
  brokenRouter,
  corruptedStream,
  send,
  startCascade,
} from '../integration/controller-helpers.js';

const NS = 'drift';
const NAME = 'fashion';

let cluster: Cluster;
let operator: OperatorHandle;
let client: KubeClient;
const routers: Cascade[] = [];
let garbage: { url: string; close(): Promise<void> };

const registerRouterPod = (name: string, url: string) => registerPod(client, NS, NAME, name, url);

beforeAll(async () => {
  cluster = await startCluster();
  client = adminClient(cluster);
  await installCrd(cluster);
  await createNamespace(cluster, NS);
  routers.push(await startCascade({ threshold: 0.5, auditRate: 0.25, host: '127.0.0.2', seed: 1 }));
  routers.push(await startCascade({ threshold: 0.5, auditRate: 0.25, host: '127.0.0.3', seed: 2 }));
  garbage = await brokenRouter('garbage');
  operator = await startOperator(cluster);
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  for (const r of routers) await r.close();
  await garbage?.close();
  client?.close();
  await cluster?.stop();
});

describe('threshold controller against a real kube-apiserver', () => {
  it('raises the threshold under a corrupted stream: status, ConfigMap, Event, metrics; routers follow', async () => {
    const mc = {
      apiVersion: 'tinysaver.io/v1alpha1',
      kind: 'ModelCascade',
      metadata: { name: NAME, namespace: NS },
      spec: {
        saver: { model: `file:///models/${SAVER_MODEL}.onnx` },
        base: { model: `file:///models/${BASE_MODEL}.onnx`, provider: 'cpu', gpus: 0 },
        router: { auditRate: 0.05 },
        threshold: { initial: 0.5, min: 0.5, max: 1, mode: 'adaptive' },
        budget: { maxAccuracyLoss: 0.02, confidence: 0.95 },
        control: { interval: '1s', window: '2m', maxStep: 0.02, minAudits: 50, maxAuditRate: 0.5 },
      },
    };
    const applied = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(mc));
    expect(applied.stderr).toBe('');
    // the pod template hash before the controller writes anything: threshold and audit rate are hot fields
    const hashOf = (d: any) => d.spec.template.metadata.annotations['tinysaver.io/config-hash'];
    const saverDeploy = await eventually(
      'saver Deployment',
      async () => kubectlJson(cluster, ['get', '-n', NS, 'deployment', `${NAME}-saver`]),
      30_000,
    );
    const hashBefore = hashOf(saverDeploy);
    expect(hashBefore).toMatch(/^[0-9a-f]{16}$/);
    for (const [i, r] of routers.entries()) await registerRouterPod(`${NAME}-saver-${i}`, r.router.url);
    await registerRouterPod(`${NAME}-saver-broken`, garbage.url);

    const stream = await corruptedStream(21);
    const raised = await eventually(
      'status.threshold above the initial 0.5',
      async () => {
        for (const r of routers) await send(r, stream(200, 1));
        const obj = await kubectlJson(cluster, ['get', '-n', NS, 'modelcascade', NAME]);
        return obj.status?.threshold > 0.5 ? obj : undefined;
      },
      120_000,
    );
    const status = raised.status;
    expect(status.lastChange).toMatchObject({ from: 0.5, reason: 'BoundExceeded' });
    expect(status.lastChange.to).toBe(status.threshold);
    expect(status.history.length).toBeGreaterThanOrEqual(1);
    const cond = status.conditions.find((c: any) => c.type === 'ThresholdControl');
    expect(cond).toBeDefined();
    // the broken third "router" is reported, not fatal
    const later = await eventually(
      'condition mentions the failed scrape',
      async () => {
        const obj = await kubectlJson(cluster, ['get', '-n', NS, 'modelcascade', NAME]);
        const c = obj.status.conditions.find((x: any) => x.type === 'ThresholdControl');
        return /1\/3 router scrape\(s\) failed/.test(c?.message ?? '') ? c : undefined;
      },
      30_000,
    );
    expect(later.message).toMatch(/fashion-saver-broken: line 1/);

    // ConfigMap carries the new threshold (the routers' file in a cluster)
    const cm = await eventually(
      'router ConfigMap with the raised threshold',
      async () => {
        const c = await kubectlJson(cluster, ['get', '-n', NS, 'configmap', `${NAME}-router`]);
        return JSON.parse(c.data['threshold.json']).threshold > 0.5 ? c : undefined;
      },
      30_000,
    );
    const t = JSON.parse(cm.data['threshold.json']).threshold;
    expect(t).toBeGreaterThan(0.5);

    // the audit rate: the controller's status.auditRate, within [router.auditRate, control.maxAuditRate],
    // reaches the ConfigMap; the pod template hash does not move (no restart)
    const synced = await eventually(
      'ConfigMap auditRate equal to status.auditRate',
      async () => {
        const obj = await kubectlJson(cluster, ['get', '-n', NS, 'modelcascade', NAME]);
        const c = await kubectlJson(cluster, ['get', '-n', NS, 'configmap', `${NAME}-router`]);
        const file = JSON.parse(c.data['threshold.json']);
        return typeof obj.status?.auditRate === 'number' &&
          file.auditRate === obj.status.auditRate &&
          file.threshold === obj.status.threshold
          ? { status: obj.status, file, content: c.data['threshold.json'] as string }
          : undefined;
      },
      30_000,
    );
    // under the corrupted stream no cheap operating point certifies: the controller asks for more than the
    // 0.05 floor (the routers started at 0.25; the ConfigMap carries the controller's choice)
    expect(synced.status.auditRate).toBeGreaterThan(0.05);
    expect(synced.status.auditRate).toBeLessThanOrEqual(0.5);
    expect(hashOf(await kubectlJson(cluster, ['get', '-n', NS, 'deployment', `${NAME}-saver`]))).toBe(hashBefore);
    const fileContent = synced.content;
    // the router pods carry the digest of that content (the nudge that makes the kubelet refresh the mounted
    // file at once); nothing in the pod template moved
    await eventually(
      'router pods annotated with the ConfigMap digest',
      async () => {
        const c = await kubectlJson(cluster, ['get', '-n', NS, 'configmap', `${NAME}-router`]);
        const want = routerConfigDigest(c.data);
        const pods = await kubectlJson(cluster, ['get', '-n', NS, 'pods', '-l', `tinysaver.io/cascade=${NAME}`]);
        return pods.items.length > 0 && pods.items.every((p: any) => p.metadata.annotations?.[ROUTER_CONFIG_ANNOTATION] === want);
      },
      30_000,
    );
    if (process.env.DEBUG_THRESHOLD_E2E) console.log('audit rate', synced.status.auditRate, fileContent);

    // Event ThresholdRaised with the reason in words
    const events = await kubectlJson(cluster, ['get', '-n', NS, 'events', '--field-selector', `involvedObject.name=${NAME}`]);
    const ev = events.items.find((e: any) => e.reason === 'ThresholdRaised');
    // v2: the bound at the current threshold exceeds the budget, or the change detector fired first
    // (which one wins depends on how the stream's rows fall into scrape intervals)
    expect(ev?.message).toMatch(
      /^0\.5 -> [0-9.]+, (loss bound [0-9.]+% > budget 2\.00%|change detected \([^)]*\): window cut to the post-change rows, loss bound [0-9.]+% there)/,
    );
    expect(ev?.type).toBe('Warning');

    // operator metrics per cascade
    const metrics = await (await fetch(`http://127.0.0.1:${operator.op.httpPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`tinysaver_cascade_threshold\\{namespace="${NS}",cascade="${NAME}"\\} (?:0\\.\\d+|1)$`, 'm')); // a raise to a safe level may reach max = 1
    expect(metrics).toMatch(/tinysaver_cascade_threshold_changes_total\{[^}]*direction="raise"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/tinysaver_cascade_budget\{[^}]*\} 0\.02/);

    // kubectl get mc shows it (printer column)
    const table = await cluster.kubectl(['get', '-n', NS, 'mc', NAME]);
    expect(table.stdout).toMatch(/THRESHOLD/);
    if (process.env.DEBUG_THRESHOLD_E2E) console.log(table.stdout, ev.message, later.message);

    // the kubelet's part: mirror the ConfigMap into each router's watched file; the routers' gauges follow
    for (const r of routers) {
      await writeFile(r.thresholdFile, fileContent);
      await r.router.reloadThreshold();
      const snap = parseRouterMetrics(await (await fetch(`${r.router.url}/metrics`)).text());
      expect(snap.threshold).toBe(synced.file.threshold);
      expect(snap.auditRate).toBe(synced.file.auditRate);
    }
  }, 300_000);
});
