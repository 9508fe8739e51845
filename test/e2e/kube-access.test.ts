// Every way the operator gets cluster credentials, against a real kube-apiserver: client certificates
// (--client-ca-file, openssl-issued), an exec plugin whose credential expires (the operator runs it again),
// a merged KUBECONFIG=a:b (same answer as kubectl), a rotating tokenFile, in-cluster configuration
// (service-account files under a temp root, rotated by a symlink swap as the kubelet does, and the
// KUBERNETES_SERVICE_HOST/PORT env vars), and a failing or missing exec plugin (clear error, no stack).
// Identities are checked with SelfSubjectReview: the apiserver says who each request authenticated as.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { issueClientCert, startCluster, type Cluster } from './harness/cluster.js';
import { adminClient, createNamespace, eventually, installCrd, startOperator, type OperatorHandle } from './harness/operator.js';
import { REPO_ROOT } from './harness/assets.js';
import { ApiError, KubeClient } from '../../operator/kube/client.js';
import { SERVICE_ACCOUNT_DIR, inClusterAccess, loadClusterAccess, loadKubeconfigFile } from '../../operator/kube/kubeconfig.js';

let cluster: Cluster;
let admin: KubeClient;
const handles: OperatorHandle[] = [];
const clients: KubeClient[] = [];

const EXEC_TOKENS = Array.from({ length: 24 }, (_, i) => ({
  token: `exec-token-${i + 1}-${Math.random().toString(36).slice(2)}`,
  user: `exec-${i + 1}`,
  groups: ['system:masters'],
}));
const USERS = [
  { token: `merged-${Math.random().toString(36).slice(2)}`, user: 'merged-user', groups: ['system:masters'] },
  { token: `rot-a-${Math.random().toString(36).slice(2)}`, user: 'rot-a', groups: ['system:masters'] },
  { token: `rot-b-${Math.random().toString(36).slice(2)}`, user: 'rot-b', groups: ['system:masters'] },
  { token: `sa-1-${Math.random().toString(36).slice(2)}`, user: 'sa-one', groups: ['system:masters'] },
  { token: `sa-2-${Math.random().toString(36).slice(2)}`, user: 'sa-two', groups: ['system:masters'] },
];
const tokenOf = (user: string) => [...EXEC_TOKENS, ...USERS].find((u) => u.user === user)!.token;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist/cli/main.js')))
    spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  cluster = await startCluster({ clientCa: true, tokens: [...EXEC_TOKENS, ...USERS] });
  admin = adminClient(cluster);
  await installCrd(cluster);
  await createNamespace(cluster, 'access');
  await createNamespace(cluster, 'incluster');
}, 600_000);

afterAll(async () => {
  await Promise.all(handles.map((h) => h.stop()));
  for (const c of clients) c.close();
  admin?.close();
  await cluster?.stop();
});

function client(c: KubeClient): KubeClient {
  clients.push(c);
  return c;
}

async function whoami(c: KubeClient): Promise<{ username: string; groups: string[] }> {
  const r = await c.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return r.status.userInfo;
}

function kubeconfig(user: Record<string, unknown>, extra: { clusterName?: string; server?: string; context?: boolean } = {}): string {
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${extra.clusterName ?? 'e2e'}`,
    `  cluster: {server: "${extra.server ?? cluster.server}", certificate-authority-data: ${cluster.ca.toString('base64')}}`,
    'users:',
    `- name: u`,
    `  user: ${JSON.stringify(user)}`,
  ];
  if (extra.context !== false)
    lines.push(
      'contexts:',
      `- name: ctx`,
      `  context: {cluster: ${extra.clusterName ?? 'e2e'}, user: u, namespace: access}`,
      'current-context: ctx',
    );
  return `${lines.join('\n')}\n`;
}

async function writeFileIn(name: string, text: string): Promise<string> {
  const p = join(cluster.dir, name);
  await writeFile(p, text);
  return p;
}

const mcYaml = (name: string, ns = 'access') => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: ${name}, namespace: ${ns}}
spec:
  saver: {model: /m/s.onnx}
  base: {model: /m/b.onnx}
`;

async function applyCascade(name: string, ns = 'access'): Promise<void> {
  const r = await cluster.kubectl(['apply', '-f', '-'], mcYaml(name, ns));
  if (r.code !== 0) throw new Error(r.stderr);
}

const configMapExists = (ns: string, name: string) =>
  eventually(`ConfigMap ${ns}/${name}-router`, () => admin.getOrNull(`/api/v1/namespaces/${ns}/configmaps/${name}-router`), 30_000);

describe('client certificates', () => {
  it('authenticates with an openssl-issued certificate (files), and a certificate from another CA is refused', async () => {
    const { cert, key } = await issueClientCert(cluster, 'cert-user', ['system:masters']);
    const path = await writeFileIn('cert.kubeconfig', kubeconfig({ 'client-certificate': cert, 'client-key': key }));
    const c = client(new KubeClient(loadKubeconfigFile(path)));
    const who = await whoami(c);
    expect(who.username).toBe('cert-user');
    expect(who.groups).toContain('system:masters');
    expect((await c.get('/api/v1/namespaces/access')).metadata.name).toBe('access');

    // inline data works the same
    const inline = await writeFileIn(
      'cert-inline.kubeconfig',
      kubeconfig({
        'client-certificate-data': (await readFile(cert)).toString('base64'),
        'client-key-data': (await readFile(key)).toString('base64'),
      }),
    );
    expect((await whoami(client(new KubeClient(loadKubeconfigFile(inline))))).username).toBe('cert-user');

    // a self-signed certificate is not from the client CA: anonymous -> 401 (anonymous auth is on but unbound)
    const rogue = join(cluster.dir, 'rogue');
    spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${rogue}.key`,
      '-out',
      `${rogue}.crt`,
      '-subj',
      '/CN=cert-user/O=system:masters',
      '-days',
      '1',
    ]);
    const bad = await writeFileIn('rogue.kubeconfig', kubeconfig({ 'client-certificate': `${rogue}.crt`, 'client-key': `${rogue}.key` }));
    const err = await client(new KubeClient(loadKubeconfigFile(bad)))
      .get('/api/v1/namespaces/access')
      .catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect([401, 403]).toContain((err as ApiError).status);
  });
});

describe('exec credential plugin', () => {
  it('the operator runs the plugin, uses its token, and runs it again after the credential expires', async () => {
    const count = join(cluster.dir, 'exec-count');
    const tokens = join(cluster.dir, 'exec-tokens');
    await writeFile(tokens, EXEC_TOKENS.map((t) => t.token).join('\n') + '\n');
    // Each run hands out the next token (each a different user) valid for 3 s.
    const script = await writeFileIn(
      'get-token.sh',
      `#!/bin/sh
n=$(( $(cat "${count}" 2>/dev/null || echo 0) + 1 ))
echo $n > "${count}"
tok=$(sed -n "\${n}p" "${tokens}")
exp=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%S.%3NZ)
echo "{\\"apiVersion\\":\\"client.authentication.k8s.io/v1\\",\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"$tok\\",\\"expirationTimestamp\\":\\"$exp\\"}}"
`,
    );
    await chmod(script, 0o755);
    const path = await writeFileIn(
      'exec.kubeconfig',
      kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script, interactiveMode: 'Never' } }),
    );
    const access = loadKubeconfigFile(path);
    const h = await startOperator(cluster, { access, leaseName: 'exec-op', leaseNamespace: 'access' });
    handles.push(h);
    await eventually('leader', async () => h.op.isLeader);
    await applyCascade('exec-a');
    await configMapExists('access', 'exec-a');
    const runs = async () => Number((await readFile(count, 'utf8')).trim());
    const first = await runs();
    expect(first).toBeGreaterThanOrEqual(1);
    // the apiserver saw a token the plugin printed (exec-N: the plugin's Nth run)
    const tokenRun = async () => Number(/^exec-(\d+)$/.exec((await whoami(h.op.client)).username)?.[1] ?? NaN);
    expect(await tokenRun()).toBeGreaterThanOrEqual(1);

    await new Promise((r) => setTimeout(r, 3500));
    await applyCascade('exec-b');
    await configMapExists('access', 'exec-b');
    // every credential from the first `first` runs has expired by now: the token in use is from a later run
    expect(await tokenRun()).toBeGreaterThan(first);
    const later = await runs();
    expect(later).toBeGreaterThan(first);
    expect(later).toBeLessThanOrEqual(EXEC_TOKENS.length);
    // it kept leading throughout (no request failed long enough to lose the lease)
    expect(h.logs.filter((l) => l.includes('stopped leading'))).toEqual([]);
    await h.stop();
  });

  it('a failing plugin stops `tinysaver operator` with its name and stderr, no stack trace; a missing one names the command', async () => {
    const failing = await writeFileIn(
      'fail-token.sh',
      '#!/bin/sh\necho "error: SSO session expired; run: aws sso login --profile dev" >&2\nexit 3\n',
    );
    await chmod(failing, 0o755);
    const cfg = await writeFileIn(
      'fail.kubeconfig',
      kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: failing, args: ['eks', 'get-token'] } }),
    );
    const r = spawnSync(process.execPath, ['bin/tinysaver.js', 'operator', '--kubeconfig', cfg, '--metrics-port', '0'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `exec plugin "${failing}" (kubeconfig user "u") exited with code 3; stderr: error: SSO session expired; run: aws sso login --profile dev`,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);

    const missing = await writeFileIn(
      'missing.kubeconfig',
      kubeconfig({
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: 'gke-gcloud-auth-plugin-not-installed',
          installHint: 'Install gke-gcloud-auth-plugin for use with kubectl',
        },
      }),
    );
    const m = spawnSync(process.execPath, ['bin/tinysaver.js', 'operator', '--kubeconfig', missing, '--metrics-port', '0'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(m.status).toBe(1);
    expect(m.stderr).toContain('exec plugin "gke-gcloud-auth-plugin-not-installed" (kubeconfig user "u"): command not found');
    expect(m.stderr).toContain('Install gke-gcloud-auth-plugin for use with kubectl');
    expect(m.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('merged KUBECONFIG lists', () => {
  it('KUBECONFIG=a:b picks current-context, cluster and user across files as kubectl does', async () => {
    // a: the context and the cluster; b: the user, plus a same-named cluster that must lose (first wins)
    const a = await writeFileIn(
      'a.kubeconfig',
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: merged',
        'clusters:',
        `- name: e2e`,
        `  cluster: {server: "${cluster.server}", certificate-authority-data: ${cluster.ca.toString('base64')}}`,
        'contexts:',
        '- name: merged',
        '  context: {cluster: e2e, user: merged-user, namespace: access}',
        '',
      ].join('\n'),
    );
    const b = await writeFileIn(
      'b.kubeconfig',
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: elsewhere',
        'clusters:',
        '- name: e2e',
        '  cluster: {server: "https://127.0.0.1:1"}',
        'users:',
        '- name: merged-user',
        `  user: {token: ${tokenOf('merged-user')}}`,
        'contexts:',
        '- name: elsewhere',
        '  context: {cluster: e2e, user: nobody}',
        '',
      ].join('\n'),
    );
    const env = { ...process.env, KUBECONFIG: `${a}:${b}` };
    const access = loadClusterAccess({ env });
    expect(access.namespace).toBe('access');
    expect((await whoami(client(new KubeClient(access)))).username).toBe('merged-user');
    // kubectl reads the same list the same way
    const k = spawnSync(cluster.assets.kubectl, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], {
      env,
      encoding: 'utf8',
    });
    expect(k.stderr).toBe('');
    expect(k.stdout).toBe('merged-user');
  });
});

describe('rotating tokenFile', () => {
  it('requests use the new token once the file changes', async () => {
    const tokenFile = await writeFileIn('rotating-token', `${tokenOf('rot-a')}\n`);
    const path = await writeFileIn('tokenfile.kubeconfig', kubeconfig({ tokenFile }));
    const c = client(new KubeClient(loadKubeconfigFile(path)));
    expect((await whoami(c)).username).toBe('rot-a');
    await writeFile(tokenFile, `${tokenOf('rot-b')}\n`);
    await eventually('rotated token in use', async () => (await whoami(c)).username === 'rot-b', 10_000);
  });
});

describe('in-cluster configuration', () => {
  it('the operator runs from service-account files and KUBERNETES_SERVICE_HOST/PORT, and follows a token rotated by symlink swap', async () => {
    const root = join(cluster.dir, 'pod-root');
    const sa = join(root, SERVICE_ACCOUNT_DIR);
    await mkdir(join(sa, '..v1'), { recursive: true });
    await writeFile(join(sa, '..v1', 'token'), tokenOf('sa-one'));
    await writeFile(join(sa, '..v1', 'ca.crt'), cluster.ca);
    await writeFile(join(sa, '..v1', 'namespace'), 'incluster');
    await symlink('..v1', join(sa, '..data'));
    for (const f of ['token', 'ca.crt', 'namespace']) await symlink(join('..data', f), join(sa, f));
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(cluster.port) };
    const access = loadClusterAccess({ env, inClusterRoot: root });
    expect(access.source).toBe('in-cluster');
    expect(access.namespace).toBe('incluster');

    const h = await startOperator(cluster, { access, leaseName: 'in-cluster-op', leaseNamespace: access.namespace });
    handles.push(h);
    await eventually('leader', async () => h.op.isLeader);
    const lease = await admin.get('/apis/coordination.k8s.io/v1/namespaces/incluster/leases/in-cluster-op');
    expect(lease.spec.holderIdentity).toBe(h.identity);
    await applyCascade('pod-a', 'incluster');
    await configMapExists('incluster', 'pod-a');
    expect((await whoami(h.op.client)).username).toBe('sa-one');

    // kubelet-style rotation: new directory, then an atomic swap of the ..data symlink
    await mkdir(join(sa, '..v2'));
    await writeFile(join(sa, '..v2', 'token'), tokenOf('sa-two'));
    await writeFile(join(sa, '..v2', 'ca.crt'), cluster.ca);
    await writeFile(join(sa, '..v2', 'namespace'), 'incluster');
    await symlink('..v2', join(sa, '..data_tmp'));
    await rename(join(sa, '..data_tmp'), join(sa, '..data'));
    await eventually('rotated service-account token in use', async () => (await whoami(h.op.client)).username === 'sa-two', 10_000);
    await applyCascade('pod-b', 'incluster');
    await configMapExists('incluster', 'pod-b');
    await h.stop();
    // the same files read directly
    expect(inClusterAccess(env, root).server).toBe(`https://127.0.0.1:${cluster.port}`);
  });
});

describe('operator CLI with a kubeconfig user it could not use before', () => {
  it('starts with an exec-plugin kubeconfig and logs the server', async () => {
    const script = await writeFileIn(
      'cli-token.sh',
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"${tokenOf('merged-user')}"}}'\n`,
    );
    await chmod(script, 0o755);
    const cfg = await writeFileIn(
      'cli-exec.kubeconfig',
      kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script } }),
    );
    const child = spawn(
      process.execPath,
      [
        'bin/tinysaver.js',
        'operator',
        '--kubeconfig',
        cfg,
        '--metrics-host',
        '127.0.0.1',
        '--metrics-port',
        '0',
        '--lease-name',
        'cli-exec',
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      await eventually('controllers started', async () => stderr.includes('"controllers started"'), 30_000);
      expect(stderr).toContain(`"server":"${cluster.server}"`);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
