import os from 'node:os';
import { defineConfig } from 'vitest/config';

// One run covers unit, contract (every adapter) and end-to-end tests. The AWS suites need an
// S3/DynamoDB endpoint: test/helpers/global-setup.ts starts moto_server when AWS_ENDPOINT_URL
// is unset (and fails the run under CI=true when neither is available).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/fast-check.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Vitest's default is one worker per core less one: a single worker on a 2-core machine, and
    // most of this suite waits on moto, servers and timers rather than the CPU. Two workers there
    // take the run from ~17.5 to ~12.5 minutes (2026-12-02).
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    // The Lambda bundles in cdk.out are loaded by Node itself, as Lambda loads them (test/infra).
    server: { deps: { external: [/\/cdk\.out\//] } },
    reporters: ['default'],
  },
});
