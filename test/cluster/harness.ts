// The real single-node cluster the cluster tier runs on (scripts/cluster/up.sh, in its own network
// namespace) and the tools the tests drive it with: the kubectl built from the pinned Kubernetes module,
// the real helm binary, and the ClusterIP of a Service (the host reaches ClusterIPs through the node).
import { spawn, type ChildProcess } from 'node:child_process';
import { V2Client } from '../../runtime/oip/client.js';
import { freePort } from '../e2e/harness/free-port.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../e2e/harness/assets.js';
import { helm as runHelm, type HelmResult } from '../support/helm.js';

export const CLUSTER_DIR = process.env.TINYSAVER_CLUSTER_DIR || '/tmp/tinysaver-cluster';
export const KUBECONFIG = join(CLUSTER_DIR, 'kubeconfig');
export const RUNTIME_IMAGE = `localhost/tinysaver/runtime:${process.env.TINYSAVER_IMAGE_TAG || 'local'}`;
export const OPERATOR_IMAGE = `localhost/tinysaver/operator:${process.env.TINYSAVER_IMAGE_TAG || 'local'}`;
export const CHART_DIR = join(REPO_ROOT, 'charts', 'tinysaver-operator');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a script of the repo with stdout captured and stderr passed through (progress lines). */
export function script(path: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(REPO_ROOT, path), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path} ${args.join(' ')} exited ${code}`))));
  });
}

let kubectlPath: string | undefined;
async function kubectlBin(): Promise<string> {
  if (!kubectlPath) kubectlPath = join((await script('scripts/build-kube-assets.sh', ['--cluster'])).trim().split('\n').pop()!, 'kubectl');
  return kubectlPath;
}

/** Runs a program with stdin `input`, stdout and stderr captured; never throws on a non-zero exit. */
export function run(bin: string, args: string[], input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** kubectl against the cluster; never throws on a non-zero exit. */
export async function kubectl(args: string[], input?: string): Promise<Result> {
  return run(await kubectlBin(), ['--kubeconfig', KUBECONFIG, ...args], input);
}

/** ctr against the node's containerd; never throws on a non-zero exit. */
export function ctr(args: string[]): Promise<Result> {
  return run('ctr', ['--address', join(CLUSTER_DIR, 'containerd', 'containerd.sock'), ...args]);
}

/** kubectl ... -o json, parsed; throws with kubectl's message on failure. */

export async function kubectlJson(args: string[]): Promise<any> {
  const r = await kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/** kubectl that must succeed; returns stdout. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function helm(args: string[]): Promise<HelmResult> {
  return runHelm(['--kubeconfig', KUBECONFIG, ...args]);
}

/** Polls `fn` until it returns a value other than undefined/false; the last error or value in the message. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 1000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached in ${timeoutMs} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** http://<ClusterIP>:<port> of a Service (the host routes the Service range to the node). */
export async function serviceUrl(ns: string, name: string, port = 8000): Promise<string> {
  const svc = await kubectlJson(['get', '-n', ns, 'service', name]);
  return `http://${svc.spec.clusterIP}:${port}`;
}

/** Seconds since the timings file of up.sh and the image sizes of images.sh, for logs and bench. */
export function clusterFacts(): { timings: string; images: string } {
  const read = (f: string) => {
    try {
      return readFileSync(join(CLUSTER_DIR, f), 'utf8').trim();
    } catch {
      return '';
    }
  };
  return { timings: read('timings'), images: read('images.txt') };
}

/** Runs `tinysaver up` on loopback at `threshold` (the cluster's comparison point), calls fn with its URL, stops it. */
export async function localUp<T>(threshold: number, saverViaHttp: boolean, fn: (url: string) => Promise<T>): Promise<T> {
  const [port, saverPort, basePort] = [await freePort(), await freePort(), await freePort()];
  const args = [
    'bin/tinysaver.js',
    'up',
    '--port',
    String(port),
    '--saver-port',
    String(saverPort),
    '--base-port',
    String(basePort),
    '--threshold',
    String(threshold),
  ];
  if (saverViaHttp) args.push('--saver-via-http');
  const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    const client = new V2Client(url, { timeoutMs: 2000 });
    await eventually(`local up ready (${err.slice(-300)})`, async () => client.ready('cascade').catch(() => false), 120_000, 250);
    client.close();
    return await fn(url);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
