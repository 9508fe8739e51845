import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 1_800_000,
    // Integration and e2e suites start real servers and a real kube-apiserver; 2 cores is the
    // machine, so keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
