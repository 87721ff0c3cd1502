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
import { describe, inject } from 'vitest';
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

/** `describe` when DynamoDB Local is up; its absence never fails a run (it is optional). */
export function describeDynamoLocal(name: string, fn: () => void): void {
  describeIf(name, dynamoLocalEndpoint() ? undefined : (inject('dynamoLocalSkipReason') ?? 'DynamoDB Local not running'), fn);
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
