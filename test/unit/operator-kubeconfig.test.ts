import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeconfigFile, KubeconfigError } from '../../operator/kube/kubeconfig.js';

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

describe('loadKubeconfigFile', () => {
  it('resolves the current context: server, inline and file credentials (paths relative to the file), namespace', async () => {
    const p = await write('a.yaml', `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster: {server: "https://10.0.0.1:6443/", certificate-authority: ca.crt}
users:
- name: u1
  user: {client-certificate-data: ${Buffer.from('CERT-PEM').toString('base64')}, client-key: client.key}
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: ml}
`);
    const c = loadKubeconfigFile(p);
    expect(c.server).toBe('https://10.0.0.1:6443');
    expect(c.ca?.toString()).toBe('CA-PEM');
    expect(c.cert?.toString()).toBe('CERT-PEM');
    expect(c.key?.toString()).toBe('KEY-PEM');
    expect(c.token).toBeUndefined();
    expect(c.namespace).toBe('ml');
  });

  it('reads tokens, picks an explicit context, defaults the namespace', async () => {
    const p = await write('b.yaml', `current-context: a
clusters: [{name: c, cluster: {server: "http://127.0.0.1:8080", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: a, context: {cluster: missing, user: u}}, {name: b, context: {cluster: c, user: u}}]
`);
    const c = loadKubeconfigFile(p, 'b');
    expect(c.token?.()).toBe('abc');
    expect(c.insecureSkipTlsVerify).toBe(true);
    expect(c.namespace).toBe('default');
    expect(() => loadKubeconfigFile(p)).toThrow(/cluster "missing" has no server/);
    expect(() => loadKubeconfigFile(p, 'nope')).toThrow(/context "nope" not found/);
  });

  it('refuses exec credential plugins clearly, and reports unparsable files', async () => {
    const p = await write('c.yaml', `current-context: a
clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: a, context: {cluster: c, user: u}}]
`);
    expect(() => loadKubeconfigFile(p)).toThrow(KubeconfigError);
    expect(() => loadKubeconfigFile(p)).toThrow(/exec\/auth-provider/);
    const bad = await write('d.yaml', 'clusters: [unclosed');
    expect(() => loadKubeconfigFile(bad)).toThrow(/d\.yaml/);
  });
});
