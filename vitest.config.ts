import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: browser suites and argon2 hashing compete, so at most two files at a time.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
