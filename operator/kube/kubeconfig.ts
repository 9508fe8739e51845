// Cluster access: where the apiserver is and, for every request, the TLS material and Authorization header.
//
// Sources, in the order controller-runtime uses: --kubeconfig (one file), $KUBECONFIG (a list merged the
// way kubectl merges it: the first file that names a cluster/user/context or sets current-context wins;
// missing files are skipped), in-cluster (KUBERNETES_SERVICE_HOST + the service-account files), then
// ~/.kube/config. Credentials: client certificates (inline or files), token, tokenFile (re-read when it
// changes), exec plugins (exec-credential.ts: cached until shortly before expiry, re-run after a 401),
// auth-provider oidc/azure/gcp (client-node's authenticators), basic auth, impersonation (`as`).
//
// Parsing is @kubernetes/client-node 1.4's own (newClusters/newUsers/newContexts, the code its KubeConfig
// runs). We do not load its KubeConfig class: config.js statically imports the generated API (gen/index.js),
// measured on the dev VM at +67 MiB RSS and +1.9 s start-up for the operator process (the whole operator
// idles at ~60 MiB and must peak under 150 MiB with 1,000 cascades), while the modules used here cost +4 MiB
// and 60 ms. The pieces of KubeConfig we replace (loading rules, path resolution, applying the TLS material)
// are short and kept below; its merge of KUBECONFIG lists differs from kubectl's (later files override
// current-context, duplicate names throw) and ours follows kubectl.
import http from 'node:http';
import https from 'node:https';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import yaml from 'js-yaml';
import { newClusters, newContexts, newUsers, type Cluster, type Context, type User } from '@kubernetes/client-node/dist/config_types.js';
import { ExecCredentialSource, ExecPluginError, type ExecConfig } from './exec-credential.js';

export { ExecPluginError };
export class KubeconfigError extends Error {}

/** Service-account files inside a pod, below the in-cluster root (`/` in a pod; a temp dir in tests). */
export const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

/** How often a credential file (CA, client cert/key, token) is checked for a change (stat, then re-read). */
const FILE_CHECK_MS = 1000;

/** A file re-read when it changes (mtime/size/inode; a rotated service-account token is a symlink swap). */
class WatchedFile {
  private value?: Buffer;
  private checkedAt = 0;
  private sig = '';
  constructor(
    readonly path: string,
    private readonly what: string,
  ) {}

  read(): Buffer {
    const now = Date.now();
    if (this.value && now - this.checkedAt < FILE_CHECK_MS) return this.value;
    this.checkedAt = now;
    try {
      const st = statSync(this.path);
      const sig = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (!this.value || sig !== this.sig) {
        this.value = readFileSync(this.path);
        this.sig = sig;
      }
    } catch (err) {
      // Keep the last good value while a rotation briefly removes the file (as client-go does).
      if (!this.value) throw new KubeconfigError(`${this.what} ${this.path}: ${(err as Error).message}`);
    }
    return this.value;
  }
}

type Material = () => Buffer | string;

interface AuthProviderUser {
  user: User;
  name: string;
}

export interface AccessParts {
  server: string;
  namespace: string;
  /** where the config came from: a file list, or "in-cluster" */
  source: string;
  context?: string;
  user?: string;
  ca?: Material;
  cert?: Material;
  key?: Material;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  token?: () => string;
  exec?: ExecCredentialSource;
  authProvider?: AuthProviderUser;
  basic?: { username: string; password: string };
  impersonate?: string;
}

export interface RequestAuth {
  headers: Record<string, string>;
  agent: http.Agent;
}

type Authenticator = { applyAuthentication(user: User, opts: https.RequestOptions): Promise<void> };

/**
 * Cluster access for the operator's REST client. requestAuth() is called once per request: it returns the
 * Authorization (and impersonation) headers and a keep-alive agent holding the current TLS material. The
 * agent is cached and replaced only when the material changes (a rotated CA or client cert, a new exec
 * certificate), so connections are reused across requests. Measured on the dev VM: 0.3-0.7 us of CPU per
 * requestAuth() (token, exec, client cert), against 7-31 us for client-node 1.4's applyToHTTPSOptions,
 * which also builds a new https.Agent each call (a TLS handshake per request).
 */
export class ClusterAccess {
  readonly server: string;
  readonly namespace: string;
  readonly source: string;
  private readonly tls: boolean;
  private agent?: http.Agent;
  private agentKey: unknown[] = [];
  private readonly retired: http.Agent[] = [];
  private authenticator?: Promise<Authenticator>;

  constructor(readonly parts: AccessParts) {
    this.server = parts.server.replace(/\/+$/, '');
    this.namespace = parts.namespace;
    this.source = parts.source;
    this.tls = new URL(this.server).protocol === 'https:';
  }

  /** Headers and agent for one request (runs or reuses an exec plugin, re-reads changed token files). */
  async requestAuth(): Promise<RequestAuth> {
    const p = this.parts;
    const headers: Record<string, string> = {};
    let cert = p.cert?.();
    let key = p.key?.();
    if (p.exec) {
      const c = await p.exec.get();
      if (c.token) headers.Authorization = `Bearer ${c.token}`;
      if (c.cert && c.key) {
        cert = c.cert;
        key = c.key;
      }
    } else if (p.authProvider) {
      const opts: https.RequestOptions = { headers: {} };
      await (await this.authProvider(p.authProvider)).applyAuthentication(p.authProvider.user, opts);
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    } else if (p.token) {
      const t = p.token();
      if (t) headers.Authorization = `Bearer ${t}`;
    } else if (p.basic) {
      headers.Authorization = `Basic ${Buffer.from(`${p.basic.username}:${p.basic.password}`).toString('base64')}`;
    }
    if (p.impersonate) headers['Impersonate-User'] = p.impersonate;
    return { headers, agent: this.agentFor(p.ca?.(), cert, key) };
  }

  /** The apiserver answered 401: drop cached exec credentials so the next request fetches new ones. */
  unauthorized(): void {
    this.parts.exec?.invalidate();
  }

  /** Checks that credentials can be obtained now (runs an exec plugin once); throws a clear error if not. */
  async check(): Promise<void> {
    await this.requestAuth();
  }

  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
    for (const a of this.retired.splice(0)) a.destroy();
  }

  private agentFor(ca?: Buffer | string, cert?: Buffer | string, key?: Buffer | string): http.Agent {
    const k = [ca, cert, key];
    if (this.agent && k.every((v, i) => sameMaterial(v, this.agentKey[i]))) {
      this.agentKey = k; // identical bytes re-read from a rotated file: keep the connections
      return this.agent;
    }
    if (this.agent) this.retire(this.agent);
    this.agentKey = k;
    this.agent = this.tls
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 64,
          ca,
          cert,
          key,
          servername: this.parts.tlsServerName,
          rejectUnauthorized: !this.parts.insecureSkipTlsVerify,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 64 });
    return this.agent;
  }

  /** Old TLS material: idle sockets close now, busy ones (watches) when their request ends. */
  private retire(a: http.Agent): void {
    (a as unknown as { keepAlive: boolean }).keepAlive = false;
    for (const list of Object.values(a.freeSockets)) for (const s of list ?? []) s.destroy();
    this.retired.push(a);
    if (this.retired.length > 8) this.retired.shift()!.destroy();
  }

  private authProvider(ap: AuthProviderUser): Promise<Authenticator> {
    // Loaded on first use: openid-client alone is ~8 MiB resident.
    this.authenticator ??= (async (): Promise<Authenticator> => {
      switch (ap.name) {
        case 'oidc':
          return new (await import('@kubernetes/client-node/dist/oidc_auth.js')).OpenIDConnectAuth();
        case 'azure':
          return new (await import('@kubernetes/client-node/dist/azure_auth.js')).AzureAuth();
        case 'gcp':
          return new (await import('@kubernetes/client-node/dist/gcp_auth.js')).GoogleCloudPlatformAuth();
        default:
          throw new KubeconfigError(
            `kubeconfig user "${this.parts.user}": auth-provider "${ap.name}" is not supported (oidc, azure, gcp; or use an exec plugin)`,
          );
      }
    })();
    return this.authenticator;
  }
}

function sameMaterial(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
}

export interface LoadOptions {
  /** --kubeconfig: one file, used alone */
  kubeconfig?: string;
  /** --context: instead of current-context */
  context?: string;
  /** environment to read KUBECONFIG / KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT / HOME from */
  env?: NodeJS.ProcessEnv;
  /** root the service-account directory is found under: "/" in a pod, a temp dir in tests */
  inClusterRoot?: string;
}

interface RawFile {
  path: string;
  raw: any;
}

function readKubeconfig(path: string): RawFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(
      `kubeconfig ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
  let raw: any;
  try {
    raw = yaml.load(text) ?? {};
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${path}: not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new KubeconfigError(`kubeconfig ${path}: not a kubeconfig (expected a mapping)`);
  return { path, raw };
}

interface Entry<T> {
  value: T;
  file: string;
  /** fields client-node's parser drops (tokenFile) */
  extra?: Record<string, unknown>;
}

/** The merged view of one or more kubeconfig files (kubectl's rules: first definition wins). */
interface Merged {
  clusters: Map<string, Entry<Cluster>>;
  users: Map<string, Entry<User>>;
  contexts: Map<string, Entry<Context>>;
  currentContext?: string;
  files: string[];
}

function abs(file: string, p: unknown): string | undefined {
  return typeof p === 'string' && p ? (isAbsolute(p) ? p : resolve(dirname(file), p)) : undefined;
}

function merge(files: RawFile[]): Merged {
  const m: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), files: files.map((f) => f.path) };
  for (const { path, raw } of files) {
    const parse = <T>(what: string, fn: () => T): T => {
      try {
        return fn();
      } catch (err) {
        throw new KubeconfigError(`kubeconfig ${path}: ${(err as Error).message}`);
      }
    };
    const clusters = parse('clusters', () => newClusters(raw.clusters ?? [], { onInvalidEntry: 'throw' }));
    // client-node reads `token-file` at parse time; kubectl's field is tokenFile, handled here (re-read on change).
    const rawUsers: any[] = Array.isArray(raw.users) ? raw.users : [];
    const users = parse('users', () =>
      newUsers(
        rawUsers.map((u) => (u?.user?.['token-file'] ? { ...u, user: { ...u.user, 'token-file': undefined } } : u)),
        { onInvalidEntry: 'throw' },
      ),
    );
    const contexts = parse('contexts', () => newContexts(raw.contexts ?? [], { onInvalidEntry: 'throw' }));
    for (const c of clusters) {
      if (m.clusters.has(c.name)) continue;
      m.clusters.set(c.name, { value: { ...c, caFile: abs(path, c.caFile) }, file: path });
    }
    users.forEach((u, i) => {
      if (m.users.has(u.name)) return;
      const ru = rawUsers[i]?.user ?? {};
      const exec = u.exec ? { ...u.exec } : undefined;
      // client-go: a relative command with a path separator is relative to the kubeconfig file
      if (exec && typeof exec.command === 'string' && exec.command.includes('/') && !isAbsolute(exec.command))
        exec.command = resolve(dirname(path), exec.command);
      m.users.set(u.name, {
        value: { ...u, exec, certFile: abs(path, u.certFile), keyFile: abs(path, u.keyFile) },
        file: path,
        extra: { tokenFile: abs(path, ru.tokenFile ?? ru['token-file']) },
      });
    });
    for (const c of contexts) if (!m.contexts.has(c.name)) m.contexts.set(c.name, { value: c, file: path });
    if (!m.currentContext && typeof raw['current-context'] === 'string' && raw['current-context'])
      m.currentContext = raw['current-context'];
  }
  return m;
}

function material(what: string, file: string | undefined, data: string | undefined): Material | undefined {
  if (data) {
    const b = Buffer.from(data, 'base64');
    return () => b;
  }
  if (file) {
    const w = new WatchedFile(file, what);
    w.read(); // fail at load time, not on the first request
    return () => w.read();
  }
  return undefined;
}

function fromMerged(m: Merged, contextName: string | undefined): ClusterAccess {
  const source = m.files.join(delimiter);
  const name = contextName ?? m.currentContext;
  if (!name)
    throw new KubeconfigError(
      `kubeconfig ${source}: no current-context set; pass --context (contexts: ${[...m.contexts.keys()].join(', ') || 'none'})`,
    );
  const ctx = m.contexts.get(name)?.value;
  if (!ctx)
    throw new KubeconfigError(
      `kubeconfig ${source}: context "${name}" not found (contexts: ${[...m.contexts.keys()].join(', ') || 'none'})`,
    );
  const cluster = m.clusters.get(ctx.cluster)?.value;
  if (!cluster) throw new KubeconfigError(`kubeconfig ${source}: context "${name}" names cluster "${ctx.cluster}", which is not defined`);
  if (cluster.proxyUrl)
    throw new KubeconfigError(`kubeconfig ${source}: cluster "${cluster.name}" sets proxy-url, which the operator does not support yet`);
  try {
    const proto = new URL(cluster.server).protocol;
    if (proto !== 'https:' && proto !== 'http:') throw new Error();
  } catch {
    throw new KubeconfigError(`kubeconfig ${source}: cluster "${cluster.name}" server "${cluster.server}" is not an http(s) URL`);
  }
  const userEntry = ctx.user ? m.users.get(ctx.user) : undefined;
  if (ctx.user && !userEntry)
    throw new KubeconfigError(`kubeconfig ${source}: context "${name}" names user "${ctx.user}", which is not defined`);
  const user = userEntry?.value;
  const parts: AccessParts = {
    server: cluster.server,
    namespace: ctx.namespace || 'default',
    source,
    context: name,
    user: ctx.user,
    ca: material(`cluster "${cluster.name}" certificate-authority`, cluster.caFile, cluster.caData),
    insecureSkipTlsVerify: cluster.skipTLSVerify,
    tlsServerName: cluster.tlsServerName,
  };
  if (user) {
    parts.cert = material(`user "${user.name}" client-certificate`, user.certFile, user.certData);
    parts.key = material(`user "${user.name}" client-key`, user.keyFile, user.keyData);
    if (!!parts.cert !== !!parts.key)
      throw new KubeconfigError(
        `kubeconfig ${source}: user "${user.name}" has a client certificate without a key, or a key without a certificate`,
      );
    const tokenFile = userEntry!.extra?.tokenFile as string | undefined;
    if (user.exec) {
      parts.exec = new ExecCredentialSource(user.name, user.exec as ExecConfig, {
        server: cluster.server,
        caData: cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined),
        tlsServerName: cluster.tlsServerName,
        insecureSkipTlsVerify: cluster.skipTLSVerify,
      });
    } else if (user.authProvider) {
      const apName = String(user.authProvider.name ?? '');
      // client-node's own kubeconfig form for in-cluster token files
      if (user.authProvider.config?.tokenFile)
        parts.token = tokenReader(abs(userEntry!.file, user.authProvider.config.tokenFile)!, user.name);
      else parts.authProvider = { user, name: apName };
    } else if (tokenFile) {
      parts.token = tokenReader(tokenFile, user.name);
    } else if (user.token) {
      const t = user.token.trim();
      parts.token = () => t;
    } else if (user.username) {
      parts.basic = { username: user.username, password: user.password ?? '' };
    }
    if (user.impersonateUser) parts.impersonate = user.impersonateUser;
  }
  return new ClusterAccess(parts);
}

function tokenReader(path: string, userName: string): () => string {
  const w = new WatchedFile(path, `user "${userName}" tokenFile`);
  w.read();
  let raw: Buffer | undefined;
  let text = '';
  return () => {
    const b = w.read();
    if (b !== raw) {
      raw = b;
      text = b.toString('utf8').trim();
    }
    return text;
  };
}

/** One kubeconfig file, or several merged (KUBECONFIG=a:b). */
export function loadKubeconfigFiles(paths: string[], context?: string): ClusterAccess {
  return fromMerged(merge(paths.map(readKubeconfig)), context);
}

export function loadKubeconfigFile(path: string, context?: string): ClusterAccess {
  return loadKubeconfigFiles([path], context);
}

/** Inside a pod: the Service env vars and the mounted service-account token (re-read when rotated), CA and namespace. */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, root = '/'): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const dir = join(root, SERVICE_ACCOUNT_DIR);
  if (!host || !port) throw new KubeconfigError('in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set');
  const tokenPath = join(dir, 'token');
  let namespace = 'default';
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || 'default';
  } catch {
    /* no namespace file: default */
  }
  return new ClusterAccess({
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    namespace,
    source: 'in-cluster',
    ca: material('in-cluster service-account CA', join(dir, 'ca.crt'), undefined),
    token: tokenReader(tokenPath, 'in-cluster service account'),
  });
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * --kubeconfig, then $KUBECONFIG (merged list), then in-cluster (KUBERNETES_SERVICE_HOST set and a
 * service-account token mounted), then ~/.kube/config.
 */
export function loadClusterAccess(o: LoadOptions = {}): ClusterAccess {
  const env = o.env ?? process.env;
  if (o.kubeconfig) return loadKubeconfigFile(o.kubeconfig, o.context);
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p);
  if (list.length) {
    const present = list.filter(exists);
    if (!present.length) throw new KubeconfigError(`KUBECONFIG=${env.KUBECONFIG}: none of these files exists`);
    return loadKubeconfigFiles(present, o.context);
  }
  const root = o.inClusterRoot ?? '/';
  if (env.KUBERNETES_SERVICE_HOST && exists(join(root, SERVICE_ACCOUNT_DIR, 'token'))) {
    if (o.context)
      throw new KubeconfigError(
        `--context ${o.context}: running in-cluster there is no kubeconfig to pick a context from; pass --kubeconfig too`,
      );
    return inClusterAccess(env, root);
  }
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (exists(home)) return loadKubeconfigFile(home, o.context);
  throw new KubeconfigError('no cluster configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod');
}
