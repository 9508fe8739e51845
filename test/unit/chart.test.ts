// The Helm chart, checked with the real helm binary: lint, render with default values and with every
// optional feature on, then inspect the parsed objects. The schema must reject bad values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import yaml from 'js-yaml';
import { ALL_FEATURES, CHART_DIR, findObject, helm, renderChart, setArgs, type K8sObject } from '../support/helm.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NS = 'tinysaver-system';

function container(objs: K8sObject[]) {
  const dep = findObject(objs, 'Deployment');
  return { dep, pod: dep.spec.template.spec, c: dep.spec.template.spec.containers[0] };
}

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
function rulesOf(objs: K8sObject[], kind: 'ClusterRole' | 'Role'): Rule[] {
  return objs.filter((o) => o.kind === kind).flatMap((o) => o.rules as Rule[]);
}
/** "group/resource" -> sorted verbs, merged over all rules. */
function grants(rules: Rule[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const r of rules)
    for (const g of r.apiGroups)
      for (const res of r.resources) for (const v of r.verbs) (out[`${g || 'core'}/${res}`] ??= new Set()).add(v);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

const OWNED = ['create', 'delete', 'list', 'patch', 'watch'];
/** What operator/ does: informers (list+watch), server-side apply (patch, +create for new objects),
 *  deletes of objects a spec no longer asks for, status apply, Events, router pod discovery. */
const EXPECTED_WORKLOAD_GRANTS: Record<string, string[]> = {
  'tinysaver.io/modelcascades': ['list', 'watch'],
  'tinysaver.io/modelcascades/status': ['patch'],
  'core/configmaps': OWNED,
  'core/services': OWNED,
  'apps/deployments': OWNED,
  'autoscaling/horizontalpodautoscalers': OWNED,
  'core/pods': ['list', 'patch', 'watch'],
  'core/events': ['create'],
};

describe('helm lint', () => {
  it('passes --strict with default values', async () => {
    const res = await helm(['lint', '--strict', CHART_DIR]);
    expect(res.stderr + res.stdout).toContain('0 chart(s) failed');
    expect(res.code).toBe(0);
  });
  it('passes --strict with every optional feature on, and in namespaced mode', async () => {
    for (const extra of [{}, { 'namespaced.enabled': true }] as Array<Record<string, boolean>>) {
      const res = await helm(['lint', '--strict', CHART_DIR, ...setArgs({ ...ALL_FEATURES, ...extra })]);
      expect(res.code, res.stdout + res.stderr).toBe(0);
    }
  });
});

describe('default values', () => {
  it('renders exactly the core objects and the CRD', async () => {
    const objs = await renderChart();
    const kinds = objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        'ClusterRole/ts-tinysaver-operator',
        'ClusterRoleBinding/ts-tinysaver-operator',
        'CustomResourceDefinition/modelcascades.tinysaver.io',
        'Deployment/ts-tinysaver-operator',
        'Lease/ts-tinysaver-operator',
        'Role/ts-tinysaver-operator-leader-election',
        'RoleBinding/ts-tinysaver-operator-leader-election',
        'Service/ts-tinysaver-operator-metrics',
        'ServiceAccount/ts-tinysaver-operator',
      ].sort(),
    );
    for (const o of objs) {
      if (!['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition'].includes(o.kind))
        expect(o.metadata.namespace, o.kind).toBe(NS);
    }
  });

  it('runs the operator non-root, read-only, without privileges, with probes and resources', async () => {
    const { pod, c } = container(await renderChart());
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0).toBe(true);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(c.image).toBe('ghcr.io/tinysaver/operator:0.1.0');
    expect(c.resources.requests).toEqual({ cpu: '50m', memory: '128Mi' });
    expect(c.resources.limits.memory).toBe('256Mi');
    const ports = Object.fromEntries(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports).toEqual({ metrics: 8081 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.args[0]).toBe('operator');
    expect(c.args).toContain('--metrics-port=8081');
    expect(c.args.some((a: string) => a.startsWith('--namespace'))).toBe(false);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
  });

  it('points the pod, the bindings and the Service at the same ServiceAccount and pods', async () => {
    const objs = await renderChart();
    const sa = findObject(objs, 'ServiceAccount').metadata.name;
    const { dep, pod } = container(objs);
    expect(pod.serviceAccountName).toBe(sa);
    for (const b of objs.filter((o) => o.kind.endsWith('Binding')))
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa, namespace: NS }]);
    const svc = findObject(objs, 'Service');
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
    for (const [k, v] of Object.entries(svc.spec.selector)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
    expect(svc.spec.ports).toEqual([{ name: 'metrics', port: 8081, targetPort: 'metrics', protocol: 'TCP' }]);
  });

  it('grants exactly what the operator uses: no wildcards, no secrets, nodes or RBAC objects', async () => {
    const objs = await renderChart();
    const cluster = rulesOf(objs, 'ClusterRole');
    expect(grants(cluster)).toEqual(EXPECTED_WORKLOAD_GRANTS);
    const all = [...cluster, ...rulesOf(objs, 'Role')];
    for (const r of all) {
      expect([...r.apiGroups, ...r.resources, ...r.verbs]).not.toContain('*');
      expect(r.resources.some((x) => /secrets|nodes|roles|rolebindings|serviceaccounts|customresourcedefinitions/.test(x))).toBe(false);
    }
    // The Lease lives only in the operator's namespace.
    const leaseRole = findObject(objs, 'Role', 'ts-tinysaver-operator-leader-election');
    expect(leaseRole.metadata.namespace).toBe(NS);
    expect(grants(leaseRole.rules)).toEqual({ 'coordination.k8s.io/leases': ['create', 'get', 'update'] });
    expect(grants(cluster)['coordination.k8s.io/leases']).toBeUndefined();
  });
});

describe('leader election', () => {
  it('always runs, on a Lease in the release namespace held under the pod name, with a working Role', async () => {
    for (const replicaCount of [1, 3]) {
      const objs = await renderChart({ replicaCount });
      const { c } = container(objs);
      expect(c.args).toEqual(
        expect.arrayContaining([`--lease-namespace=${NS}`, '--lease-name=ts-tinysaver-operator', '--identity=$(POD_NAME)']),
      );
      expect(c.env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
      expect(findObject(objs, 'RoleBinding', 'ts-tinysaver-operator-leader-election').roleRef.name).toBe(
        'ts-tinysaver-operator-leader-election',
      );
    }
  });
  it('owns the leader Lease the operator is told to use, so helm uninstall removes it (issue 10)', async () => {
    const objs = await renderChart();
    const args = container(objs).c.args as string[];
    const lease = findObject(objs, 'Lease');
    expect(args).toContain(`--lease-name=${lease.metadata.name}`);
    expect(args).toContain(`--lease-namespace=${lease.metadata.namespace}`);
    expect(lease.spec).toEqual({});
  });
  it('renews at most every 2 s and well inside a short lease', async () => {
    const retry = async (lease: number) =>
      Number(
        (container(await renderChart({ 'operator.leaseDurationSeconds': lease })).c.args as string[])
          .find((a) => a.startsWith('--retry-period='))!
          .split('=')[1],
      );
    expect(await retry(15)).toBe(2000);
    expect(await retry(5)).toBe(1000);
  });
  it('passes the threshold controller settings as operator flags', async () => {
    const args = async (vals: Record<string, string | number | boolean>) => container(await renderChart(vals)).c.args as string[];
    const defaults = await args({});
    expect(defaults).toContain('--max-audit-rate=1');
    expect(defaults).toContain('--strata=1');
    expect(defaults.some((a) => a.startsWith('--prometheus-url'))).toBe(false);
    const set = await args({
      'operator.thresholdController.prometheusUrl': 'http://prom:9090',
      'operator.thresholdController.maxAuditRate': 0.1,
      'operator.thresholdController.strata': 3,
    });
    expect(set).toEqual(expect.arrayContaining(['--prometheus-url=http://prom:9090', '--max-audit-rate=0.1', '--strata=3']));
  });
  it('passes only flags that `tinysaver operator` accepts', async () => {
    const { run } = await import('../../cli/commands/operator.js');
    let help = '';
    const log = console.log;
    console.log = (s: string) => (help += s);
    try {
      expect(await run(['--help'])).toBe(0);
    } finally {
      console.log = log;
    }
    const objs = await renderChart({ ...ALL_FEATURES, 'namespaced.enabled': true });
    for (const a of (container(objs).c.args as string[]).slice(1)) {
      const flag = a.split('=')[0];
      expect(help, `chart passes ${flag}`).toMatch(new RegExp(`^\\s+${flag}\\b`, 'm'));
    }
  });
});

describe('namespaced mode', () => {
  it('uses a Role in the watched namespace, no cluster-wide grants, and --namespace', async () => {
    const objs = await renderChart({ 'namespaced.enabled': true, 'namespaced.namespace': 'ml-team' });
    expect(objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const role = findObject(objs, 'Role', 'ts-tinysaver-operator');
    expect(role.metadata.namespace).toBe('ml-team');
    expect(grants(role.rules)).toEqual(EXPECTED_WORKLOAD_GRANTS);
    const binding = findObject(objs, 'RoleBinding', 'ts-tinysaver-operator');
    expect(binding.metadata.namespace).toBe('ml-team');
    expect(binding.subjects[0].namespace).toBe(NS);
    expect(container(objs).c.args).toContain('--namespace=ml-team');
  });
  it('defaults the watched namespace to the release namespace', async () => {
    const objs = await renderChart({ 'namespaced.enabled': true });
    expect(findObject(objs, 'Role', 'ts-tinysaver-operator').metadata.namespace).toBe(NS);
    expect(container(objs).c.args).toContain(`--namespace=${NS}`);
  });
});

describe('every optional feature on', () => {
  it('adds a PDB, ServiceMonitors for operator and routers, the PrometheusRule and the dashboard', async () => {
    const objs = await renderChart({ ...ALL_FEATURES });
    const pdb = findObject(objs, 'PodDisruptionBudget');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(findObject(objs, 'Deployment').spec.selector.matchLabels);

    const monitors = objs.filter((o) => o.kind === 'ServiceMonitor');
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['ts-tinysaver-operator', 'ts-tinysaver-operator-routers']);
    const op = findObject(objs, 'ServiceMonitor', 'ts-tinysaver-operator');
    expect(op.spec.selector.matchLabels).toEqual(findObject(objs, 'Service').metadata.labels && findObject(objs, 'Service').spec.selector);
    expect(op.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics', honorLabels: true });
    const routers = findObject(objs, 'ServiceMonitor', 'ts-tinysaver-operator-routers');
    expect(routers.spec.namespaceSelector).toEqual({ any: true });
    expect(routers.spec.selector.matchLabels['app.kubernetes.io/managed-by']).toBe('tinysaver-operator');
    expect(routers.spec.endpoints[0].relabelings).toContainEqual({
      sourceLabels: ['__meta_kubernetes_service_label_tinysaver_io_cascade'],
      targetLabel: 'cascade',
    });

    const rule = findObject(objs, 'PrometheusRule');
    const alerts = rule.spec.groups.flatMap((g: { rules: { alert: string }[] }) => g.rules.map((r) => r.alert));
    expect(alerts.sort()).toEqual([
      'TinySaverBaseEscalationsFailing',
      'TinySaverLossBoundAboveBudget',
      'TinySaverOperatorNoLeader',
      'TinySaverOperatorReconcileErrors',
      'TinySaverTelemetryStale',
      'TinySaverThresholdPinnedAtMax',
    ]);

    const cm = findObject(objs, 'ConfigMap', 'ts-tinysaver-operator-dashboard');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    const dash = JSON.parse(cm.data['tinysaver-cascades.json']);
    expect(dash.uid).toBe('tinysaver-cascades');
    expect(dash.panels.map((p: { title: string }) => p.title)).toEqual(
      expect.arrayContaining([
        'Saver share',
        'Confidence threshold',
        'Accuracy loss bound vs budget',
        'Escalation rate',
        'Latency by stage (p50 / p95)',
      ]),
    );
  });

  it('selects exactly the router Service the operator builds (labels and port name)', async () => {
    const { buildRouterService, buildBaseService } = await import('../../operator/reconcile/builders/services.js');
    const mc = {
      apiVersion: 'tinysaver.io/v1alpha1',
      kind: 'ModelCascade',
      metadata: { name: 'demo', namespace: 'ml', uid: '00000000-0000-0000-0000-000000000001' },
      spec: { saver: { model: '/app/models/zoo/saver.onnx' }, base: { model: '/app/models/zoo/base.onnx' } },
    };
    const routerSvc = buildRouterService(mc as any) as any;
    const baseSvc = buildBaseService(mc as any) as any;
    const sm = findObject(await renderChart({ ...ALL_FEATURES }), 'ServiceMonitor', 'ts-tinysaver-operator-routers').spec;
    const selects = (labels: Record<string, string>) =>
      Object.entries(sm.selector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v) &&
      (sm.selector.matchExpressions as Array<{ key: string; operator: string }>).every((e) => e.operator === 'Exists' && e.key in labels);
    expect(selects(routerSvc.metadata.labels)).toBe(true);
    expect(selects(baseSvc.metadata.labels)).toBe(false);
    expect(routerSvc.spec.ports.map((p: { name: string }) => p.name)).toContain(sm.endpoints[0].port);
    expect(routerSvc.metadata.labels['tinysaver.io/cascade']).toBe('demo');
  });

  it('limits the router ServiceMonitor to the watched namespace in namespaced mode', async () => {
    const objs = await renderChart({ ...ALL_FEATURES, 'namespaced.enabled': true, 'namespaced.namespace': 'ml-team' });
    expect(findObject(objs, 'ServiceMonitor', 'ts-tinysaver-operator-routers').spec.namespaceSelector).toEqual({ matchNames: ['ml-team'] });
  });
});

describe('values.schema.json rejects bad values', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['negative replicas', ['--set', 'replicaCount=-1'], /replicaCount.*minimum/],
    ['replicas as a string', ['--set-string', 'replicaCount=two'], /replicaCount.*want integer/],
    ['unknown top-level key', ['--set', 'replicas=2'], /additional properties 'replicas' not allowed/],
    ['unknown nested key', ['--set', 'image.name=x'], /\/image.*additional properties 'name' not allowed/],
    ['bad pull policy', ['--set', 'image.pullPolicy=Sometimes'], /pullPolicy.*must be one of/],
    ['port out of range', ['--set', 'operator.metricsPort=70000'], /metricsPort.*maximum/],
    ['zero workers', ['--set', 'operator.workers=0'], /workers.*minimum/],
    ['bad digest', ['--set', 'image.digest=latest'], /digest/],
    ['feature flag not a boolean', ['--set-string', 'prometheusRule.enabled=yes'], /prometheusRule\/enabled.*want boolean/],
    ['bad scrape interval', ['--set', 'serviceMonitor.interval=soon'], /serviceMonitor\/interval/],
    ['fallback ratio above 1', ['--set', 'prometheusRule.baseFallbackRatio=2'], /baseFallbackRatio.*maximum/],
    ['audit-rate cap above 1', ['--set', 'operator.thresholdController.maxAuditRate=1.5'], /maxAuditRate/],
    ['audit-rate cap above 1 (JSON number)', ['--set-json', 'operator={"thresholdController":{"maxAuditRate":2}}'], /maxAuditRate/],
    ['zero strata', ['--set', 'operator.thresholdController.strata=0'], /strata.*minimum/],
    ['Prometheus URL without scheme', ['--set', 'operator.thresholdController.prometheusUrl=prom:9090'], /prometheusUrl/],
    ['bad namespace name', ['--set', 'namespaced.namespace=Not_A_Namespace'], /namespaced\/namespace/],
  ];
  it.each(cases)('%s', async (_name, args, message) => {
    const res = await helm(['template', 'ts', CHART_DIR, ...args]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(message);
  });
  it('refuses Kubernetes older than 1.30 (CEL rules in the CRD, preStop sleep in the pods) and accepts 1.30+', async () => {
    const old = await helm(['template', 'ts', CHART_DIR, '--kube-version', '1.29.9']);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/kubeVersion|incompatible/i);
    expect((await helm(['template', 'ts', CHART_DIR, '--kube-version', '1.30.0'])).code).toBe(0);
  });
  it('refuses a PodDisruptionBudget that would block every drain (minAvailable >= replicas)', async () => {
    const res = await helm(['template', 'ts', CHART_DIR, '--set', 'podDisruptionBudget.enabled=true']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('podDisruptionBudget.minAvailable (1) must be below replicaCount (1)');
    const pct = await renderChart({ 'podDisruptionBudget.enabled': true, 'podDisruptionBudget.minAvailable': '50%' });
    expect(findObject(pct, 'PodDisruptionBudget').spec.minAvailable).toBe('50%');
  });
  it('accepts the documented defaults and a digest-pinned image', async () => {
    const objs = await renderChart({ 'image.digest': `sha256:${'a'.repeat(64)}` });
    expect(container(objs).c.image).toBe(`ghcr.io/tinysaver/operator@sha256:${'a'.repeat(64)}`);
  });
});

describe('chart files', () => {
  it('ships the CRD byte-identical to the top-level crds/modelcascade.yaml', () => {
    const top = readFileSync(join(ROOT, 'crds', 'modelcascade.yaml'));
    const inChart = readFileSync(join(CHART_DIR, 'crds', 'modelcascade.yaml'));
    expect(inChart.equals(top), 'charts/tinysaver-operator/crds/modelcascade.yaml differs from crds/modelcascade.yaml; copy it over').toBe(
      true,
    );
  });

  it('documents every value in values.yaml with a comment on the key or an enclosing key', () => {
    const lines = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8').split('\n');
    const stack: Array<{ indent: number; documented: boolean }> = [];
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      const m = /^( *)([A-Za-z_][\w.-]*):(.*)$/.exec(line);
      if (!m) return;
      const indent = m[1].length;
      while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
      const documented = /^\s*#/.test(lines[i - 1] ?? '') || stack.some((s) => s.documented);
      const isLeaf = m[3].trim() !== '';
      if (isLeaf && !documented) undocumented.push(`line ${i + 1}: ${line.trim()}`);
      stack.push({ indent, documented });
    });
    expect(undocumented).toEqual([]);
  });

  it('has a schema entry for every key in values.yaml (so additionalProperties:false never rejects a default)', () => {
    const values = yaml.load(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'));
    const missing: string[] = [];
    const walk = (v: unknown, s: { properties?: Record<string, unknown>; additionalProperties?: unknown }, path: string) => {
      if (!v || typeof v !== 'object' || Array.isArray(v) || !s.properties) return;
      for (const [k, child] of Object.entries(v)) {
        const cs = s.properties[k] as typeof s | undefined;
        if (!cs) {
          if (s.additionalProperties === false) missing.push(`${path}${k}`);
          continue;
        }
        walk(child, cs, `${path}${k}.`);
      }
    };
    walk(values, schema, '');
    expect(missing).toEqual([]);
    expect(schema.additionalProperties).toBe(false);
  });
});
