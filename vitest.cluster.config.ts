import { defineConfig } from 'vitest/config';

// The cluster tier (test/cluster): the user's story on a real single-node cluster (scripts/cluster/up.sh)
// with images built offline from docker/. Needs root, containerd, runc, CNI plugins and buildah
// (.ci/run installs them). One cluster for the whole tier, brought up by the global setup and torn
// down after it; files run one at a time (they share the node).
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 3_600_000,
    fileParallelism: false,
    maxWorkers: 1,
    reporters: ['default'],
    globalSetup: ['test/cluster/global-setup.ts'],
  },
});
