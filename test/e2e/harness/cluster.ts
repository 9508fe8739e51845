// An envtest-style control plane: real etcd + real kube-apiserver on free loopback ports in a temp
// directory, a static admin token, a generated service-account signing key, a self-signed serving cert
// (--cert-dir), and a kubeconfig for kubectl and the operator. Optionally more static tokens (other users)
// and a client CA made with openssl (--client-ca-file) so tests can issue client certificates. There is no kube-controller-manager or
// scheduler: no garbage collector, no Deployment controller, no pods. Tests patch Deployment status
// themselves where a controller would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { kubeAssets, REPO_ROOT, type KubeAssets } from './assets.js';
import { freePort } from './free-port.js';

export interface Cluster {
  server: string;
  /** secure port on 127.0.0.1 */
  port: number;
  /** the apiserver's self-signed serving certificate (the CA to trust) */
  ca: Buffer;
  token: string;
  /** set with ClusterOptions.clientCa: the CA the apiserver trusts for client certificates */
  clientCa?: { cert: string; key: string };
  kubeconfig: string;
  dir: string;
  assets: KubeAssets;
  kubectl: (args: string[], input?: string) => Promise<KubectlResult>;
  stop: () => Promise<void>;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

function startProcess(bin: string, args: string[], logFile: string): { child: ChildProcess; logs: () => Promise<string> } {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let size = 0;
  const keep = (c: Buffer) => {
    // Keep the last ~1 MiB for failure diagnostics.
    chunks.push(c);
    size += c.length;
    while (size > 1 << 20 && chunks.length > 1) size -= chunks.shift()!.length;
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    child,
    logs: async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      await writeFile(logFile, text).catch(() => {});
      return text;
    },
  };
}

async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function getStatus(url: string, token: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { headers: { Authorization: `Bearer ${token}` }, ca, rejectUnauthorized: !!ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, diag: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const logs = await diag();
  throw new Error(`${what} not ready after ${timeoutMs} ms; last log lines:\n${logs.split('\n').slice(-30).join('\n')}`);
}

export interface ClusterOptions {
  /** Extra kube-apiserver flags (e.g. to force watch expiry in a test). */
  apiserverArgs?: string[];
  /** More static bearer tokens (--token-auth-file), each for its own user and groups. */
  tokens?: { token: string; user: string; groups?: string[] }[];
  /** Make a client CA with openssl and start the apiserver with --client-ca-file (see issueClientCert). */
  clientCa?: boolean;
}

const execFileP = promisify(execFile);

/** Issues a client certificate (CN=user, O=each group) signed by the cluster's client CA, with openssl. */
export async function issueClientCert(cluster: Cluster, user: string, groups: string[] = []): Promise<{ cert: string; key: string }> {
  if (!cluster.clientCa) throw new Error('issueClientCert: start the cluster with { clientCa: true }');
  const base = join(cluster.dir, `client-${user.replace(/[^a-z0-9-]/gi, '_')}`);
  const subj = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  await execFileP('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${base}.key`,
    '-out',
    `${base}.csr`,
    '-subj',
    subj,
  ]);
  await execFileP('openssl', [
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    cluster.clientCa.cert,
    '-CAkey',
    cluster.clientCa.key,
    '-CAcreateserial',
    '-out',
    `${base}.crt`,
    '-days',
    '1',
  ]);
  return { cert: `${base}.crt`, key: `${base}.key` };
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const assets = await kubeAssets();
  const dir = await mkdtemp(join(tmpdir(), 'tinysaver-envtest-'));
  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];

  const etcd = startProcess(
    assets.etcd,
    [
      '--name',
      'default',
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${etcdPeer}`,
      '--log-level',
      'warn',
    ],
    join(dir, 'etcd.log'),
  );

  const token = randomBytes(24).toString('hex');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await mkdir(join(dir, 'certs'), { recursive: true });
  await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const extra = (options.tokens ?? []).map((t) => `${t.token},${t.user},${t.user}-uid,"${(t.groups ?? []).join(',')}"\n`).join('');
  await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n${extra}`);
  let clientCa: Cluster['clientCa'];
  if (options.clientCa) {
    clientCa = { cert: join(dir, 'client-ca.crt'), key: join(dir, 'client-ca.key') };
    await execFileP('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      clientCa.key,
      '-out',
      clientCa.cert,
      '-subj',
      '/CN=tinysaver-e2e-client-ca',
      '-days',
      '1',
    ]);
  }

  const api = startProcess(
    assets.kubeApiserver,
    [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // Loopback cannot be published as the kubernetes Service endpoint; envtest does the same.
      '--endpoint-reconciler-type=none',
      // Room for thousands of Services (the scale benchmark creates two per ModelCascade).
      '--service-cluster-ip-range=10.0.0.0/16',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--disable-admission-plugins=ServiceAccount',
      '--v=1',
      ...(clientCa ? [`--client-ca-file=${clientCa.cert}`] : []),
      ...(options.apiserverArgs ?? []),
    ],
    join(dir, 'kube-apiserver.log'),
  );

  const server = `https://127.0.0.1:${apiPort}`;
  const stop = async () => {
    await stopProcess(api.child);
    await stopProcess(etcd.child);
    if (!process.env.TINYSAVER_KEEP_ENVTEST) await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'kube-apiserver /readyz',
      120_000,
      async () => {
        if (api.child.exitCode !== null)
          throw new Error(`kube-apiserver exited (${api.child.exitCode}):\n${(await api.logs()).split('\n').slice(-30).join('\n')}`);
        if (etcd.child.exitCode !== null)
          throw new Error(`etcd exited (${etcd.child.exitCode}):\n${(await etcd.logs()).split('\n').slice(-30).join('\n')}`);
        return (await getStatus(`${server}/readyz`, token)) === 200;
      },
      api.logs,
    );
    // The self-signed serving cert is written once the secure port is up; verify TLS against it from here on.
    const ca = await readFile(join(dir, 'certs', 'apiserver.crt'));
    await waitFor(
      'default namespace',
      30_000,
      async () => (await getStatus(`${server}/api/v1/namespaces/default`, token, ca)) === 200,
      api.logs,
    );
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: envtest',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority-data: ${ca.toString('base64')}`,
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: envtest',
        '  context: {cluster: envtest, user: admin, namespace: default}',
        'current-context: envtest',
        '',
      ].join('\n'),
    );
    const kubectl = (args: string[], input?: string) => runKubectl(assets.kubectl, kubeconfig, args, input);
    return { server, port: apiPort, ca, token, clientCa, kubeconfig, dir, assets, kubectl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function runKubectl(bin: string, kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
