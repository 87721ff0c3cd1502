// `npm run dev:localstack`: the Samsa server in AWS mode against LocalStack (or any endpoint
// given in AWS_ENDPOINT_URL), with the resources created first by the same idempotent setup
// code as `npm run setup:aws`. Every default below can be overridden from the environment.
import { spawnSync } from 'node:child_process';

const defaults: Record<string, string> = {
  SAMSA_STORAGE: 'aws',
  AWS_ENDPOINT_URL: 'http://localhost:4566',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  SAMSA_BUCKET: 'samsa-data',
  SAMSA_TABLE: 'samsa-meta',
  // Locally nobody schedules the jobs: the server runs them itself.
  SAMSA_JOB_INTERVAL_MS: '10000',
};
for (const [k, v] of Object.entries(defaults)) process.env[k] ??= v;

// The setup runs here, on the host, against AWS_ENDPOINT_URL (never inside a container, where
// the host's node_modules may hold binaries of another platform). Run from source through tsx
// (npm run dev:localstack) or built (dist/bin), it runs its sibling the same way.
const fromSource = import.meta.url.endsWith('.ts');
const setupScript = new URL(fromSource ? './setup-aws.ts' : './setup-aws.js', import.meta.url).pathname;
const setup = spawnSync(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), setupScript], { stdio: 'inherit', env: process.env });
if (setup.status !== 0) {
  console.error(`[samsa] setup against ${process.env.AWS_ENDPOINT_URL} failed; is LocalStack up? (docker compose -f localstack/docker-compose.yml up -d)`);
  process.exit(setup.status ?? 1);
}
await import('./serve');
