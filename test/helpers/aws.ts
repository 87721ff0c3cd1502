// Helpers for suites that run against the emulator endpoint provided by global-setup.ts:
// `describeAws` skips (and says why) when there is no endpoint; `makeS3Store` /
// `makeDynamoStore` create a fresh, uniquely named bucket / table from the same definitions
// `npm run setup:aws` uses, and remove it again in cleanup(). Credentials are always test/test.

import { randomBytes } from 'node:crypto';
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

export function dynamoLocalEndpoint(): string | undefined {
  return inject('dynamoLocalEndpoint');
}

/** `describe` when the emulator is up, otherwise `describe.skip` with the reason printed. */
export function describeAws(name: string, fn: () => void): void {
  describeIf(name, awsEndpoint() ? undefined : (awsSkipReason() ?? 'no AWS endpoint'), fn);
}

/**
 * `describe` against DynamoDB Local, which global-setup starts without waiting for it: the
 * suite waits here, and its tests skip with the reason if it never answers. Being optional,
 * its absence never fails a run.
 */
export function describeDynamoLocal(name: string, fn: () => void): void {
  const endpoint = dynamoLocalEndpoint();
  if (!endpoint) {
    describeIf(name, inject('dynamoLocalSkipReason') ?? 'DynamoDB Local not running', fn);
    return;
  }
  describe(name, () => {
    let status: true | string = 'not probed';
    beforeAll(async () => {
      status = await waitForDynamoLocal(endpoint);
      if (status !== true) console.warn(`[aws] SKIPPING "${name}": ${status}`);
    }, DYNAMO_LOCAL_WAIT_MS + 5_000);
    beforeEach((ctx) => {
      if (status !== true) ctx.skip(`DynamoDB Local unavailable: ${status}`);
    });
    fn();
  });
}

const DYNAMO_LOCAL_WAIT_MS = 60_000;
let dynamoLocalReady: Promise<true | string> | undefined;

/** DynamoDB Local answers a bare GET with HTTP 400; any answer means it is listening. */
function waitForDynamoLocal(endpoint: string): Promise<true | string> {
  dynamoLocalReady ??= (async () => {
    const deadline = Date.now() + DYNAMO_LOCAL_WAIT_MS;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(endpoint, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        return true as const;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return `no answer from ${endpoint} within ${DYNAMO_LOCAL_WAIT_MS / 1000} s (is Java 17 installed?)`;
  })();
  return dynamoLocalReady;
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

