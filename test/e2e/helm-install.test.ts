// `helm install` of the chart into a real kube-apiserver (test/e2e/harness), then the operator runs
// in-process with exactly the args of the installed Deployment, authenticated as the chart's
// ServiceAccount with a real token from the TokenRequest API (the same identity a pod gets).
// It must reconcile an example ModelCascade without a single 403 (RBAC sufficient), while verbs the
// chart does not grant are refused (RBAC no broader than needed). No kubelet or controller-manager
// runs here: the Deployment never gets pods, so nothing waits for readiness.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yaml from 'js-yaml';
import { startCluster, type Cluster } from './harness/cluster.js';
import { freePort } from './harness/free-port.js';
import { CHART_DIR, helm, setArgs, type HelmResult } from '../support/helm.js';

const RELEASE_NS = 'tinysaver-system';
const RELEASE = 'ts';
const SA = 'ts-tinysaver-operator';
const SA_USER = `system:serviceaccount:${RELEASE_NS}:${SA}`;
const EXAMPLE = 'examples/modelcascade-basic.yaml';
/** Each step waits on a real apiserver and operator with its own 30-60 s limits; the test limit is above their sum. */
const E2E_TIMEOUT = 240_000;

let cluster: Cluster;

/** kubectl as the cluster admin; throws with stderr on failure. */
async function admin(args: string[], input?: string): Promise<string> {
  const r = await cluster.kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
async function adminJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await admin([...args, '-o', 'json'])) as T;
}
async function helmAdmin(args: string[]): Promise<HelmResult> {
  return helm([...args, '--kubeconfig', cluster.kubeconfig]);
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false>,
  diag: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}\n${diag()}`);
}

/** A kubeconfig that authenticates as the chart's ServiceAccount with a TokenRequest token. */
async function serviceAccountKubeconfig(namespace: string, sa: string, file: string): Promise<string> {
  const token = (await admin(['create', 'token', sa, '-n', namespace, '--duration=1h'])).trim();
  const adminCfg = yaml.load(readFileSync(cluster.kubeconfig, 'utf8')) as any;
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: adminCfg.clusters,
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: 'sa', context: { cluster: adminCfg.clusters[0].name, user: sa, namespace } }],
    'current-context': 'sa',
  };
  const path = join(cluster.dir, file);
  writeFileSync(path, yaml.dump(cfg), { mode: 0o600 });
  return path;
}

interface RunningOperator {
  port: number;
  logs: string[];
  stop: () => Promise<number>;
}

/**
 * Runs `tinysaver operator` in this process with the container args of the installed Deployment
 * (the kubelet's $(POD_NAME) expansion done here), plus the SA kubeconfig and a loopback port.
 */
async function runOperatorAsDeployed(namespace: string, deployment: string, kubeconfig: string, podName: string): Promise<RunningOperator> {
  const dep = await adminJson(['get', 'deployment', deployment, '-n', namespace]);
  const c = dep.spec.template.spec.containers[0];
  expect(c.args[0]).toBe('operator');
  const port = await freePort();
  const args = (c.args as string[])
    .slice(1)
    .map((a) => a.replaceAll('$(POD_NAME)', podName))
    .map((a) => (a.startsWith('--metrics-port=') ? `--metrics-port=${port}` : a));
  const logs: string[] = [];
  const before = new Set(process.listeners('SIGTERM'));
  const write = process.stderr.write.bind(process.stderr);
  // The operator logs JSON lines to stderr; keep them to assert on (and to show on failure).
  process.stderr.write = ((chunk: string | Uint8Array) => {
    logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stderr.write;
  const { run } = await import('../../cli/commands/operator.js');
  const done = run([...args, `--kubeconfig=${kubeconfig}`, '--metrics-host=127.0.0.1']);
  let exited: number | undefined;
  void done.then((code) => (exited = code));
  try {
    await until('operator /readyz', 30_000, async () => {
      if (exited !== undefined) throw new Error(`operator exited with ${exited}: ${logs.join('')}`);
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
    });
  } catch (err) {
    process.stderr.write = write;
    throw err;
  }
  return {
    port,
    logs,
    stop: async () => {
      // What SIGTERM from the kubelet would do: the CLI's own handler stops the operator gracefully.
      for (const l of process.listeners('SIGTERM')) if (!before.has(l)) (l as (s: string) => void)('SIGTERM');
      const code = await done;
      process.stderr.write = write;
      return code;
    },
  };
}

/** kubectl as the operator's ServiceAccount (real token): expect a refusal. */
async function expectForbidden(kubeconfig: string, args: string[]): Promise<void> {
  const r = await cluster.kubectl(['--kubeconfig', kubeconfig, ...args]);
  expect(r.code, `kubectl ${args.join(' ')} should be forbidden, got: ${r.stdout}`).not.toBe(0);
  // "Error from server (Forbidden)" or, for some kubectl create subcommands, "... is forbidden: User ...".
  expect(r.stderr).toMatch(/forbidden/i);
  expect(r.stderr).toContain(`User "${SA_USER}"`);
}

/**
 * After the threshold controller's first cycle (router pod list, status apply), neither the operator log
 * nor the ModelCascade status (where the controller reports telemetry failures) holds a permission error.
 */
async function expectNoPermissionErrors(op: RunningOperator, namespace: string, name: string): Promise<void> {
  await until(
    'threshold controller cycle',
    30_000,
    async () =>
      (await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text()).includes(
        `tinysaver_cascade_threshold{namespace="${namespace}",cascade="${name}"}`,
      ),
    () => op.logs.join(''),
  );
  const mc = await until('threshold controller status', 30_000, async () => {
    const m = await adminJson(['get', 'mc', name, '-n', namespace]);
    return m.status?.conditions?.some((c: { type: string }) => c.type === 'ThresholdControl') ? m : undefined;
  });
  expect(forbiddenIn(op.logs)).toEqual([]);
  expect(forbiddenIn([JSON.stringify(mc.status, null, 1)])).toEqual([]);
}

const forbiddenIn = (logs: string[]) =>
  logs
    .join('')
    .split('\n')
    .filter((l) => /\b403\b|forbidden/i.test(l));

beforeAll(async () => {
  cluster = await startCluster();
}, 1_800_000);
afterAll(async () => {
  await cluster?.stop();
});

describe('helm install (cluster-wide mode)', () => {
  let saKubeconfig: string;
  let op: RunningOperator | undefined;

  afterAll(async () => {
    await op?.stop();
  });

  it(
    'installs the release: CRD, operator Deployment, ServiceAccount, RBAC, Service; NOTES say what to apply next',
    async () => {
      const res = await helmAdmin(['install', RELEASE, CHART_DIR, '-n', RELEASE_NS, '--create-namespace']);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain('STATUS: deployed');
      expect(res.stdout).toContain('kubectl get mc -A -w');
      expect(res.stdout).toContain('kubectl delete crd modelcascades.tinysaver.io');

      const crd = await adminJson(['get', 'crd', 'modelcascades.tinysaver.io']);
      expect(crd.spec.names.shortNames).toContain('mc');
      await until('CRD Established', 30_000, async () => {
        const c = await adminJson(['get', 'crd', 'modelcascades.tinysaver.io']);
        return c.status?.conditions?.some((x: { type: string; status: string }) => x.type === 'Established' && x.status === 'True');
      });
      const dep = await adminJson(['get', 'deployment', SA, '-n', RELEASE_NS]);
      expect(dep.spec.template.spec.serviceAccountName).toBe(SA);
      expect(dep.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
      await adminJson(['get', 'serviceaccount', SA, '-n', RELEASE_NS]);
      await adminJson(['get', 'service', `${SA}-metrics`, '-n', RELEASE_NS]);
      const cr = await adminJson(['get', 'clusterrole', SA]);
      expect(cr.rules.length).toBeGreaterThan(0);
      const crb = await adminJson(['get', 'clusterrolebinding', SA]);
      expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: SA, namespace: RELEASE_NS }]);
      await adminJson(['get', 'role', `${SA}-leader-election`, '-n', RELEASE_NS]);
      await adminJson(['get', 'rolebinding', `${SA}-leader-election`, '-n', RELEASE_NS]);
      const list = await helmAdmin(['list', '-n', RELEASE_NS, '-o', 'json']);
      expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: RELEASE, status: 'deployed' })]);
    },
    E2E_TIMEOUT,
  );

  it(
    'runs the operator as the chart ServiceAccount and reconciles the example ModelCascade without a 403',
    async () => {
      saKubeconfig = await serviceAccountKubeconfig(RELEASE_NS, SA, 'sa.kubeconfig');
      const who = await cluster.kubectl(['--kubeconfig', saKubeconfig, 'auth', 'whoami', '-o', 'json']);
      expect(who.code, who.stderr).toBe(0);
      expect(JSON.parse(who.stdout).status.userInfo.username).toBe(SA_USER);

      op = await runOperatorAsDeployed(RELEASE_NS, SA, saKubeconfig, 'ts-tinysaver-operator-7d9f-abcde');
      await admin(['create', 'namespace', 'ml']);
      await admin(['apply', '-n', 'ml', '-f', EXAMPLE]);
      const name = (yaml.load(readFileSync(EXAMPLE, 'utf8')) as { metadata: { name: string } }).metadata.name;

      // Owned objects created through server-side apply (patch + create), status written (status patch).
      const want = [
        `configmap/${name}-router`,
        `deployment.apps/${name}-saver`,
        `service/${name}`,
        `deployment.apps/${name}-base`,
        `service/${name}-base`,
      ];
      await until(
        'owned objects',
        60_000,
        async () => {
          const out = await admin(['get', 'configmap,deployment,service', '-n', 'ml', '-o', 'name']);
          return want.every((w) => out.split('\n').includes(w));
        },
        () => op!.logs.join(''),
      );
      const mc = await until(
        'status.observedGeneration',
        60_000,
        async () => {
          const m = await adminJson(['get', 'mc', name, '-n', 'ml']);
          return m.status?.observedGeneration === m.metadata.generation ? m : undefined;
        },
        () => op!.logs.join(''),
      );
      expect(mc.status.conditions.map((c: { type: string }) => c.type)).toEqual(expect.arrayContaining(['Ready', 'Progressing']));

      // Leader election under the pod's name, in the release namespace (lease get/create/update).
      const lease = await adminJson(['get', 'lease', SA, '-n', RELEASE_NS]);
      expect(lease.spec.holderIdentity).toBe('ts-tinysaver-operator-7d9f-abcde');

      // A spec change that drops the in-cluster base: the operator deletes its Deployment and Service;
      // autoscaling on: it creates an HPA.
      await admin([
        'patch',
        'mc',
        name,
        '-n',
        'ml',
        '--type=merge',
        '-p',
        JSON.stringify({
          spec: {
            base: {
              model: null,
              provider: null,
              gpus: null,
              resources: null,
              replicas: null,
              external: { url: 'http://triton.inference.svc:8000', modelName: 'resnet' },
            },
            autoscaling: { saver: { maxReplicas: 4 } },
          },
        }),
      ]);
      await until(
        'base removed, HPA created',
        60_000,
        async () => {
          const out = (await admin(['get', 'deployment,service,hpa', '-n', 'ml', '-o', 'name'])).split('\n');
          return (
            !out.includes(`deployment.apps/${name}-base`) &&
            !out.includes(`service/${name}-base`) &&
            out.some((l) => l.startsWith('horizontalpodautoscaler.autoscaling/'))
          );
        },
        () => op!.logs.join(''),
      );
      // Autoscaling off again: the operator deletes the HPA (the last verb of the grant table exercised).
      await admin(['patch', 'mc', name, '-n', 'ml', '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/autoscaling' }])]);
      await until(
        'HPA deleted',
        60_000,
        async () => (await admin(['get', 'hpa', '-n', 'ml', '-o', 'name'])).trim() === '',
        () => op!.logs.join(''),
      );

      // Events were recorded (events create).
      await until('an Event on the ModelCascade', 30_000, async () => {
        const ev = await adminJson(['get', 'events', '-n', 'ml', '--field-selector', `involvedObject.name=${name}`]);
        return ev.items.length > 0;
      });

      // Operator metrics on the chart's port name; no permission error anywhere in its log.
      const metrics = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
      expect(metrics).toMatch(/tinysaver_operator_reconcile_total\{result="success"\} [1-9]/);
      await expectNoPermissionErrors(op, 'ml', name);
    },
    E2E_TIMEOUT,
  );

  it(
    'refuses what the chart does not grant',
    async () => {
      const checks: string[][] = [
        ['get', 'secrets', '-n', 'ml'],
        ['get', 'secrets', '-n', RELEASE_NS],
        ['get', 'nodes'],
        ['get', 'namespaces'],
        ['delete', 'mc', '--all', '-n', 'ml'],
        ['get', 'configmap', 'kube-root-ca.crt', '-n', 'ml'], // reads come from informers: no get
        ['delete', 'pod', 'any-pod', '-n', 'ml'], // pods: list and watch only (status, router discovery)
        ['get', 'leases', '-n', 'ml'], // the Lease Role is only in the release namespace
        ['create', 'clusterrolebinding', 'escalate', '--clusterrole=cluster-admin', `--serviceaccount=${RELEASE_NS}:${SA}`],
        ['create', 'serviceaccount', 'x', '-n', 'ml'],
        ['get', 'crd'],
      ];
      for (const args of checks) await expectForbidden(saKubeconfig, args);
      // Impersonation view of the same identity (admin asks on the SA's behalf).
      const can = async (verb: string, resource: string, subresource?: string) =>
        (
          await cluster.kubectl([
            'auth',
            'can-i',
            verb,
            resource,
            '-n',
            'ml',
            `--as=${SA_USER}`,
            ...(subresource ? [`--subresource=${subresource}`] : []),
          ])
        ).stdout.trim();
      expect(await can('list', 'deployments.apps')).toBe('yes');
      expect(await can('create', 'events')).toBe('yes');
      expect(await can('patch', 'modelcascades.tinysaver.io', 'status')).toBe('yes');
      expect(await can('update', 'modelcascades.tinysaver.io', 'status')).toBe('no');
      expect(await can('update', 'modelcascades.tinysaver.io')).toBe('no');
      expect(await can('patch', 'modelcascades.tinysaver.io')).toBe('no');
      expect(await can('watch', 'secrets')).toBe('no');
      expect(await can('create', 'pods')).toBe('no');
    },
    E2E_TIMEOUT,
  );

  it(
    'upgrades in place (two replicas, PDB, dashboard ConfigMap) and a bad value leaves the release untouched',
    async () => {
      const up = await helmAdmin([
        'upgrade',
        RELEASE,
        CHART_DIR,
        '-n',
        RELEASE_NS,
        '--reuse-values',
        ...setArgs({ replicaCount: 2, 'podDisruptionBudget.enabled': true, 'grafanaDashboard.enabled': true }),
      ]);
      expect(up.code, up.stderr).toBe(0);
      expect((await adminJson(['get', 'deployment', SA, '-n', RELEASE_NS])).spec.replicas).toBe(2);
      expect((await adminJson(['get', 'pdb', SA, '-n', RELEASE_NS])).spec.minAvailable).toBe(1);
      const cm = await adminJson(['get', 'configmap', `${SA}-dashboard`, '-n', RELEASE_NS]);
      expect(JSON.parse(cm.data['tinysaver-cascades.json']).uid).toBe('tinysaver-cascades');

      const bad = await helmAdmin(['upgrade', RELEASE, CHART_DIR, '-n', RELEASE_NS, '--reuse-values', '--set', 'replicaCount=-3']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/replicaCount.*minimum/);
      const history = JSON.parse((await helmAdmin(['history', RELEASE, '-n', RELEASE_NS, '-o', 'json'])).stdout) as Array<{
        revision: number;
        status: string;
      }>;
      expect(history.map((h) => [h.revision, h.status])).toEqual([
        [1, 'superseded'],
        [2, 'deployed'],
      ]);
      expect((await adminJson(['get', 'deployment', SA, '-n', RELEASE_NS])).spec.replicas).toBe(2);
    },
    E2E_TIMEOUT,
  );

  it(
    'stops gracefully, and helm uninstall keeps the CRD and the ModelCascades',
    async () => {
      expect(await op!.stop()).toBe(0);
      op = undefined;
      const res = await helmAdmin(['uninstall', RELEASE, '-n', RELEASE_NS]);
      expect(res.code, res.stderr).toBe(0);
      const gone = await cluster.kubectl(['get', 'deployment', SA, '-n', RELEASE_NS]);
      expect(gone.code).not.toBe(0);
      expect((await cluster.kubectl(['get', 'pdb', SA, '-n', RELEASE_NS])).code).not.toBe(0);
      expect((await cluster.kubectl(['get', 'clusterrole', SA])).code).not.toBe(0);
      // the leader Lease belongs to the release (templates/lease.yaml), so it goes too
      expect((await cluster.kubectl(['get', 'lease', SA, '-n', RELEASE_NS])).code).not.toBe(0);
      await adminJson(['get', 'crd', 'modelcascades.tinysaver.io']);
      expect((await adminJson(['get', 'mc', '-n', 'ml'])).items.length).toBe(1);
    },
    E2E_TIMEOUT,
  );
});

describe('helm install (namespaced mode)', () => {
  const NS = 'team-ops';
  const WATCHED = 'team-a';
  const SA_N = 'tsn-tinysaver-operator';
  let op: RunningOperator | undefined;

  afterAll(async () => {
    await op?.stop();
  });

  it(
    'watches only its namespace with a Role, and cannot touch any other',
    async () => {
      await admin(['create', 'namespace', WATCHED]);
      await admin(['create', 'namespace', 'team-b']);
      const res = await helmAdmin([
        'install',
        'tsn',
        CHART_DIR,
        '-n',
        NS,
        '--create-namespace',
        ...setArgs({ 'namespaced.enabled': true, 'namespaced.namespace': WATCHED }),
      ]);
      expect(res.code, res.stderr).toBe(0);
      expect((await cluster.kubectl(['get', 'clusterrole', SA_N])).code).not.toBe(0);
      expect((await adminJson(['get', 'role', SA_N, '-n', WATCHED])).rules.length).toBeGreaterThan(0);

      const kubeconfig = await serviceAccountKubeconfig(NS, SA_N, 'sa-namespaced.kubeconfig');
      op = await runOperatorAsDeployed(NS, SA_N, kubeconfig, 'tsn-tinysaver-operator-0');
      await admin(['apply', '-n', WATCHED, '-f', EXAMPLE]);
      await admin(['apply', '-n', 'team-b', '-f', EXAMPLE]);
      const name = (yaml.load(readFileSync(EXAMPLE, 'utf8')) as { metadata: { name: string } }).metadata.name;
      await until(
        'owned objects in the watched namespace',
        60_000,
        async () => {
          const out = await admin(['get', 'deployment', '-n', WATCHED, '-o', 'name']);
          return out.includes(`deployment.apps/${name}-saver`);
        },
        () => op!.logs.join(''),
      );
      // Give the operator time it would need to (wrongly) act on team-b: status of the watched one first.
      await until(
        'status in the watched namespace',
        60_000,
        async () => (await adminJson(['get', 'mc', name, '-n', WATCHED])).status?.observedGeneration,
      );
      expect((await admin(['get', 'deployment', '-n', 'team-b', '-o', 'name'])).trim()).toBe('');
      expect((await adminJson(['get', 'mc', name, '-n', 'team-b'])).status).toBeUndefined();
      await expectNoPermissionErrors(op, WATCHED, name);

      for (const args of [
        ['get', 'configmaps', '-n', 'team-b'],
        ['get', 'deployments', '-A'],
        ['get', 'mc', '-A'],
        ['get', 'pods', '-n', 'team-b'],
      ]) {
        const r = await cluster.kubectl(['--kubeconfig', kubeconfig, ...args]);
        expect(r.code, `${args.join(' ')}: ${r.stdout}`).not.toBe(0);
        expect(r.stderr).toMatch(/forbidden/i);
      }
      expect(await op.stop()).toBe(0);
      op = undefined;
    },
    E2E_TIMEOUT,
  );
});
