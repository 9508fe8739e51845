// Client-go style exec credential plugins (kubeconfig `users[].user.exec`: `aws eks get-token`,
// `gke-gcloud-auth-plugin`, `kubelogin`, ...): run the command, read an ExecCredential from its stdout,
// cache it until shortly before status.expirationTimestamp.
//
// Written here instead of using @kubernetes/client-node's ExecAuth (1.4.0), whose behaviour we measured
// or read as wrong for a long-running controller:
// - a credential without expirationTimestamp (valid until the apiserver says 401) is re-executed on EVERY
//   request (Date.parse(undefined) is NaN, so its cache never hits): one `aws` process per API call;
// - concurrent requests with an empty cache each spawn the plugin (no single flight);
// - the token is used up to its expiry instant (no margin), and a failing plugin rejects with its bare
//   stderr (`new Error(stderr)`) or `spawn aws ENOENT`, naming neither the plugin nor the user.
// The kubeconfig fields and the ExecCredential shape are client-go's (client.authentication.k8s.io v1 and
// v1beta1), including KUBERNETES_EXEC_INFO, installHint and interactiveMode.
import { spawn } from 'node:child_process';

export interface ExecConfig {
  command: string;
  args?: string[];
  env?: { name: string; value: string }[] | null;
  apiVersion?: string;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode?: 'Never' | 'IfAvailable' | 'Always';
}

export interface ExecResult {
  token?: string;
  /** PEM client certificate / key from status.clientCertificateData / clientKeyData */
  cert?: string;
  key?: string;
  /** ms since epoch; undefined: valid until the apiserver rejects it */
  expiresAt?: number;
}

export class ExecPluginError extends Error {}

const MAX_OUTPUT = 1 << 20;
/** Refresh this long before expiry: a tenth of the credential's life, at most 30 s. */
const MAX_MARGIN_MS = 30_000;
/** A plugin that has not answered by then is killed (every request waits for it). */
const PLUGIN_TIMEOUT_MS = 60_000;

export interface ExecClusterInfo {
  server: string;
  caData?: string;
  tlsServerName?: string;
  insecureSkipTlsVerify?: boolean;
}

export class ExecCredentialSource {
  private cached?: ExecResult;
  private refreshAt = 0;
  private inflight?: Promise<ExecResult>;
  /** how many times the plugin ran (tests and logs) */
  runs = 0;

  constructor(
    readonly userName: string,
    private readonly exec: ExecConfig,
    private readonly cluster: ExecClusterInfo,
    private readonly now: () => number = Date.now,
  ) {
    if (!exec || typeof exec.command !== 'string' || !exec.command) {
      throw new ExecPluginError(`kubeconfig user "${userName}": exec.command is missing`);
    }
    if (exec.interactiveMode === 'Always') {
      throw new ExecPluginError(
        `exec plugin "${exec.command}" (kubeconfig user "${userName}") needs an interactive terminal (interactiveMode: Always); the operator runs without one`,
      );
    }
  }

  get command(): string {
    return this.exec.command;
  }

  /** The current credential; runs the plugin when there is none or it is about to expire. */
  get(): Promise<ExecResult> {
    if (this.cached && this.now() < this.refreshAt) return Promise.resolve(this.cached);
    this.inflight ??= this.run().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** The apiserver rejected the credential (401): run the plugin again on the next request. */
  invalidate(): void {
    this.cached = undefined;
    this.refreshAt = 0;
  }

  private async run(): Promise<ExecResult> {
    const started = this.now();
    const stdout = await this.spawnPlugin();
    const who = `exec plugin "${this.exec.command}" (kubeconfig user "${this.userName}")`;
    let cred: any;
    try {
      cred = JSON.parse(stdout);
    } catch {
      throw new ExecPluginError(`${who}: stdout is not an ExecCredential JSON object: ${stdout.slice(0, 200)}`);
    }
    if (cred?.kind !== 'ExecCredential' || typeof cred.status !== 'object' || cred.status === null) {
      throw new ExecPluginError(`${who}: stdout is not an ExecCredential with a status`);
    }
    const st = cred.status;
    const result: ExecResult = {};
    if (typeof st.token === 'string' && st.token) result.token = st.token;
    if (typeof st.clientCertificateData === 'string' && st.clientCertificateData) result.cert = st.clientCertificateData;
    if (typeof st.clientKeyData === 'string' && st.clientKeyData) result.key = st.clientKeyData;
    if (!result.token && !(result.cert && result.key)) {
      throw new ExecPluginError(`${who}: ExecCredential status has neither a token nor clientCertificateData + clientKeyData`);
    }
    if (st.expirationTimestamp !== undefined) {
      const t = Date.parse(st.expirationTimestamp);
      if (!Number.isFinite(t))
        throw new ExecPluginError(`${who}: status.expirationTimestamp "${st.expirationTimestamp}" is not an RFC 3339 time`);
      result.expiresAt = t;
    }
    this.runs++;
    this.cached = result;
    this.refreshAt =
      result.expiresAt === undefined
        ? Number.POSITIVE_INFINITY
        : result.expiresAt - Math.min(MAX_MARGIN_MS, Math.max(0, result.expiresAt - started) / 10);
    return result;
  }

  private spawnPlugin(): Promise<string> {
    const who = `exec plugin "${this.exec.command}" (kubeconfig user "${this.userName}")`;
    const apiVersion = this.exec.apiVersion ?? 'client.authentication.k8s.io/v1beta1';
    const info: Record<string, unknown> = { apiVersion, kind: 'ExecCredential', spec: { interactive: false } };
    if (this.exec.provideClusterInfo) {
      (info.spec as Record<string, unknown>).cluster = {
        server: this.cluster.server,
        'certificate-authority-data': this.cluster.caData,
        'tls-server-name': this.cluster.tlsServerName,
        'insecure-skip-tls-verify': this.cluster.insecureSkipTlsVerify,
      };
    }
    const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    for (const e of this.exec.env ?? []) if (e && typeof e.name === 'string') env[e.name] = String(e.value ?? '');
    return new Promise<string>((resolvePromise, reject) => {
      const child = spawn(this.exec.command, Array.isArray(this.exec.args) ? this.exec.args.map(String) : [], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, PLUGIN_TIMEOUT_MS);
      timer.unref();
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (c: string) => (out.length < MAX_OUTPUT ? (out += c) : undefined));
      child.stderr.on('data', (c: string) => (err.length < MAX_OUTPUT ? (err += c) : undefined));
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const hint = this.exec.installHint ? `\n${this.exec.installHint.trim()}` : '';
        if (e.code === 'ENOENT') reject(new ExecPluginError(`${who}: command not found (${e.message})${hint}`));
        else if (e.code === 'EACCES') reject(new ExecPluginError(`${who}: not executable (${e.message})${hint}`));
        else reject(new ExecPluginError(`${who}: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolvePromise(out);
        if (timedOut) return reject(new ExecPluginError(`${who} did not finish within ${PLUGIN_TIMEOUT_MS / 1000} s and was killed`));
        const stderr = err.trim().slice(-2000);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new ExecPluginError(`${who} ${how}${stderr ? `; stderr: ${stderr}` : ' (no stderr)'}`));
      });
    });
  }
}
