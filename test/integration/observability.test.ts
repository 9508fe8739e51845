// The chart's observability bundle against real tools and a real router:
// - `promtool check rules` on the rendered PrometheusRule, and `promtool test rules` proving each alert
//   fires on the condition it names and stays quiet otherwise;
// - the Grafana dashboard parses, its queries parse as PromQL, and every metric (and router label value)
//   the dashboard and the alerts use is exported: by a live router's /metrics (real model servers on
//   loopback, real traffic) or by the operator (operator/metrics/names.ts);
// - `promtool check metrics` on that live /metrics text.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yaml from 'js-yaml';
import { ALL_FEATURES, findObject, renderChart } from '../support/helm.js';
import { OPERATOR_CASCADE_METRICS } from '../../operator/metrics/names.js';
import { createOperatorMetrics } from '../../operator/metrics.js';
import { ThresholdMetrics } from '../../operator/threshold/metrics.js';
import { CostReporter } from '../../operator/cost/reporter.js';
import { zeroCounters } from '../../operator/telemetry/counters.js';
import { startModelServer, type RunningModelServer } from '../../runtime/server/model-server.js';
import { startRouter, type RunningRouter } from '../../runtime/router/server.js';
import { loadZooManifest, zooModelPath } from '../../models/zoo.js';

const run = promisify(execFile);
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  title: string;
  targets?: Array<{ expr: string }>;
}

let work: string;
let rules: { groups: Array<{ name: string; rules: AlertRule[] }> };
let dashboard: { panels: Panel[]; templating: { list: Array<{ type: string; query?: { query: string } | string }> } };

async function promtool(args: string[], input?: string): Promise<{ code: number; out: string }> {
  try {
    const child = run(PROMTOOL, args, { cwd: work, maxBuffer: 16 << 20 });
    if (input !== undefined) {
      child.child.stdin!.end(input);
    }
    const { stdout, stderr } = await child;
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (e.code === 'ENOENT') throw new Error(`${PROMTOOL} not found: install Debian package "prometheus" (.ci/run does) or set PROMTOOL`);
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tinysaver-obs-'));
  const objs = await renderChart({ ...ALL_FEATURES });
  rules = { groups: findObject(objs, 'PrometheusRule').spec.groups };
  writeFileSync(join(work, 'rules.yaml'), yaml.dump(rules));
  dashboard = JSON.parse(findObject(objs, 'ConfigMap', 'ts-tinysaver-operator-dashboard').data['tinysaver-cascades.json']);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const allAlertExprs = () => rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
const dashboardExprs = () => dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const variableQueries = () =>
  dashboard.templating.list.filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : v.query!.query));

describe('PrometheusRule', () => {
  it('passes promtool check rules', async () => {
    const res = await promtool(['check', 'rules', 'rules.yaml']);
    expect(res.out).toContain('SUCCESS: 6 rules found');
    expect(res.code).toBe(0);
  });

  it('fires each alert on its condition and only there (promtool test rules)', async () => {
    // Descriptions are templated prose; the test pins expressions, durations, labels and summaries.
    const stripped = {
      groups: rules.groups.map((g) => ({
        ...g,
        rules: g.rules.map((r) => ({ ...r, annotations: { summary: r.annotations?.summary ?? '' } })),
      })),
    };
    writeFileSync(join(work, 'rules-under-test.yaml'), yaml.dump(stripped));
    const summary = (alert: string) => rules.groups.flatMap((g) => g.rules).find((r) => r.alert === alert)!.annotations!.summary;
    const s = (name: string, labels: Record<string, string>, values: string) => ({
      series: `${name}{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',')}}`,
      values,
    });
    const A = { namespace: 'ml', cascade: 'a' };
    const B = { namespace: 'ml', cascade: 'b' };
    const expect1 = (alert: string, labels: Record<string, string>, severity: string) => ({
      exp_labels: { ...labels, severity },
      exp_annotations: { summary: summary(alert) },
    });
    const tests = {
      rule_files: ['rules-under-test.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          name: 'loss bound above budget: a for 30m, b never',
          interval: '1m',
          input_series: [
            s('tinysaver_cascade_loss_bound', A, '0.02x40'),
            s('tinysaver_cascade_budget', A, '0.01x40'),
            s('tinysaver_cascade_loss_bound', B, '0.009x40'),
            s('tinysaver_cascade_budget', B, '0.01x40'),
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'TinySaverLossBoundAboveBudget', exp_alerts: [] }, // still pending (for: 10m)
            {
              eval_time: '20m',
              alertname: 'TinySaverLossBoundAboveBudget',
              exp_alerts: [expect1('TinySaverLossBoundAboveBudget', A, 'warning')],
            },
          ],
        },
        {
          name: 'telemetry stale: a ages by a minute each minute, b keeps being scraped',
          interval: '1m',
          input_series: [
            s('tinysaver_cascade_telemetry_age_seconds', A, '0+60x40'),
            s('tinysaver_cascade_telemetry_age_seconds', B, '15x40'),
          ],
          alert_rule_test: [
            { eval_time: '4m', alertname: 'TinySaverTelemetryStale', exp_alerts: [] },
            { eval_time: '20m', alertname: 'TinySaverTelemetryStale', exp_alerts: [expect1('TinySaverTelemetryStale', A, 'warning')] },
          ],
        },
        {
          name: 'base escalations failing: a falls back on 1/3 of escalated rows over two routers, b on 1%, c never escalates',
          interval: '1m',
          input_series: [
            s('tinysaver_rows_total', { ...A, pod: 'a-1', route: 'base' }, '0+10x40'),
            s('tinysaver_rows_total', { ...A, pod: 'a-1', route: 'fallback' }, '0+5x40'),
            s('tinysaver_rows_total', { ...A, pod: 'a-2', route: 'base' }, '0+10x40'),
            s('tinysaver_rows_total', { ...A, pod: 'a-2', route: 'fallback' }, '0+5x40'),
            s('tinysaver_rows_total', { ...A, pod: 'a-1', route: 'saver' }, '0+1000x40'),
            s('tinysaver_rows_total', { ...B, pod: 'b-1', route: 'base' }, '0+99x40'),
            s('tinysaver_rows_total', { ...B, pod: 'b-1', route: 'fallback' }, '0+1x40'),
            s('tinysaver_rows_total', { namespace: 'ml', cascade: 'c', pod: 'c-1', route: 'base' }, '0x40'),
            s('tinysaver_rows_total', { namespace: 'ml', cascade: 'c', pod: 'c-1', route: 'fallback' }, '0x40'),
          ],
          alert_rule_test: [
            { eval_time: '3m', alertname: 'TinySaverBaseEscalationsFailing', exp_alerts: [] },
            {
              eval_time: '20m',
              alertname: 'TinySaverBaseEscalationsFailing',
              exp_alerts: [expect1('TinySaverBaseEscalationsFailing', A, 'critical')],
            },
          ],
        },
        {
          name: 'threshold pinned at max: a sits at max, b below',
          interval: '1m',
          input_series: [
            s('tinysaver_cascade_threshold', A, '0.99x40'),
            s('tinysaver_cascade_threshold_max', A, '0.99x40'),
            s('tinysaver_cascade_threshold', B, '0.9x40'),
            s('tinysaver_cascade_threshold_max', B, '0.99x40'),
          ],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'TinySaverThresholdPinnedAtMax', exp_alerts: [] },
            {
              eval_time: '20m',
              alertname: 'TinySaverThresholdPinnedAtMax',
              exp_alerts: [expect1('TinySaverThresholdPinnedAtMax', A, 'info')],
            },
          ],
        },
        {
          name: 'operator: reconcile errors from minute 10 on; the leader lease lost at minute 10 (standby never takes over)',
          interval: '1m',
          input_series: [
            s('tinysaver_operator_reconcile_total', { pod: 'op-1', result: 'success' }, '0+5x60'),
            s('tinysaver_operator_reconcile_total', { pod: 'op-1', result: 'error' }, '0x10 0+2x50'),
            s('tinysaver_operator_is_leader', { pod: 'op-1' }, '1x10 0x50'),
            s('tinysaver_operator_is_leader', { pod: 'op-2' }, '0x60'),
          ],
          alert_rule_test: [
            { eval_time: '9m', alertname: 'TinySaverOperatorReconcileErrors', exp_alerts: [] },
            { eval_time: '9m', alertname: 'TinySaverOperatorNoLeader', exp_alerts: [] },
            { eval_time: '13m', alertname: 'TinySaverOperatorNoLeader', exp_alerts: [] }, // pending (for: 5m)
            {
              eval_time: '17m',
              alertname: 'TinySaverOperatorNoLeader',
              exp_alerts: [{ exp_labels: { severity: 'critical' }, exp_annotations: { summary: summary('TinySaverOperatorNoLeader') } }],
            },
            {
              eval_time: '40m',
              alertname: 'TinySaverOperatorReconcileErrors',
              exp_alerts: [
                { exp_labels: { severity: 'warning' }, exp_annotations: { summary: summary('TinySaverOperatorReconcileErrors') } },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(join(work, 'rules.test.yaml'), yaml.dump(tests));
    const res = await promtool(['test', 'rules', 'rules.test.yaml']);
    expect(res.out).toContain('SUCCESS');
    expect(res.code, res.out).toBe(0);
  });

  it('promtool test rules catches a wrong expectation (the harness can fail)', async () => {
    const tests = {
      rule_files: ['rules-under-test.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: 'tinysaver_cascade_loss_bound{namespace="ml",cascade="b"}', values: '0.001x40' },
            { series: 'tinysaver_cascade_budget{namespace="ml",cascade="b"}', values: '0.01x40' },
          ],
          alert_rule_test: [
            {
              eval_time: '20m',
              alertname: 'TinySaverLossBoundAboveBudget',
              exp_alerts: [{ exp_labels: { namespace: 'ml', cascade: 'b', severity: 'warning' } }],
            },
          ],
        },
      ],
    };
    writeFileSync(join(work, 'wrong.test.yaml'), yaml.dump(tests));
    const res = await promtool(['test', 'rules', 'wrong.test.yaml']);
    expect(res.code).not.toBe(0);
  });
});

describe('Grafana dashboard', () => {
  it('has the panels the issue asks for and every query parses as PromQL', async () => {
    const titles = dashboard.panels.map((p) => p.title);
    for (const t of [
      'Saver share',
      'Confidence threshold',
      'Accuracy loss bound vs budget',
      'Escalation rate',
      'Latency by stage (p50 / p95)',
      'Cost saved per hour (spec.cost)',
      'Base rows avoided',
    ]) {
      expect(titles).toContain(t);
    }
    // Dashboard variables become regexes; check the queries as recording rules.
    const exprs = dashboardExprs().map((e) => e.replaceAll('$namespace', '.*').replaceAll('$cascade', '.*'));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    const file = { groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `tinysaver:dashboard_query_${i}`, expr })) }] };
    writeFileSync(join(work, 'dashboard-queries.yaml'), yaml.dump(file));
    const res = await promtool(['check', 'rules', 'dashboard-queries.yaml']);
    expect(res.code, res.out).toBe(0);
  });

  it('is importable: unique panel ids, non-overlapping grid, every query on the datasource variable', () => {
    const panels = dashboard.panels as Array<
      Panel & { id: number; type: string; gridPos: { x: number; y: number; w: number; h: number }; datasource?: { uid: string } }
    >;
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      if (p.type !== 'row') {
        expect(p.datasource?.uid, p.title).toBe('${datasource}');
        expect(p.targets?.length, p.title).toBeGreaterThan(0);
      }
    }
    expect(dashboard.templating.list.map((v) => (v as { name?: string }).name)).toEqual(['datasource', 'namespace', 'cascade']);
  });
});

/** Metric families and series of a Prometheus text exposition. */
function parseExposition(text: string) {
  const families = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1], m[2]);
  const series = new Map<string, Array<Record<string, string>>>();
  for (const m of text.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? \S+$/gm)) {
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    series.set(m[1], [...(series.get(m[1]) ?? []), labels]);
  }
  const names = new Set<string>();
  for (const [name, kind] of families) {
    names.add(name);
    if (kind === 'histogram') for (const sfx of ['_bucket', '_sum', '_count']) names.add(name + sfx);
  }
  return { families, series, names };
}

/** The operator's real registry (operator/metrics.ts + the threshold controller's per-cascade metrics). */
async function operatorExposition(): Promise<string> {
  const m = createOperatorMetrics();
  const t = new ThresholdMetrics(m.registry);
  const labels = { namespace: 'ml', cascade: 'fashion' };
  t.update(labels, { threshold: 0.9, max: 0.99, bound: 0.004, budget: 0.01, share: 0.8 });
  t.scraped(labels, Date.now() - 5000);
  t.changed(labels, 'raise');
  // a cascade with spec.cost: the live-savings gauges
  const counters = { ...zeroCounters(), rowsSaver: 80, rowsBase: 20 };
  const mc = {
    apiVersion: 'tinysaver.io/v1alpha1',
    kind: 'ModelCascade',
    metadata: { name: 'fashion', namespace: 'ml' },
    spec: {
      saver: { model: '/s' },
      base: { model: '/b' },
      cost: { saver: { rowsPerSecond: 1000, pricePerHour: 0.05 }, base: { rowsPerSecond: 100, pricePerHour: 2 } },
    },
  };
  new CostReporter(m.registry).withSavings({}, mc, { counters, slots: 2, spanMs: 10_000 }, 10_000, false);
  m.reconciles.inc({ result: 'success' });
  m.reconcileDuration.observe(0.02);
  m.isLeader.set(1);
  return m.registry.metrics();
}

describe('live operator /metrics registry', () => {
  it('passes promtool check metrics and exports every name in operator/metrics/names.ts', async () => {
    const text = await operatorExposition();
    const res = await promtool(['check', 'metrics'], text);
    // prom-client's built-in Node.js gauges (collectDefaultMetrics) are named *_total although they
    // are gauges; that is the library's naming, not ours. Every other finding fails the test.
    const findings = res.out
      .trim()
      .split('\n')
      .filter((l) => l && !/^tinysaver_operator_nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/.test(l));
    expect(findings, 'promtool lint findings').toEqual([]);
    const { names } = parseExposition(text);
    for (const n of OPERATOR_CASCADE_METRICS) expect(names, n).toContain(n);
  });
});

describe('live router /metrics', () => {
  let saver: RunningModelServer;
  let base: RunningModelServer;
  let router: RunningRouter;
  let metricsText: string;

  beforeAll(async () => {
    const zoo = loadZooManifest();
    // Any two compatible zoo models make a real cascade; the metrics do not depend on which is bigger.
    const saverModel = zoo.models.find((m) => m.role === 'saver')!;
    const baseModel = zoo.models.find((m) => m.role === 'base') ?? zoo.models.find((m) => m !== saverModel)!;
    saver = await startModelServer({ modelPath: zooModelPath(saverModel.name), name: 'saver', port: 0 });
    base = await startModelServer({ modelPath: zooModelPath(baseModel.name), name: 'base', port: 0 });
    router = await startRouter({
      port: 0,
      saverUrl: saver.url,
      baseUrl: base.url,
      threshold: 0.8,
      auditRate: 0.5,
      log: () => {},
    });
    // Real traffic so every histogram and counter has samples: 64 random images in 4 requests.
    const rows = 16;
    for (let i = 0; i < 4; i++) {
      const data = Array.from({ length: rows * 784 }, (_, k) => ((k * 7919 + i * 104729) % 1000) / 1000);
      const res = await fetch(`${router.url}/v2/models/cascade/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: saverModel.input.name, shape: [rows, 1, 28, 28], datatype: 'FP32', data }] }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      await res.arrayBuffer();
    }
    await router.auditsIdle();
    metricsText = await (await fetch(`${router.url}/metrics`)).text();
  }, 120_000);

  afterAll(async () => {
    await router?.close();
    await Promise.all([saver?.close(), base?.close()]);
  });

  it('passes promtool check metrics', async () => {
    const res = await promtool(['check', 'metrics'], metricsText);
    expect(res.out.trim(), 'promtool lint findings').toBe('');
    expect(res.code).toBe(0);
  });

  it('exports every metric name and router label value the dashboard and the alerts use', async () => {
    const { series, names: routerNames } = parseExposition(metricsText);
    // DESIGN.md "Metrics (contract)" names, all present on a live router.
    for (const n of [
      'tinysaver_requests_total',
      'tinysaver_rows_total',
      'tinysaver_confidence',
      'tinysaver_escalated_confidence',
      'tinysaver_audit_confidence',
      'tinysaver_audit_dropped_total',
      'tinysaver_threshold',
      'tinysaver_request_duration_seconds',
    ]) {
      expect(routerNames, n).toContain(n);
    }
    const operator = parseExposition(await operatorExposition());
    const used = [...allAlertExprs(), ...dashboardExprs(), ...variableQueries()].join('\n');
    const unknown: string[] = [];
    const badLabels: string[] = [];
    for (const m of used.matchAll(/\b(tinysaver_[a-z0-9_]+)(\{[^}]*\})?/g)) {
      const [, name, selector] = m;
      if (operator.names.has(name)) {
        // Operator label matchers (e.g. result="error") must name labels the operator sets.
        for (const lm of (selector ?? '').matchAll(/(\w+)\s*=~?\s*"([^"]*)"/g)) {
          if (['namespace', 'cascade'].includes(lm[1])) continue;
          const known = (operator.series.get(name) ?? []).some((l) => lm[1] in l);
          if (!known) badLabels.push(`${name}{${lm[1]}} (operator sets no such label)`);
        }
        continue;
      }
      if (!routerNames.has(name)) {
        unknown.push(name);
        continue;
      }
      // Router label matchers (namespace/cascade come from scraping, not from the router).
      for (const lm of (selector ?? '').matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)) {
        const [, label, op, value] = lm;
        if (label === 'namespace' || label === 'cascade' || value.startsWith('$')) continue;
        const values = new Set((series.get(name) ?? []).map((l) => l[label]).filter((v) => v !== undefined));
        const wanted = op === '=' ? [value] : value.split('|');
        for (const w of wanted)
          if (!values.has(w)) badLabels.push(`${name}{${label}="${w}"} (router has: ${[...values].join(', ') || 'no such label'})`);
      }
    }
    expect(unknown, 'metric names used by the chart but exported by neither the router nor the operator').toEqual([]);
    expect(badLabels).toEqual([]);
    // Latency by stage: the stage label values the dashboard groups by exist.
    const stages = new Set((series.get('tinysaver_request_duration_seconds_bucket') ?? []).map((l) => l.stage));
    expect([...stages].sort()).toEqual(['base', 'saver', 'total']);
  });
});
