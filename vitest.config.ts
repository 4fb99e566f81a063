// Vitest runs the unit and integration tests in Node on Dawn. Each test file gets its own process
// (one GPU device per file, destroyed in teardown) and files run one at a time: lavapipe already
// uses every core.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
