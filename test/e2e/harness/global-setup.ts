// vitest globalSetup: make sure kube-apiserver/etcd/kubectl exist before any e2e file starts, so a fresh
// machine's `npm test` builds them once (progress on stderr) instead of inside a test's timeout. Skipped
// when the run is filtered to files that are not e2e tests.
import { kubeAssets } from './assets.js';

export default async function setup(): Promise<void> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-') && a !== 'run' && a !== 'watch');
  if (filters.length > 0 && !filters.some((f) => f.includes('e2e'))) return;
  await kubeAssets();
}
