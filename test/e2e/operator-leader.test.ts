// Leader election between operator replicas on a real kube-apiserver: exactly one reconciles, the other
// takes over when the leader stops (gracefully: lease released; or killed: lease expires).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, type Cluster } from './harness/cluster.js';
import {
  adminClient,
  createNamespace,
  eventually,
  installCrd,
  kubectlJson,
  startOperator,
  type OperatorHandle,
} from './harness/operator.js';
import { REPO_ROOT } from './harness/assets.js';
import type { KubeClient } from '../../operator/kube/client.js';

let cluster: Cluster;
let client: KubeClient;
const handles: OperatorHandle[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  // The CLI test runs the compiled operator (bin/tinysaver.js -> dist/); compile once if missing.
  if (!existsSync(join(REPO_ROOT, 'dist/cli/main.js')))
    spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  cluster = await startCluster();
  client = adminClient(cluster);
  await installCrd(cluster);
  await createNamespace(cluster, 'le');
}, 600_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all(handles.map((h) => h.stop()));
  client?.close();
  await cluster?.stop();
});

const mcYaml = (name: string) => `apiVersion: tinysaver.io/v1alpha1
kind: ModelCascade
metadata: {name: ${name}, namespace: le}
spec:
  saver: {model: /m/s.onnx}
  base: {model: /m/b.onnx}
`;

async function metric(h: OperatorHandle, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${h.op.httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

async function leaseHolder(name: string): Promise<string | null> {
  const lease = await client.getOrNull(`/apis/coordination.k8s.io/v1/namespaces/default/leases/${name}`);
  return lease?.spec?.holderIdentity ?? null;
}

describe('two operators', () => {
  it('exactly one leads and reconciles; the other takes over when the leader stops', async () => {
    const a = await startOperator(cluster, { identity: 'op-a', leaseDurationSeconds: 6 });
    const b = await startOperator(cluster, { identity: 'op-b', leaseDurationSeconds: 6 });
    handles.push(a, b);
    const leader = await eventually('a leader', async () => (a.op.isLeader ? a : b.op.isLeader ? b : null));
    const follower = leader === a ? b : a;
    // Over a couple of renew periods there is never more than one leader, and the Lease names it.
    for (let i = 0; i < 10; i++) {
      expect([a.op.isLeader, b.op.isLeader].filter(Boolean)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(await leaseHolder('tinysaver-operator')).toBe(leader.identity);

    expect((await cluster.kubectl(['apply', '-f', '-'], mcYaml('first'))).code).toBe(0);
    await eventually(
      'first reconciled',
      async () => (await kubectlJson(cluster, ['get', '-n', 'le', 'mc', 'first'])).status?.observedGeneration === 1,
    );
    expect(await metric(leader, 'tinysaver_operator_reconcile_total{result="success"}')).toBeGreaterThan(0);
    expect(await metric(follower, 'tinysaver_operator_reconcile_total')).toBe(0);
    expect(await metric(leader, 'tinysaver_operator_is_leader')).toBe(1);
    expect(await metric(follower, 'tinysaver_operator_is_leader')).toBe(0);
    for (const h of [leader, follower]) {
      expect((await fetch(`http://127.0.0.1:${h.op.httpPort}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${h.op.httpPort}/readyz`)).status).toBe(200);
    }

    await leader.stop(); // graceful: releases the lease
    await eventually('follower leads', async () => follower.op.isLeader, 15_000);
    expect(await leaseHolder('tinysaver-operator')).toBe(follower.identity);
    expect((await cluster.kubectl(['apply', '-f', '-'], mcYaml('second'))).code).toBe(0);
    await eventually(
      'second reconciled by the new leader',
      async () => (await kubectlJson(cluster, ['get', '-n', 'le', 'deployment', 'second-saver'])).metadata.name,
    );
    expect(await metric(follower, 'tinysaver_operator_reconcile_total{result="success"}')).toBeGreaterThan(0);
    await follower.stop();
  });
});

describe('tinysaver operator (CLI process)', () => {
  function startCli(leaseName: string, identity: string): { child: ChildProcess; stderr: () => string } {
    const child = spawn(
      process.execPath,
      [
        'bin/tinysaver.js',
        'operator',
        '--kubeconfig',
        cluster.kubeconfig,
        '--lease-namespace',
        'default',
        '--lease-name',
        leaseName,
        '--identity',
        identity,
        '--lease-duration',
        '3',
        '--retry-period',
        '200',
        '--metrics-host',
        '127.0.0.1',
        '--metrics-port',
        '0',
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(child);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    return { child, stderr: () => err };
  }

  it('a killed leader loses the lease to a standby after it expires; SIGTERM shuts down cleanly', async () => {
    const cli = startCli('cli-lease', 'cli-1');
    await eventually('cli leads', async () => cli.stderr().includes('"became leader"'), 30_000);
    expect(await leaseHolder('cli-lease')).toBe('cli-1');
    const standby = await startOperator(cluster, { identity: 'standby', leaseName: 'cli-lease', leaseDurationSeconds: 3 });
    handles.push(standby);
    await new Promise((r) => setTimeout(r, 1000));
    expect(standby.op.isLeader).toBe(false);
    cli.child.kill('SIGKILL'); // no release: the standby must wait for expiry
    await eventually('standby takes over', async () => standby.op.isLeader, 20_000);
    expect(await leaseHolder('cli-lease')).toBe('standby');

    const cli2 = startCli('cli-lease-2', 'cli-2');
    await eventually('cli-2 leads', async () => cli2.stderr().includes('"became leader"'), 30_000);
    const exited = new Promise<number | null>((r) => cli2.child.once('exit', (code) => r(code)));
    cli2.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(cli2.stderr()).toContain('"stopped"');
    // Graceful stop released the lease.
    expect(await leaseHolder('cli-lease-2')).toBeNull();
  });

  it('bad flags exit 2 with a message naming the flag', () => {
    const r = spawnSync(process.execPath, ['bin/tinysaver.js', 'operator', '--kubeconfig', cluster.kubeconfig, '--workers', 'many'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--workers');
    const missing = spawnSync(process.execPath, ['bin/tinysaver.js', 'operator', '--kubeconfig', '/nonexistent/kubeconfig'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('/nonexistent/kubeconfig');
  });
});
