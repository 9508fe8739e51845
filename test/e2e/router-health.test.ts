// The routers' view in the ModelCascade's status (issue 10, defects 2 and 4), against a real kube-apiserver +
// etcd with the operator in-process. No kubelet runs here, so the test plays it: two real cascades (saver and
// base model servers + router, real ONNX models) on 127.0.0.4 / 127.0.0.5 are registered as Pod objects, and
// the router ConfigMap is copied into the routers' watched files by hand.
//  - defect 4: status.threshold is what the operator wrote; status.routers / the In-Use column / condition
//    ThresholdApplied say what the routers use, until the file reaches them.
//  - defect 2: with the base gone the cascade was Ready=True, Degraded=False while rows were answered by
//    fallback; now Degraded=True (BaseUnavailable) with the numbers and a Warning Event, and it clears (with
//    a Normal Recovered Event) once the base answers again.

import { registerRouterPod as registerPod } from './harness/router-pod.js';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../operator/kube/client.js';
import { zooModelPath } from '../../models/zoo.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
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
import { BASE_MODEL, SAVER_MODEL, type Cascade, corruptedStream, send, startCascade } from '../integration/controller-helpers.js';

const NS = 'health';
const NAME = 'shop';

let cluster: Cluster;
let operator: OperatorHandle;
let client: KubeClient;
const routers: Cascade[] = [];
/** each router's base model server now (closed in the outage, started again on the same port) */
const bases: (RunningModelServer | undefined)[] = [];

const registerRouterPod = (name: string, url: string) => registerPod(client, NS, NAME, name, url);

const get = () => kubectlJson(cluster, ['get', '-n', NS, 'modelcascade', NAME]);
const condition = (obj: any, type: string) => obj.status?.conditions?.find((c: any) => c.type === type);
const events = async (reason: string) =>
  (await kubectlJson(cluster, ['get', '-n', NS, 'events', '--field-selector', `involvedObject.name=${NAME}`])).items.filter(
    (e: any) => e.reason === reason,
  );

beforeAll(async () => {
  cluster = await startCluster();
  client = adminClient(cluster);
  await installCrd(cluster);
  await createNamespace(cluster, NS);
  // the routers start on threshold 0.5 (their file); the ModelCascade asks for 0.9
  for (const [i, host] of ['127.0.0.4', '127.0.0.5'].entries()) {
    const c = await startCascade({ threshold: 0.5, auditRate: 0.02, host, seed: i + 1 });
    routers.push(c);
    bases.push(c.base);
  }
  operator = await startOperator(cluster);
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  for (const [i, r] of routers.entries()) {
    await r.router.close();
    await r.saver.close();
    await bases[i]?.close();
  }
  client?.close();
  await cluster?.stop();
});

describe('the routers in the ModelCascade status', () => {
  it('reports the threshold the routers use, and Degraded while their base is down', async () => {
    const mc = {
      apiVersion: 'tinysaver.io/v1alpha1',
      kind: 'ModelCascade',
      metadata: { name: NAME, namespace: NS },
      spec: {
        saver: { model: `file:///models/${SAVER_MODEL}.onnx` },
        base: { model: `file:///models/${BASE_MODEL}.onnx`, provider: 'cpu', gpus: 0 },
        threshold: { initial: 0.9, mode: 'fixed' },
        control: { interval: '1s', window: '1m' },
        health: { window: '4s', minRows: 50 },
      },
    };
    expect((await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(mc))).stderr).toBe('');
    for (const d of [`${NAME}-saver`, `${NAME}-base`]) {
      await eventually(`Deployment ${d}`, async () => kubectlJson(cluster, ['get', '-n', NS, 'deployment', d]), 30_000);
      await markDeploymentReady(client, NS, d);
    }
    for (const [i, r] of routers.entries()) await registerRouterPod(`${NAME}-saver-${i}`, r.router.url);
    const stream = await corruptedStream(5);
    const traffic = async () => {
      for (const r of routers) await send(r, stream(100, 0), 50);
    };

    // Defect 4: the ConfigMap says 0.9, the routers still use 0.5 (no kubelet copies the file here)
    const lagging = await eventually(
      'status.routers with the routers still on 0.5',
      async () => {
        const obj = await get();
        return obj.status?.routers?.observed === 2 ? obj : undefined;
      },
      60_000,
    );
    expect(lagging.status.threshold).toBe(0.9);
    expect(lagging.status.routers).toMatchObject({ thresholdInUse: '0.5', thresholdMin: 0.5, thresholdMax: 0.5, atThreshold: 0 });
    expect(condition(lagging, 'ThresholdApplied')).toMatchObject({ status: 'False', reason: 'Propagating' });
    expect(condition(lagging, 'ThresholdApplied').message).toMatch(/^0\/2 routers use threshold 0\.9; the others still 0\.5/);
    const table = (await cluster.kubectl(['get', '-n', NS, 'mc', NAME])).stdout;
    // THRESHOLD is what the ConfigMap says, IN-USE what the routers use (no saver share / bound in mode fixed yet)
    expect(table).toMatch(/THRESHOLD\s+SAVER-SHARE\s+LOSS-BOUND\s+IN-USE/);
    expect(table).toMatch(new RegExp(`${NAME}\\s+0\\.9\\s+.*\\s0\\.5\\s`));

    // the kubelet's part: the mounted file changes; the routers' gauges follow and the status says so
    const cm = await kubectlJson(cluster, ['get', '-n', NS, 'configmap', `${NAME}-router`]);
    for (const r of routers) {
      await writeFile(r.thresholdFile, cm.data['threshold.json']);
      await r.router.reloadThreshold();
    }
    const applied = await eventually(
      'ThresholdApplied=True',
      async () => {
        const obj = await get();
        return condition(obj, 'ThresholdApplied')?.status === 'True' ? obj : undefined;
      },
      30_000,
    );
    expect(applied.status.routers).toMatchObject({ thresholdInUse: '0.9', atThreshold: 2 });
    expect(condition(applied, 'ThresholdApplied').message).toBe('2/2 routers use threshold 0.9');

    // healthy traffic: the base answers, nothing degraded
    await traffic();
    const healthy = await eventually(
      'rows in status.routers and Ready=True',
      async () => {
        const obj = await get();
        return obj.status?.routers?.rows > 0 && condition(obj, 'Ready')?.status === 'True' ? obj : undefined;
      },
      30_000,
    );
    expect(condition(healthy, 'Degraded')).toMatchObject({ status: 'False' });
    expect(healthy.status.routers).toMatchObject({ circuitOpen: 0, unverified: 0, fallbackRows: 0 });

    // Defect 2: the base goes away; the routers answer by fallback and open their circuit breakers
    const ports = bases.map((b) => b!.port);
    for (const [i, b] of bases.entries()) {
      await b!.close();
      bases[i] = undefined;
    }
    const outage = Date.now();
    const degraded = await eventually(
      'Degraded=True BaseUnavailable',
      async () => {
        await traffic();
        const obj = await get();
        return condition(obj, 'Degraded')?.reason === 'BaseUnavailable' ? obj : undefined;
      },
      60_000,
    );
    const toDegradedMs = Date.now() - outage;
    const d = condition(degraded, 'Degraded');
    expect(d.status).toBe('True');
    expect(d.message).toMatch(
      /^\d+(\.\d+)?% of [\d,]+ rows in the last 4 s answered by fallback \(limit 1%\); base circuit open on [12]\/2 routers/,
    );
    expect(condition(degraded, 'Ready')?.status).toBe('True'); // the pods are available: the saver answers
    expect(degraded.status.routers.fallbackRows).toBeGreaterThan(0);
    const warning = await eventually('BaseUnavailable Event', async () => (await events('BaseUnavailable'))[0], 30_000);
    expect(warning.type).toBe('Warning');
    expect(warning.message).toMatch(/answered by fallback/);

    // the base comes back on the same ports: a half-open probe closes each breaker, the window clears
    for (const [i, port] of ports.entries()) {
      bases[i] = await startModelServer({ modelPath: zooModelPath(BASE_MODEL), name: 'base', port, maxBatchSize: 512, maxQueueDelayMs: 0 });
    }
    const back = Date.now();
    const recovered = await eventually(
      'Degraded=False after the recovery',
      async () => {
        await traffic();
        const obj = await get();
        return condition(obj, 'Degraded')?.status === 'False' ? obj : undefined;
      },
      90_000,
    );
    const toRecoveredMs = Date.now() - back;
    expect(recovered.status.routers).toMatchObject({ circuitOpen: 0, unverified: 0 });
    const normal = await eventually('Recovered Event', async () => (await events('Recovered'))[0], 30_000);
    expect(normal.type).toBe('Normal');
    // the breakers close first (BaseUnavailable -> FallbackServing while the outage's rows are in the window)
    expect(normal.message).toMatch(/^no longer degraded \(was (BaseUnavailable|FallbackServing): /);
    // one Warning for the outage, not one per scrape while the numbers moved
    expect((await events('BaseUnavailable')).length).toBe(1);
    console.log(
      `router-health e2e: outage -> Degraded ${(toDegradedMs / 1000).toFixed(1)} s, base back -> Degraded cleared ${(toRecoveredMs / 1000).toFixed(1)} s ` +
        `(control.interval 1s, health.window 4s, breaker cooldown 5 s); Degraded message: ${d.message}`,
    );
  }, 300_000);
});
