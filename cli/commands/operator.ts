// `tinysaver operator`: runs the ModelCascade operator against a cluster (kubeconfig or in-cluster).
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { untilSignal } from '../../runtime/oip/edge.js';

const HELP = `Usage: tinysaver operator [flags]

Reconciles ModelCascade objects (tinysaver.io/v1alpha1) into router ConfigMaps, saver/base Deployments,
Services and HPAs. Several replicas may run: a Lease elects one leader; the others stand by.

Flags:
  --kubeconfig PATH          kubeconfig file (default: $KUBECONFIG, a list merged like kubectl does, then
                             in-cluster service account, then ~/.kube/config). Client certificates, tokens,
                             tokenFile (re-read when it changes), exec plugins (aws eks get-token,
                             gke-gcloud-auth-plugin, kubelogin; re-run before the credential expires) and
                             auth-provider oidc are supported
  --context NAME             kubeconfig context (default: current-context)
  --namespace NS             watch only this namespace (default: all namespaces)
  --lease-namespace NS       namespace of the leader-election Lease (default: the kubeconfig/pod namespace)
  --lease-name NAME          Lease name (default: tinysaver-operator)
  --identity ID              leader-election identity (default: <hostname>-<random>)
  --lease-duration S         lease duration in seconds (default: 15)
  --retry-period MS          lease renew/acquire period in ms (default: 2000)
  --workers N                concurrent reconciles, one per key at a time (default: 4)
  --metrics-host HOST        address for /metrics, /healthz, /readyz (default: 0.0.0.0)
  --metrics-port PORT        port for /metrics, /healthz, /readyz; 0 picks a free one (default: 8081)
  --resync S                 re-reconcile every ModelCascade this often, in seconds (default: 300)
  --default-image IMAGE      runtime image of every ModelCascade whose spec.image is absent
                             (default: ghcr.io/tinysaver/runtime:0.1.0)

Threshold controller (mode adaptive/observe; per-cascade settings live in spec.budget and spec.control):
  --prometheus-url URL       read router telemetry from this Prometheus server (PromQL increase() over
                             spec.control.window) instead of scraping the router pods (default: scrape)
  --max-audit-rate F         cap in [0, 1] on every cascade's audit rate; per cascade the controller stays
                             within [spec.router.auditRate, spec.control.maxAuditRate] (default: 1, no cap)
  --strata N                 strata of the certification bound, 1..64; more strata split δ (default: 1)
  -h, --help                 show this help`;

function intFlag(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer in [${min}, ${max}], got "${raw}"`);
  return n;
}

function fractionFlag(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !(n >= 0 && n <= 1)) throw new Error(`--${name}: expected a number in [0, 1], got "${raw}"`);
  return n;
}

/** An image reference: non-empty, no whitespace, at most 512 characters (the CRD's spec.image limit). */
function imageFlag(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw === '' || /\s/.test(raw) || raw.length > 512) {
    throw new Error(`--${name}: expected an image reference (no spaces, at most 512 characters), got "${raw}"`);
  }
  return raw;
}

function urlFlag(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`--${name}: expected an http(s) URL, got "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--${name}: expected an http(s) URL, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        namespace: { type: 'string' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        identity: { type: 'string' },
        'lease-duration': { type: 'string' },
        'retry-period': { type: 'string' },
        workers: { type: 'string' },
        'metrics-host': { type: 'string' },
        'metrics-port': { type: 'string' },
        resync: { type: 'string' },
        'default-image': { type: 'string' },
        'prometheus-url': { type: 'string' },
        'max-audit-rate': { type: 'string' },
        strata: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`tinysaver operator: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const str = (k: string) => values[k] as string | undefined;
  let opts;
  try {
    // flag errors first, before the kubeconfig is read
    const threshold = {
      prometheusUrl: urlFlag('prometheus-url', str('prometheus-url')),
      maxAuditRate: fractionFlag('max-audit-rate', str('max-audit-rate')),
      strata: str('strata') === undefined ? undefined : intFlag('strata', str('strata'), 1, 1, 64),
    };
    const defaultImage = imageFlag('default-image', str('default-image'));
    const { loadClusterAccess } = await import('../../operator/kube/kubeconfig.js');
    const cluster = loadClusterAccess({ kubeconfig: str('kubeconfig'), context: str('context') });
    const leaseDurationSeconds = intFlag('lease-duration', str('lease-duration'), 15, 1, 3600);
    const retryPeriodMs = intFlag('retry-period', str('retry-period'), 2000, 50, 600_000);
    if (retryPeriodMs >= leaseDurationSeconds * 1000) throw new Error('--retry-period: must be shorter than --lease-duration');
    opts = {
      cluster,
      watchNamespace: str('namespace'),
      identity: str('identity') ?? `${hostname()}-${randomBytes(4).toString('hex')}`,
      leaseNamespace: str('lease-namespace') ?? cluster.namespace,
      leaseName: str('lease-name') ?? 'tinysaver-operator',
      leaseDurationSeconds,
      retryPeriodMs,
      workers: intFlag('workers', str('workers'), 4, 1, 256),
      httpHost: str('metrics-host') ?? '0.0.0.0',
      httpPort: intFlag('metrics-port', str('metrics-port'), 8081, 0, 65535),
      resyncMs: intFlag('resync', str('resync'), 300, 1, 86_400) * 1000,
      defaultImage,
      threshold,
      log: (level: string, msg: string, extra?: object) => {
        process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...extra })}\n`);
      },
    };
  } catch (err) {
    console.error(`tinysaver operator: ${(err as Error).message}`);
    return 2;
  }
  try {
    // Fail fast with the plugin's own words when credentials cannot be had (exec plugin missing or failing).
    await opts.cluster.check();
  } catch (err) {
    console.error(`tinysaver operator: cannot get cluster credentials (${opts.cluster.source}): ${(err as Error).message}`);
    opts.cluster.close();
    return 1;
  }
  const { Operator } = await import('../../operator/operator.js');
  const op = new Operator(opts);
  try {
    await op.start();
  } catch (err) {
    console.error(`tinysaver operator: cannot start: ${(err as Error).message}`);
    return 1;
  }
  opts.log('info', 'operator started', { server: opts.cluster.server, identity: opts.identity, http: `${opts.httpHost}:${op.httpPort}` });
  const sig = await untilSignal();
  opts.log('info', 'shutting down', { signal: sig });
  await op.stop();
  opts.log('info', 'stopped');
  return 0;
}
