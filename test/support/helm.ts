// Runs the real helm binary (test/support/tools.ts) against the repo's chart and parses what it renders.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { toolPath } from './tools.js';

const run = promisify(execFile);

/** The chart under test; TINYSAVER_CHART_DIR points the suites at a modified copy (RBAC experiments). */
export const CHART_DIR = process.env.TINYSAVER_CHART_DIR || fileURLToPath(new URL('../../charts/tinysaver-operator', import.meta.url));

/** A rendered Kubernetes object; tests index into it freely. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: any;
};

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with the given args; never throws on a non-zero exit (tests assert on it). */
export async function helm(args: string[], env: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  const bin = await toolPath('helm');
  try {
    const { stdout, stderr } = await run(bin, args, {
      maxBuffer: 64 << 20,
      // Keep helm's caches and config out of the user's home and away from other test runs.
      env: {
        ...process.env,
        HELM_CACHE_HOME: '/tmp/tinysaver-helm/cache',
        HELM_CONFIG_HOME: '/tmp/tinysaver-helm/config',
        HELM_DATA_HOME: '/tmp/tinysaver-helm/data',
        ...env,
      },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** `--set` pairs as helm args. */
export function setArgs(values: Record<string, string | number | boolean>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

/** Every optional feature of the chart switched on. */
export const ALL_FEATURES = {
  replicaCount: 2,
  'podDisruptionBudget.enabled': true,
  'serviceMonitor.enabled': true,
  'serviceMonitor.routers.enabled': true,
  'prometheusRule.enabled': true,
  'grafanaDashboard.enabled': true,
  'operator.thresholdController.prometheusUrl': 'http://prometheus.monitoring.svc:9090',
} as const;

/** `helm template` of the chart; throws with helm's message when rendering fails. */
export async function renderChart(
  values: Record<string, string | number | boolean> = {},
  opts: { release?: string; namespace?: string } = {},
): Promise<K8sObject[]> {
  const res = await helm([
    'template',
    opts.release ?? 'ts',
    CHART_DIR,
    '--namespace',
    opts.namespace ?? 'tinysaver-system',
    '--include-crds',
    ...setArgs(values),
  ]);
  if (res.code !== 0) throw new Error(`helm template failed: ${res.stderr.trim()}`);
  return parseManifests(res.stdout);
}

export function parseManifests(text: string): K8sObject[] {
  return yaml.loadAll(text).filter((d): d is K8sObject => d !== null && typeof d === 'object');
}

export function findObject(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const hit = objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (!hit) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in [${objs.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}]`);
  return hit;
}
