// vitest globalSetup of the cluster tier: brings the single-node cluster up (scripts/cluster/up.sh: the
// binaries build once into the cache) and builds + imports the images from docker/ (scripts/cluster/images.sh),
// then tears it all down after the tier (scripts/cluster/down.sh) unless TINYSAVER_CLUSTER_KEEP=1.
import { script } from './harness.js';

export default async function setup(): Promise<() => Promise<void>> {
  const t0 = Date.now();
  await script('scripts/cluster/up.sh');
  const t1 = Date.now();
  await script('scripts/cluster/images.sh');
  process.stderr.write(
    `[cluster tier] cluster up in ${((t1 - t0) / 1000).toFixed(0)} s, images built and imported in ${((Date.now() - t1) / 1000).toFixed(0)} s\n`,
  );
  return async () => {
    if (process.env.TINYSAVER_CLUSTER_KEEP) {
      process.stderr.write('[cluster tier] TINYSAVER_CLUSTER_KEEP set: cluster left running; scripts/cluster/down.sh tears it down\n');
      return;
    }
    await script('scripts/cluster/down.sh');
  };
}
