// Helpers for suites that run against the emulator endpoint provided by global-setup.ts:
// `describeAws` skips (and says why) when there is no endpoint; `makeS3Store` /
// `makeDynamoStore` create a fresh, uniquely named bucket / table from the same definitions
// `npm run setup:aws` uses, and remove it again in cleanup(). Credentials are always test/test.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, inject } from 'vitest';
import { makeDynamoClient, makeS3Client, type AwsClientConfig } from '../../lib/storage/aws-clients.js';
import { ensureBucket, ensureTable } from '../../lib/storage/aws-provision.js';
import { DynamoMetaStore } from '../../lib/storage/dynamo-meta-store.js';
import { S3ObjectStore } from '../../lib/storage/s3-object-store.js';

export const TEST_REGION = 'us-east-1';

export function awsEndpoint(): string | undefined {
  return inject('awsEndpoint');
}

export function awsSkipReason(): string | undefined {
  return inject('awsSkipReason');
}

/** `describe` when the emulator is up, otherwise `describe.skip` with the reason printed. */
export function describeAws(name: string, fn: () => void): void {
  describeIf(name, awsEndpoint() ? undefined : (awsSkipReason() ?? 'no AWS endpoint'), fn);
}

/**
 * `describe` against a private DynamoDB Local (AWS's own engine, from the npm package
 * amplify-dynamodb-simulator, on Java 17), started for this suite only and stopped after it.
 * `fn` receives a getter for the endpoint (known once the suite's beforeAll has run). Being an
 * optional second target, an unavailable DynamoDB Local skips the tests with the reason printed
 * and never fails a run.
 */
export function describeDynamoLocal(name: string, fn: (endpoint: () => string) => void): void {
  if (process.env.SAMSA_SKIP_DYNAMODB_LOCAL === 'true') {
    describeIf(name, 'SAMSA_SKIP_DYNAMODB_LOCAL=true', () => fn(() => ''));
    return;
  }
  describe(name, () => {
    let local: DynamoLocal | undefined;
    let reason = 'not started';
    beforeAll(async () => {
      const started = await startDynamoLocal();
      if (typeof started === 'string') {
        reason = started;
        console.warn(`[aws] SKIPPING "${name}": ${reason}`);
      } else {
        local = started;
      }
    }, DYNAMO_LOCAL_WAIT_MS + 10_000);
    afterAll(async () => {
      await local?.stop();
    });
    beforeEach((ctx) => {
      if (!local) ctx.skip(`DynamoDB Local unavailable: ${reason}`);
    });
    fn(() => {
      if (!local) throw new Error(`DynamoDB Local unavailable: ${reason}`);
      return local.endpoint;
    });
  });
}

const DYNAMO_LOCAL_WAIT_MS = 60_000;

interface DynamoLocal {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts DynamoDB Local on a free port; resolves to it, or to the reason it cannot run. */
async function startDynamoLocal(): Promise<DynamoLocal | string> {
  let dir: string;
  try {
    const require = createRequire(import.meta.url);
    dir = path.join(path.dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  } catch {
    return 'DynamoDB Local not installed (npm package amplify-dynamodb-simulator is absent)';
  }
  const jar = path.join(dir, 'DynamoDBLocal.jar');
  if (!existsSync(jar)) return `DynamoDB Local jar not found at ${jar}`;
  const java = spawnSync('java', ['-version'], { stdio: 'ignore', timeout: 10_000 });
  if (java.error || java.status !== 0) {
    return `DynamoDB Local needs Java: \`java -version\` failed (${java.error?.message ?? `exit ${java.status}`})`;
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(
    'java',
    [`-Djava.library.path=${path.join(dir, 'DynamoDBLocal_lib')}`, '-jar', jar, '-inMemory', '-port', String(port)],
    { cwd: dir, stdio: 'ignore' },
  );
  let exited: string | undefined;
  child.once('error', (err) => (exited = err.message));
  child.once('exit', (code, signal) => (exited ??= `exited (${signal ?? code})`));
  // If the worker dies without running afterAll, do not leave a JVM behind.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  };
  // DynamoDB Local answers a bare GET with HTTP 400; any answer means it is listening.
  const deadline = Date.now() + DYNAMO_LOCAL_WAIT_MS;
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(endpoint, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return { endpoint, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  return `DynamoDB Local did not start: ${exited ?? `no answer from ${endpoint} within ${DYNAMO_LOCAL_WAIT_MS / 1000} s`}`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function describeIf(name: string, skipReason: string | undefined, fn: () => void): void {
  if (skipReason === undefined) {
    describe(name, fn);
    return;
  }
  console.warn(`[aws] SKIPPING "${name}": ${skipReason}`);
  describe.skip(`${name} — skipped: ${skipReason.split('\n')[0]}`, fn);
}

/** Client config for the emulator: fixed test credentials, few retries (fail fast in tests). */
export function testAwsConfig(endpoint = awsEndpoint()): AwsClientConfig {
  if (!endpoint) throw new Error('no AWS endpoint (use describeAws so the suite skips instead)');
  return {
    region: TEST_REGION,
    s3Endpoint: endpoint,
    dynamoEndpoint: endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 2,
    requestTimeoutMs: 30_000,
  };
}

/** Lowercase, ≤ 63 characters, valid as both a bucket and a table name. */
export function uniqueName(kind: string): string {
  return `samsa-test-${kind}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface S3Fixture {
  store: S3ObjectStore;
  client: S3Client;
  bucket: string;
  cleanup(): Promise<void>;
}

export async function makeS3Store(opts: { prefix?: string; endpoint?: string } = {}): Promise<S3Fixture> {
  const client = makeS3Client(testAwsConfig(opts.endpoint));
  const bucket = uniqueName('b');
  await ensureBucket(client, bucket, TEST_REGION);
  const store = new S3ObjectStore({ client, bucket, ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}) });
  return {
    store,
    client,
    bucket,
    cleanup: async () => {
      try {
        await emptyAndDeleteBucket(client, bucket);
      } finally {
        client.destroy();
      }
    },
  };
}

export interface DynamoFixture {
  store: DynamoMetaStore;
  client: DynamoDBClient;
  table: string;
  cleanup(): Promise<void>;
}

export async function makeDynamoStore(opts: { endpoint?: string; returnConsumedCapacity?: boolean } = {}): Promise<DynamoFixture> {
  const client = makeDynamoClient(testAwsConfig(opts.endpoint));
  const table = uniqueName('t');
  await ensureTable(client, table, { maxWaitSeconds: 60 });
  const store = new DynamoMetaStore({ client, table, ...(opts.returnConsumedCapacity ? { returnConsumedCapacity: true } : {}) });
  return {
    store,
    client,
    table,
    cleanup: async () => {
      try {
        await client.send(new DeleteTableCommand({ TableName: table }));
      } finally {
        client.destroy();
      }
    },
  };
}

async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * One bucket/table per suite instead of per test: the contract suites give every test its own
 * key prefix, so sharing is safe, and creating a table per test dominates the run time.
 * Call inside a describe body; the resource is removed after the suite.
 */
export function perSuite<F extends { cleanup(): Promise<void> }>(factory: () => Promise<F>): () => Promise<F> {
  let shared: Promise<F> | undefined;
  afterAll(async () => {
    if (shared) await (await shared).cleanup();
  });
  return async () => {
    shared ??= factory();
    const f = await shared;
    return { ...f, cleanup: async () => {} };
  };
}

