import { defineConfig } from 'vitest/config';

// Builds run for real (compilers, sandboxes): generous timeouts, one test file at a time.
export default defineConfig({
  test: {
    testTimeout: 600_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
