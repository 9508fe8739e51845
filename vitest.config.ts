import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The cluster tier runs with its own config (vitest.cluster.config.ts: one real cluster for all files).
    exclude: ['**/node_modules/**', 'test/cluster/**'],
    testTimeout: 60_000,
    hookTimeout: 1_800_000,
    // Integration and e2e suites start real servers and a real kube-apiserver; 2 cores is the
    // machine, so keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
    // Builds (once, cached outside the repo) the kube-apiserver/kubectl the e2e tests run against, before any
    // e2e file starts; a no-op when the run is filtered to non-e2e files or KUBEBUILDER_ASSETS is set.
    globalSetup: ['test/e2e/harness/global-setup.ts'],
  },
});
