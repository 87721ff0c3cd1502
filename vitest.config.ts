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
    // The Lambda bundles in cdk.out are loaded by Node itself, as Lambda loads them (test/infra).
    server: { deps: { external: [/\/cdk\.out\//] } },
    reporters: ['default'],
  },
});
