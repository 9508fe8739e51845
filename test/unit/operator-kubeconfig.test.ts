// Cluster access without a cluster: kubeconfig parsing and merging, the per-request credentials (headers,
// cached agent), exec plugins run as real processes, rotating token files, in-cluster files under a temp root.
// The same paths against a real kube-apiserver: test/e2e/kube-access.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type https from 'node:https';
import {
  ExecPluginError,
  KubeconfigError,
  SERVICE_ACCOUNT_DIR,
  inClusterAccess,
  loadClusterAccess,
  loadKubeconfigFile,
  loadKubeconfigFiles,
} from '../../operator/kube/kubeconfig.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubeconfig-'));
  await writeFile(join(dir, 'ca.crt'), 'CA-PEM');
  await writeFile(join(dir, 'client.key'), 'KEY-PEM');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function write(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

const tlsOf = (agent: unknown) => (agent as https.Agent).options;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A credential plugin: a shell script that counts its runs and prints an ExecCredential. */
async function plugin(name: string, body: string): Promise<{ path: string; runs: () => Promise<number> }> {
  const count = join(dir, `${name}.count`);
  const path = await write(name, `#!/bin/sh\necho run >> "${count}"\n${body}\n`);
  await chmod(path, 0o755);
  return { path, runs: async () => (await readFile(count, 'utf8').catch(() => '')).split('\n').filter(Boolean).length };
}

function execKubeconfig(command: string, extra = ''): string {
  return `current-context: a
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: "${command}", args: ["--region", "x"], interactiveMode: Never${extra}}}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
`;
}

describe('loadKubeconfigFile', () => {
  it('resolves the current context: server, inline and file credentials (paths relative to the file), namespace', async () => {
    const p = await write(
      'a.yaml',
      `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443/", certificate-authority: ca.crt, tls-server-name: api.internal}
users:
- name: u1
  user: {client-certificate-data: ${Buffer.from('CERT-PEM').toString('base64')}, client-key: client.key}
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: ml}
`,
    );
    const c = loadKubeconfigFile(p);
    expect(c.server).toBe('https://10.0.0.1:6443');
    expect(c.namespace).toBe('ml');
    const auth = await c.requestAuth();
    expect(auth.headers.Authorization).toBeUndefined();
    const o = tlsOf(auth.agent);
    expect(String(o.ca)).toBe('CA-PEM');
    expect(String(o.cert)).toBe('CERT-PEM');
    expect(String(o.key)).toBe('KEY-PEM');
    expect(o.servername).toBe('api.internal');
    expect(o.rejectUnauthorized).toBe(true);
    // the keep-alive agent is reused while the TLS material is unchanged
    expect((await c.requestAuth()).agent).toBe(auth.agent);
    expect((auth.agent as https.Agent & { keepAlive: boolean }).keepAlive).toBe(true);
    c.close();
  });

  it('reads tokens, picks an explicit context, defaults the namespace, names what is missing', async () => {
    const p = await write(
      'b.yaml',
      `current-context: a
clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc, as: alice}}]
contexts: [{name: a, context: {cluster: missing, user: u}}, {name: b, context: {cluster: c, user: u}}, {name: d, context: {cluster: c, user: nobody}}]
`,
    );
    const c = loadKubeconfigFile(p, 'b');
    const auth = await c.requestAuth();
    expect(auth.headers).toEqual({ Authorization: 'Bearer abc', 'Impersonate-User': 'alice' });
    expect(c.namespace).toBe('default');
    expect(() => loadKubeconfigFile(p)).toThrow(/context "a" names cluster "missing", which is not defined/);
    expect(() => loadKubeconfigFile(p, 'nope')).toThrow(/context "nope" not found \(contexts: a, b, d\)/);
    expect(() => loadKubeconfigFile(p, 'd')).toThrow(/user "nobody", which is not defined/);
  });

  it('reports unreadable, unparsable and invalid files naming the file', async () => {
    const bad = await write('d.yaml', 'clusters: [unclosed');
    expect(() => loadKubeconfigFile(bad)).toThrow(KubeconfigError);
    expect(() => loadKubeconfigFile(bad)).toThrow(/d\.yaml: not YAML/);
    expect(() => loadKubeconfigFile(join(dir, 'absent.yaml'))).toThrow(/absent\.yaml: no such file/);
    const noServer = await write('e.yaml', 'clusters: [{name: c, cluster: {}}]\n');
    expect(() => loadKubeconfigFile(noServer)).toThrow(/e\.yaml: clusters\[0\]\.cluster\.server is missing/);
    const missingCa = await write(
      'f.yaml',
      `current-context: a
clusters: [{name: c, cluster: {server: "https://x", certificate-authority: nope.crt}}]
contexts: [{name: a, context: {cluster: c}}]
`,
    );
    expect(() => loadKubeconfigFile(missingCa)).toThrow(/certificate-authority .*nope\.crt/);
    const proxy = await write(
      'g.yaml',
      `current-context: a
clusters: [{name: c, cluster: {server: "https://x", proxy-url: "http://127.0.0.1:3128"}}]
contexts: [{name: a, context: {cluster: c}}]
`,
    );
    expect(() => loadKubeconfigFile(proxy)).toThrow(/proxy-url/);
  });
});

describe('the cached agent', () => {
  it('is kept when a credential file is rewritten with the same bytes and replaced when they change', async () => {
    await write('rot-ca.crt', 'CA-ONE');
    const p = await write(
      'rot.yaml',
      `current-context: a
clusters: [{name: c, cluster: {server: "https://x", certificate-authority: rot-ca.crt}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
`,
    );
    const c = loadKubeconfigFile(p);
    const first = (await c.requestAuth()).agent;
    await sleep(20);
    await write('rot-ca.crt', 'CA-ONE');
    await sleep(1100);
    expect((await c.requestAuth()).agent).toBe(first);
    await write('rot-ca.crt', 'CA-TWO');
    await sleep(1100);
    const second = (await c.requestAuth()).agent;
    expect(second).not.toBe(first);
    expect(String(tlsOf(second).ca)).toBe('CA-TWO');
    c.close();
  });
});

describe('merged KUBECONFIG lists (kubectl rules)', () => {
  it('first file wins per name and for current-context; missing files are skipped', async () => {
    const a = await write(
      'm1.yaml',
      `current-context: one
clusters: [{name: c, cluster: {server: "https://first:6443"}}]
users: [{name: u, user: {token: first}}]
contexts: [{name: one, context: {cluster: c, user: u, namespace: n1}}]
`,
    );
    const b = await write(
      'm2.yaml',
      `current-context: two
clusters: [{name: c, cluster: {server: "https://second:6443"}}, {name: c2, cluster: {server: "https://other:6443"}}]
users: [{name: u, user: {token: second}}, {name: u2, user: {token: t2}}]
contexts: [{name: one, context: {cluster: c2, user: u2}}, {name: two, context: {cluster: c2, user: u2, namespace: n2}}]
`,
    );
    const merged = loadClusterAccess({ env: { KUBECONFIG: [join(dir, 'not-there.yaml'), a, b].join(':') } });
    expect(merged.server).toBe('https://first:6443');
    expect(merged.namespace).toBe('n1');
    expect((await merged.requestAuth()).headers.Authorization).toBe('Bearer first');
    const two = loadKubeconfigFiles([a, b], 'two');
    expect(two.server).toBe('https://other:6443');
    expect((await two.requestAuth()).headers.Authorization).toBe('Bearer t2');
    expect(() => loadClusterAccess({ env: { KUBECONFIG: join(dir, 'nope1.yaml') } })).toThrow(/none of these files exists/);
    // --kubeconfig beats KUBECONFIG
    expect(loadClusterAccess({ kubeconfig: b, env: { KUBECONFIG: a } }).server).toBe('https://other:6443');
  });
});

describe('token files and in-cluster configuration', () => {
  it('re-reads a tokenFile after it changes', async () => {
    await write('token', 'one\n');
    const p = await write(
      'tf.yaml',
      `current-context: a
clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: u, user: {tokenFile: token}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
`,
    );
    const c = loadKubeconfigFile(p);
    expect((await c.requestAuth()).headers.Authorization).toBe('Bearer one');
    await write('token', 'two-longer\n');
    await sleep(1100);
    expect((await c.requestAuth()).headers.Authorization).toBe('Bearer two-longer');
  });

  it('reads the service-account files under a configurable root and the Service env vars', async () => {
    const root = join(dir, 'pod');
    const sa = join(root, SERVICE_ACCOUNT_DIR);
    await mkdir(sa, { recursive: true });
    await writeFile(join(sa, 'token'), 'sa-token');
    await writeFile(join(sa, 'ca.crt'), 'SA-CA');
    await writeFile(join(sa, 'namespace'), 'ops\n');
    const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' };
    const c = loadClusterAccess({ env, inClusterRoot: root });
    expect(c.source).toBe('in-cluster');
    expect(c.server).toBe('https://[fd00::1]:443');
    expect(c.namespace).toBe('ops');
    const auth = await c.requestAuth();
    expect(auth.headers.Authorization).toBe('Bearer sa-token');
    expect(String(tlsOf(auth.agent).ca)).toBe('SA-CA');
    expect(() => inClusterAccess({}, root)).toThrow(/KUBERNETES_SERVICE_HOST/);
    expect(() => loadClusterAccess({ env, inClusterRoot: root, context: 'x' })).toThrow(/--context/);
    // no token under the root: not in a cluster
    expect(() => loadClusterAccess({ env: { ...env, HOME: join(dir, 'nohome') }, inClusterRoot: join(dir, 'empty') })).toThrow(
      /no cluster configuration/,
    );
  });
});

describe('exec credential plugins', () => {
  it('runs the plugin once for concurrent requests, caches a credential without expiry, passes args and env', async () => {
    const pl = await plugin(
      'cred-noexp',
      `[ "$1 $2" = "--region x" ] || { echo "bad args: $*" >&2; exit 3; }
case "$KUBERNETES_EXEC_INFO" in *ExecCredential*) ;; *) echo "no exec info" >&2; exit 4;; esac
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-'"$MY_SUFFIX"'"}}'`,
    );
    const c = loadKubeconfigFile(await write('exec1.yaml', execKubeconfig(pl.path, ', env: [{name: MY_SUFFIX, value: abc}]')));
    const all = await Promise.all(Array.from({ length: 10 }, () => c.requestAuth()));
    expect(new Set(all.map((a) => a.headers.Authorization))).toEqual(new Set(['Bearer tok-abc']));
    await c.requestAuth();
    expect(await pl.runs()).toBe(1);
    // a 401 drops the credential: the next request runs the plugin again
    c.unauthorized();
    await c.requestAuth();
    expect(await pl.runs()).toBe(2);
  });

  it('runs the plugin again once the credential is about to expire', async () => {
    const pl = await plugin(
      'cred-exp',
      `exp=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"'$exp'"}}'`,
    );
    const c = loadKubeconfigFile(await write('exec2.yaml', execKubeconfig(pl.path)));
    await c.requestAuth();
    await c.requestAuth();
    expect(await pl.runs()).toBe(1);
    await sleep(2600);
    await c.requestAuth();
    expect(await pl.runs()).toBe(2);
  });

  it('a failing plugin is an error naming the plugin and the user, with its stderr', async () => {
    const pl = await plugin('cred-fail', 'echo "token expired, run: login --sso" >&2; exit 7');
    const c = loadKubeconfigFile(await write('exec3.yaml', execKubeconfig(pl.path)));
    const err = await c.requestAuth().catch((e) => e);
    expect(err).toBeInstanceOf(ExecPluginError);
    expect(err.message).toContain(
      `exec plugin "${pl.path}" (kubeconfig user "u") exited with code 7; stderr: token expired, run: login --sso`,
    );
  });

  it('a missing plugin is an error naming the command and the install hint', async () => {
    const c = loadKubeconfigFile(
      await write(
        'exec4.yaml',
        execKubeconfig('tinysaver-no-such-plugin', ', installHint: "install it with apt-get install no-such-plugin"'),
      ),
    );
    const err = await c.requestAuth().catch((e) => e);
    expect(err).toBeInstanceOf(ExecPluginError);
    expect(err.message).toMatch(/exec plugin "tinysaver-no-such-plugin" \(kubeconfig user "u"\): command not found/);
    expect(err.message).toContain('install it with apt-get install no-such-plugin');
  });

  it('refuses output that is not an ExecCredential', async () => {
    const pl = await plugin('cred-garbage', 'echo hello');
    const c = loadKubeconfigFile(await write('exec5.yaml', execKubeconfig(pl.path)));
    await expect(c.requestAuth()).rejects.toThrow(/stdout is not an ExecCredential JSON object: hello/);
  });

  it('uses client certificates from the ExecCredential, with a new agent for them', async () => {
    const pl = await plugin(
      'cred-cert',
      `echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"EXEC-CERT","clientKeyData":"EXEC-KEY"}}'`,
    );
    const c = loadKubeconfigFile(await write('exec6.yaml', execKubeconfig(pl.path)));
    const auth = await c.requestAuth();
    expect(auth.headers.Authorization).toBeUndefined();
    expect(tlsOf(auth.agent).cert).toBe('EXEC-CERT');
    expect(tlsOf(auth.agent).key).toBe('EXEC-KEY');
  });
});
