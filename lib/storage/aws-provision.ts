// Creates the bucket and table described in aws-resources.ts, idempotently: every step first
// reads the current state and changes only what differs, so a second run reports "unchanged".
// Emulators implement only part of the control plane; steps they lack are reported as skipped
// instead of failing the whole setup.

import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutPublicAccessBlockCommand,
  type BucketLocationConstraint,
  type LifecycleRule,
  type S3Client,
} from '@aws-sdk/client-s3';
import { httpStatusOf, sdkError, wrapAwsError } from './aws-errors.js';
import { BUCKET_LIFECYCLE_RULES, BUCKET_SECURITY, META_TABLE } from './aws-resources.js';

export type StepOutcome = 'created' | 'updated' | 'unchanged' | 'skipped';
export interface StepReport {
  step: string;
  outcome: StepOutcome;
  detail?: string;
}

export function lifecycleRules(): LifecycleRule[] {
  return BUCKET_LIFECYCLE_RULES.map((r) => ({
    ID: r.id,
    Status: 'Enabled',
    Filter: { Prefix: r.prefix },
    ...(r.expireAfterDays !== undefined ? { Expiration: { Days: r.expireAfterDays } } : {}),
    ...(r.abortIncompleteMultipartUploadAfterDays !== undefined
      ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortIncompleteMultipartUploadAfterDays } }
      : {}),
  }));
}

export async function ensureBucket(s3: S3Client, bucket: string, region: string): Promise<StepReport[]> {
  const out: StepReport[] = [];
  out.push(await createBucket(s3, bucket, region));
  out.push(await optional('lifecycle', () => ensureLifecycle(s3, bucket)));
  if (BUCKET_SECURITY.blockPublicAccess) out.push(await optional('public access block', () => ensurePublicAccessBlock(s3, bucket)));
  out.push(await optional('default encryption', () => ensureEncryption(s3, bucket)));
  return out;
}

async function createBucket(s3: S3Client, bucket: string, region: string): Promise<StepReport> {
  const step = `bucket ${bucket}`;
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return { step, outcome: 'unchanged' };
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw wrapAwsError(err, `S3 HeadBucket ${bucket}`);
  }
  try {
    // us-east-1 is the one region that must NOT be named as a LocationConstraint.
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region !== 'us-east-1'
          ? { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }
          : {}),
      }),
    );
    return { step, outcome: 'created' };
  } catch (err) {
    if (sdkError(err).name === 'BucketAlreadyOwnedByYou') return { step, outcome: 'unchanged' };
    throw wrapAwsError(err, `S3 CreateBucket ${bucket}`);
  }
}

async function ensureLifecycle(s3: S3Client, bucket: string): Promise<StepReport> {
  const want = lifecycleRules();
  let current: LifecycleRule[] = [];
  try {
    current = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];
  } catch (err) {
    if (sdkError(err).name !== 'NoSuchLifecycleConfiguration') throw err;
  }
  // Keep rules someone else added; replace ours by ID.
  const ours = new Set(want.map((r) => r.ID));
  const mine = current.filter((r) => ours.has(r.ID));
  if (mine.length === want.length && want.every((w) => mine.some((m) => sameRule(m, w)))) {
    return { step: 'lifecycle', outcome: 'unchanged' };
  }
  const Rules = [...current.filter((r) => !ours.has(r.ID)), ...want];
  await s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules } }));
  return {
    step: 'lifecycle',
    outcome: current.length ? 'updated' : 'created',
    detail: want.map((r) => r.ID).join(', '),
  };
}

function sameRule(a: LifecycleRule, b: LifecycleRule): boolean {
  return (
    a.Status === b.Status &&
    (a.Filter?.Prefix ?? a.Prefix ?? '') === (b.Filter?.Prefix ?? '') &&
    a.Expiration?.Days === b.Expiration?.Days &&
    a.AbortIncompleteMultipartUpload?.DaysAfterInitiation === b.AbortIncompleteMultipartUpload?.DaysAfterInitiation
  );
}

async function ensurePublicAccessBlock(s3: S3Client, bucket: string): Promise<StepReport> {
  const want = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };
  try {
    const cur = (await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration;
    if (cur && Object.entries(want).every(([k, v]) => cur[k as keyof typeof want] === v)) {
      return { step: 'public access block', outcome: 'unchanged' };
    }
  } catch (err) {
    if (sdkError(err).name !== 'NoSuchPublicAccessBlockConfiguration' && httpStatusOf(err) !== 404) throw err;
  }
  await s3.send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: want }));
  return { step: 'public access block', outcome: 'created' };
}

async function ensureEncryption(s3: S3Client, bucket: string): Promise<StepReport> {
  try {
    const cur = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    const rule = cur.ServerSideEncryptionConfiguration?.Rules?.[0];
    if (
      rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm === BUCKET_SECURITY.encryption &&
      (rule.BucketKeyEnabled ?? false) === BUCKET_SECURITY.bucketKeyEnabled
    ) {
      return { step: 'default encryption', outcome: 'unchanged' };
    }
  } catch (err) {
    if (sdkError(err).name !== 'ServerSideEncryptionConfigurationNotFoundError' && httpStatusOf(err) !== 404) throw err;
  }
  await s3.send(
    new PutBucketEncryptionCommand({
      Bucket: bucket,
      ServerSideEncryptionConfiguration: {
        Rules: [
          {
            ApplyServerSideEncryptionByDefault: { SSEAlgorithm: BUCKET_SECURITY.encryption },
            BucketKeyEnabled: BUCKET_SECURITY.bucketKeyEnabled,
          },
        ],
      },
    }),
  );
  return { step: 'default encryption', outcome: 'created' };
}

export async function ensureTable(ddb: DynamoDBClient, table: string, opts: { maxWaitSeconds?: number } = {}): Promise<StepReport[]> {
  const out: StepReport[] = [];
  const step = `table ${table}`;
  let keys;
  try {
    keys = (await ddb.send(new DescribeTableCommand({ TableName: table }))).Table?.KeySchema ?? [];
  } catch (err) {
    if (sdkError(err).name !== 'ResourceNotFoundException') throw wrapAwsError(err, `DynamoDB DescribeTable ${table}`);
  }
  const exists = keys !== undefined;
  if (keys) {
    const hash = keys.find((k) => k.KeyType === 'HASH')?.AttributeName;
    const range = keys.find((k) => k.KeyType === 'RANGE')?.AttributeName;
    if (hash !== META_TABLE.partitionKey.name || range !== META_TABLE.sortKey.name) {
      throw new Error(`table ${table} exists with key schema ${hash}/${range}, expected pk/sk; refusing to use it`);
    }
  }
  if (!exists) {
    try {
      await ddb.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: META_TABLE.billingMode,
          KeySchema: [
            { AttributeName: META_TABLE.partitionKey.name, KeyType: 'HASH' },
            { AttributeName: META_TABLE.sortKey.name, KeyType: 'RANGE' },
          ],
          AttributeDefinitions: [
            { AttributeName: META_TABLE.partitionKey.name, AttributeType: META_TABLE.partitionKey.type },
            { AttributeName: META_TABLE.sortKey.name, AttributeType: META_TABLE.sortKey.type },
          ],
        }),
      );
      out.push({ step, outcome: 'created' });
    } catch (err) {
      // Lost a race with a concurrent setup: fine, it is being created.
      if (sdkError(err).name !== 'ResourceInUseException') throw wrapAwsError(err, `DynamoDB CreateTable ${table}`);
      out.push({ step, outcome: 'unchanged' });
    }
  } else {
    out.push({ step, outcome: 'unchanged' });
  }
  const waited = await waitUntilTableExists(
    { client: ddb, maxWaitTime: opts.maxWaitSeconds ?? 300, minDelay: 1, maxDelay: 5 },
    { TableName: table },
  );
  if (waited.state !== 'SUCCESS') throw new Error(`table ${table} did not become ACTIVE: ${waited.state}`);
  out.push(await optional(`time to live on ${table}.${META_TABLE.timeToLiveAttribute}`, () => ensureTimeToLive(ddb, table)));
  return out;
}

/**
 * TTL on the commit items' attribute (lib/log/commit-items.ts). DynamoDB refuses to enable it
 * again ("TimeToLive is already enabled") and while it is being changed: both read as done.
 */
async function ensureTimeToLive(ddb: DynamoDBClient, table: string): Promise<StepReport> {
  const step = `time to live on ${table}.${META_TABLE.timeToLiveAttribute}`;
  const cur = (await ddb.send(new DescribeTimeToLiveCommand({ TableName: table }))).TimeToLiveDescription;
  const on = cur?.TimeToLiveStatus === 'ENABLED' || cur?.TimeToLiveStatus === 'ENABLING';
  if (on && cur?.AttributeName === META_TABLE.timeToLiveAttribute) return { step, outcome: 'unchanged' };
  if (on) throw new Error(`table ${table} has TTL on attribute ${cur?.AttributeName}, expected ${META_TABLE.timeToLiveAttribute}; refusing to change it`);
  try {
    await ddb.send(new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { AttributeName: META_TABLE.timeToLiveAttribute, Enabled: true } }));
  } catch (err) {
    if (sdkError(err).name === 'ValidationException' && /already enabled/i.test(sdkError(err).message ?? '')) return { step, outcome: 'unchanged' };
    throw err;
  }
  return { step, outcome: 'created' };
}

/** Runs a step an emulator may not implement; "not implemented" becomes a skipped step. */
async function optional(step: string, run: () => Promise<StepReport>): Promise<StepReport> {
  try {
    return await run();
  } catch (err) {
    const e = sdkError(err);
    const status = httpStatusOf(err);
    const unsupported =
      status === 501 ||
      status === 405 ||
      /NotImplemented|UnknownOperation|not ?(yet )?(implemented|supported)/i.test(`${e.name} ${e.message}`);
    if (unsupported) return { step, outcome: 'skipped', detail: `endpoint does not support it (${e.name ?? status})` };
    throw wrapAwsError(err, step);
  }
}
