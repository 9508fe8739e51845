// Live savings end to end against a real kube-apiserver + etcd (test/e2e/harness), the operator in-process:
// spec.cost round-trips through the apiserver (and bad values are refused there, naming the field), and
// status.savings / the SAVED column / the operator gauge come from a real router's telemetry (an in-process
// router on 127.0.0.4 with real ONNX models, registered as a Ready Pod the way threshold.test.ts does).

import { registerRouterPod as registerPod } from './harness/router-pod.js';
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
import { BASE_MODEL, SAVER_MODEL, type Cascade, corruptedStream, send, startCascade } from '../integration/controller-helpers.js';

const NS = 'money';
const NAME = 'fashion';
const COST = { currency: 'EUR', saver: { rowsPerSecond: 4000, pricePerHour: 0.05 }, base: { rowsPerSecond: 500, pricePerHour: 2.5 } };

let cluster: Cluster;
let operator: OperatorHandle;
let client: KubeClient;
let router: Cascade;

const manifest = (cost: unknown) => ({
  apiVersion: 'tinysaver.io/v1alpha1',
  kind: 'ModelCascade',
  metadata: { name: NAME, namespace: NS },
  spec: {
    saver: { model: `file:///models/${SAVER_MODEL}.onnx` },
    base: { model: `file:///models/${BASE_MODEL}.onnx`, provider: 'cpu', gpus: 0 },
    router: { auditRate: 0.1 },
    threshold: { initial: 0.5, min: 0.5, max: 1, mode: 'fixed' },
    control: { interval: '1s', window: '2m' },
    cost,
  },
});

const registerRouterPod = (name: string, url: string) => registerPod(client, NS, NAME, name, url);

beforeAll(async () => {
  cluster = await startCluster();
  client = adminClient(cluster);
  await installCrd(cluster);
  await createNamespace(cluster, NS);
  router = await startCascade({ threshold: 0.5, auditRate: 0.1, host: '127.0.0.4', seed: 5 });
  operator = await startOperator(cluster);
}, 600_000);

afterAll(async () => {
  await operator?.stop();
  await router?.close();
  client?.close();
  await cluster?.stop();
});

describe('spec.cost and live savings against a real kube-apiserver', () => {
  it('refuses a bad spec.cost, naming the field', async () => {
    const bad = async (cost: unknown) => (await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(manifest(cost)))).stderr;
    expect(await bad({ saver: { rowsPerSecond: 0, pricePerHour: 1 }, base: COST.base })).toMatch(/spec\.cost\.saver\.rowsPerSecond/);
    expect(await bad({ saver: COST.saver, base: { rowsPerSecond: 500, pricePerHour: -1 } })).toMatch(/spec\.cost\.base\.pricePerHour/);
    expect(await bad({ saver: COST.saver, base: { rowsPerSecond: 500 } })).toMatch(/spec\.cost\.base\.pricePerHour: Required value/);
    expect(await bad({ ...COST, gpuHour: 2 })).toMatch(/unknown field "spec\.cost\.gpuHour"/);
  });

  it('round-trips spec.cost; status.savings, SAVED and the gauge follow the router telemetry', async () => {
    const applied = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(manifest(COST)));
    expect(applied.stderr).toBe('');
    expect((await kubectlJson(cluster, ['get', '-n', NS, 'mc', NAME])).spec.cost).toEqual(COST);
    await registerRouterPod(`${NAME}-saver-0`, router.router.url);

    const stream = await corruptedStream(3);
    const obj = await eventually(
      'status.savings with base rows avoided',
      async () => {
        await send(router, stream(200, 0));
        const o = await kubectlJson(cluster, ['get', '-n', NS, 'mc', NAME]);
        return o.status?.savings?.baseRowsAvoided > 0 ? o : undefined;
      },
      120_000,
    );
    const s = obj.status.savings;
    expect(s.currency).toBe('EUR');
    // the counts come from the router: no more than it served, and the saver rows minus the audited ones at most
    const snap = parseRouterMetrics(await (await fetch(`${router.router.url}/metrics`)).text());
    expect(s.rows).toBeGreaterThan(0);
    expect(s.rows).toBeLessThanOrEqual(snap.counters.rowsSaver + snap.counters.rowsBase + snap.counters.rowsFallback);
    expect(s.baseRowsAvoided).toBeLessThanOrEqual(snap.counters.rowsSaver);
    expect(s.baseRowsAvoided).toBeLessThan(s.rows);
    // the money follows from the counts and spec.cost (operator/cost/savings.ts)
    const perHour = (rows: number, d: { rowsPerSecond: number; pricePerHour: number }) =>
      (rows / s.windowSeconds / d.rowsPerSecond) * d.pricePerHour;
    expect(s.baseCostAvoidedPerHour).toBeCloseTo(perHour(s.baseRowsAvoided, COST.base), 5);
    expect(s.saverCostPerHour).toBeCloseTo(perHour(s.rows, COST.saver), 5);
    expect(s.costSavedPerHour).toBeCloseTo(s.baseCostAvoidedPerHour - s.saverCostPerHour, 5);
    expect(s.costSavedPerHour).toBeGreaterThan(0); // a clean stream: the saver answers most rows
    expect(s.baseReplicaSecondsAvoided).toBeCloseTo(s.baseRowsAvoided / COST.base.rowsPerSecond, 5);

    const table = await cluster.kubectl(['get', '-n', NS, 'mc', NAME]);
    expect(table.stdout).toMatch(/SAVED/);
    // kubectl aligns each value under its header; an empty cell before SAVED (e.g. LOSS-BOUND before the
    // first certification) would shift a whitespace split, so read the cell at the header's offset
    const [header, row] = table.stdout.split('\n');
    const saved = row.slice(header.indexOf('SAVED')).trim().split(/\s+/)[0];
    expect(Number(saved)).toBeGreaterThan(0);

    const metrics = await (await fetch(`http://127.0.0.1:${operator.op.httpPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`tinysaver_cascade_cost_saved_per_hour\\{namespace="${NS}",cascade="${NAME}"\\} [0-9.e-]+`));

    // removing spec.cost removes status.savings
    await cluster.kubectl(['apply', '-f', '-'], JSON.stringify({ ...manifest(undefined) }));
    await eventually(
      'status.savings gone without spec.cost',
      async () => {
        await send(router, stream(50, 0));
        const o = await kubectlJson(cluster, ['get', '-n', NS, 'mc', NAME]);
        return o.spec.cost === undefined && o.status?.savings === undefined ? o : undefined;
      },
      60_000,
    );
  }, 300_000);
});
