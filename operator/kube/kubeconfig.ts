// Where the apiserver is and how to authenticate: from a kubeconfig file (--kubeconfig, KUBECONFIG,
// ~/.kube/config) or, inside a pod, from the mounted service-account token.
import { readFileSync, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import yaml from 'js-yaml';

export interface ClusterConfig {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Returns the bearer token now (in-cluster tokens rotate, so it is re-read). */
  token?: () => string;
  insecureSkipTlsVerify?: boolean;
  namespace: string;
  source: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class KubeconfigError extends Error {}

type Named<T> = { name: string } & T;
interface RawKubeconfig {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string; namespace?: string } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

function fileOrData(base: string, obj: Record<string, unknown>, fileKey: string, dataKey: string): Buffer | undefined {
  const data = obj[dataKey];
  if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
  const file = obj[fileKey];
  if (typeof file === 'string' && file) return readFileSync(resolve(base, file));
  return undefined;
}

export function loadKubeconfigFile(path: string, contextName?: string): ClusterConfig {
  let raw: RawKubeconfig;
  try {
    raw = (yaml.load(readFileSync(path, 'utf8')) ?? {}) as RawKubeconfig;
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${path}: ${(err as Error).message}`);
  }
  const ctxName = contextName ?? raw['current-context'];
  const ctx = raw.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new KubeconfigError(`kubeconfig ${path}: context "${ctxName ?? ''}" not found`);
  const cluster = raw.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== 'string') throw new KubeconfigError(`kubeconfig ${path}: cluster "${ctx.cluster}" has no server`);
  const user = raw.users?.find((u) => u.name === ctx.user)?.user ?? {};
  const base = dirname(path);
  const token = typeof user.token === 'string' ? user.token : typeof user.tokenFile === 'string' ? readFileSync(resolve(base, user.tokenFile), 'utf8').trim() : undefined;
  if (user.exec || user['auth-provider']) {
    throw new KubeconfigError(`kubeconfig ${path}: user "${ctx.user}" uses exec/auth-provider credentials, which the operator does not support; use a token or client certificate`);
  }
  return {
    server: cluster.server.replace(/\/+$/, ''),
    ca: fileOrData(base, cluster, 'certificate-authority', 'certificate-authority-data'),
    cert: fileOrData(base, user, 'client-certificate', 'client-certificate-data'),
    key: fileOrData(base, user, 'client-key', 'client-key-data'),
    token: token ? () => token : undefined,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    namespace: ctx.namespace ?? 'default',
    source: path,
  };
}

export function inClusterConfig(): ClusterConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host || !existsSync(join(SA_DIR, 'token'))) throw new KubeconfigError('not running in a cluster (no KUBERNETES_SERVICE_HOST or service-account token)');
  let cached = '';
  let readAt = 0;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SA_DIR, 'ca.crt')),
    token: () => {
      if (Date.now() - readAt > 60_000) {
        cached = readFileSync(join(SA_DIR, 'token'), 'utf8').trim();
        readAt = Date.now();
      }
      return cached;
    },
    namespace: existsSync(join(SA_DIR, 'namespace')) ? readFileSync(join(SA_DIR, 'namespace'), 'utf8').trim() : 'default',
    source: 'in-cluster',
  };
}

/** --kubeconfig, then KUBECONFIG (first entry), then in-cluster, then ~/.kube/config. */
export function loadClusterConfig(explicitPath?: string, context?: string): ClusterConfig {
  if (explicitPath) return loadKubeconfigFile(explicitPath, context);
  const env = process.env.KUBECONFIG?.split(':').find((p) => p);
  if (env) return loadKubeconfigFile(env, context);
  if (process.env.KUBERNETES_SERVICE_HOST) return inClusterConfig();
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return loadKubeconfigFile(home, context);
  throw new KubeconfigError('no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run in a cluster');
}
