// Locates kube-apiserver, etcd and kubectl for the e2e tests: KUBEBUILDER_ASSETS (a directory holding all
// three, as setup-envtest produces) or TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD / TEST_ASSET_KUBECTL;
// otherwise scripts/build-kube-assets.sh builds them from the pinned upstream Go modules into a cache
// outside the repo (slow once, then instant).
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface KubeAssets {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
}

/** The repository root (works from test/e2e/harness and from its compiled copy under dist/). */
export const REPO_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'scripts', 'build-kube-assets.sh')) && dirname(dir) !== dir) dir = dirname(dir);
  return `${dir}/`;
})();

function executable(path: string, what: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${what}: ${path} is not an executable file`);
  }
  return path;
}

function fromEnv(): KubeAssets | null {
  const dir = process.env.KUBEBUILDER_ASSETS;
  const api = process.env.TEST_ASSET_KUBE_APISERVER ?? (dir && join(dir, 'kube-apiserver'));
  const etcd = process.env.TEST_ASSET_ETCD ?? (dir && join(dir, 'etcd'));
  const kubectl = process.env.TEST_ASSET_KUBECTL ?? (dir && join(dir, 'kubectl'));
  if (!api || !etcd || !kubectl) return null;
  return {
    kubeApiserver: executable(api, 'TEST_ASSET_KUBE_APISERVER / KUBEBUILDER_ASSETS'),
    etcd: executable(etcd, 'TEST_ASSET_ETCD / KUBEBUILDER_ASSETS'),
    kubectl: executable(kubectl, 'TEST_ASSET_KUBECTL / KUBEBUILDER_ASSETS'),
  };
}

let building: Promise<KubeAssets> | undefined;

/** Runs the build script (cached), streaming its progress to stderr. */
function build(): Promise<KubeAssets> {
  building ??= new Promise<KubeAssets>((resolve, reject) => {
    const script = join(REPO_ROOT, 'scripts', 'build-kube-assets.sh');
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`scripts/build-kube-assets.sh failed (exit ${code}); see its output above`));
      const dir = out.trim().split('\n').pop() ?? '';
      try {
        resolve({
          kubeApiserver: executable(join(dir, 'kube-apiserver'), 'built kube-apiserver'),
          etcd: executable(join(dir, 'etcd'), 'etcd'),
          kubectl: executable(join(dir, 'kubectl'), 'built kubectl'),
        });
      } catch (err) {
        reject(err);
      }
    });
  });
  return building;
}

export async function kubeAssets(): Promise<KubeAssets> {
  return fromEnv() ?? build();
}
