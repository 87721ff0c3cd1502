// Pure parts of the AWS adapters: env → client config, error classification, value
// marshalling, condition/update expressions, sort-key range translation, copy-part splitting.

import { TransactionCanceledException, type AttributeValue as ddbAttr } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { ConditionFailedError, publicError, StorageError, ThrottledError, TransactionConflictError } from '../../../lib/errors.js';
import { estimateAwsRequestCostUsd } from '../../../bench/aws-prices.js';
import { awsConfigFromEnv } from '../../../lib/storage/aws-clients.js';
import { isRetriable, wrapAwsError } from '../../../lib/storage/aws-errors.js';
import { BUCKET_LIFECYCLE_RULES, META_TABLE } from '../../../lib/storage/aws-resources.js';
import { lifecycleRules } from '../../../lib/storage/aws-provision.js';
import {
  compareKeys,
  conditionExpression,
  ExpressionContext,
  inRange,
  marshalItem,
  marshalValue,
  prefixUpperBound,
  sortKeyCondition,
  sortKeyRange,
  unmarshalItem,
  unmarshalValue,
  updateExpression,
} from '../../../lib/storage/dynamo-marshal.js';
import { DynamoMetaStore } from '../../../lib/storage/dynamo-meta-store.js';
import { copyRanges, MAX_PART_BYTES, MIN_PART_BYTES, S3ObjectStore } from '../../../lib/storage/s3-object-store.js';

const sdkErr = (name: string, status: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, ...extra });

describe('awsConfigFromEnv', () => {
  it('defaults to us-east-1 with no endpoint override', () => {
    const c = awsConfigFromEnv({});
    expect(c.region).toBe('us-east-1');
    expect(c.s3Endpoint).toBeUndefined();
    expect(c.dynamoEndpoint).toBeUndefined();
    expect(c.maxAttempts).toBeGreaterThan(1);
  });

  it('uses AWS_ENDPOINT_URL for both services, per-service variables win', () => {
    const c = awsConfigFromEnv({
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://shared:4566',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://ddb:8000',
    });
    expect(c).toMatchObject({ region: 'eu-west-1', s3Endpoint: 'http://shared:4566', dynamoEndpoint: 'http://ddb:8000' });
  });

  it('honours AWS_IGNORE_CONFIGURED_ENDPOINT_URLS and ignores blank values', () => {
    expect(awsConfigFromEnv({ AWS_ENDPOINT_URL: 'http://x', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }).s3Endpoint).toBeUndefined();
    expect(awsConfigFromEnv({ AWS_ENDPOINT_URL: '  ', AWS_REGION: '' })).toMatchObject({ region: 'us-east-1' });
    expect(awsConfigFromEnv({ AWS_MAX_ATTEMPTS: '7' }).maxAttempts).toBe(7);
    expect(awsConfigFromEnv({ AWS_MAX_ATTEMPTS: 'lots' }).maxAttempts).toBe(5);
  });
});

describe('request cost estimate', () => {
  it('prices S3 request classes and DynamoDB units', () => {
    const usd = estimateAwsRequestCostUsd({
      byCommand: { 'S3.PutObject': 1000, 'S3.GetObject': 1000, 'S3.DeleteObjects': 50, 'DynamoDB.TransactWriteItems': 1_000_000 },
      s3: 2050,
      dynamodb: 1_000_000,
      total: 1_002_050,
      s3BytesUp: 0,
      s3BytesDown: 0,
      capacity: { read: 0, write: 0, total: 0 },
    });
    // 0.005 + 0.0004 + 2 WRU per transaction item call × $0.625/M
    expect(usd).toBeCloseTo(0.005 + 0.0004 + 1.25, 6);
  });
});

describe('AWS error translation', () => {
  it('marks throttling, 5xx, timeouts and dropped connections retriable', () => {
    for (const name of ['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'SlowDown']) {
      expect(isRetriable(sdkErr(name, 400)), name).toBe(true);
    }
    expect(isRetriable(sdkErr('InternalError', 500))).toBe(true);
    expect(isRetriable(sdkErr('Whatever', 503))).toBe(true);
    expect(isRetriable(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetriable(sdkErr('TimeoutError', 0))).toBe(true);
    expect(isRetriable(sdkErr('ValidationException', 400))).toBe(false);
    expect(isRetriable(sdkErr('AccessDenied', 403))).toBe(false);
  });

  it('marks credentials that expired and a clock S3 finds skewed retriable: the SDK refreshes both for the next request', () => {
    expect(isRetriable(sdkErr('ExpiredToken', 400))).toBe(true);
    expect(isRetriable(sdkErr('ExpiredTokenException', 400))).toBe(true);
    expect(isRetriable(sdkErr('RequestTimeTooSkewed', 403))).toBe(true);
    expect(wrapAwsError(sdkErr('ExpiredToken', 400), 'S3 compose k').retriable).toBe(true);
    // Credentials that are wrong, not stale, stay permanent.
    expect(isRetriable(sdkErr('InvalidAccessKeyId', 403))).toBe(false);
  });

  it('wraps SDK errors in StorageError with the cause, and passes ours through', () => {
    const cause = sdkErr('ThrottlingException', 400);
    const e = wrapAwsError(cause, 'DynamoDB GetItem k');
    expect(e).toBeInstanceOf(StorageError);
    expect(e.retriable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.message).toMatch(/DynamoDB GetItem k failed: throttled: HTTP 400/);
    // Throttling is its own kind: an items-mode commit answers it by writing ahead (commit.ts).
    expect(e).toBeInstanceOf(ThrottledError);
    expect(wrapAwsError(sdkErr('ProvisionedThroughputExceededException', 400), 'p')).toBeInstanceOf(ThrottledError);
    expect(wrapAwsError(sdkErr('InternalServerError', 500), 'p')).not.toBeInstanceOf(ThrottledError);
    const ours = new TransactionConflictError();
    expect(wrapAwsError(ours, 'x')).toBe(ours);
  });

  it('never lets an SDK error escape the adapters', async () => {
    const boom = sdkErr('ProvisionedThroughputExceededException', 400);
    const client = { send: async () => Promise.reject(boom) };
    const meta = new DynamoMetaStore({ client: client as never, table: 't' });
    const s3 = new S3ObjectStore({ client: client as never, bucket: 'b' });
    const attempts: Array<Promise<unknown>> = [
      meta.get({ pk: 'p', sk: 's' }),
      meta.query({ pk: 'p' }),
      meta.write({ type: 'put', item: { pk: 'p', sk: 's' } }),
      meta.transact([{ type: 'delete', key: { pk: 'p', sk: 's' } }]),
      s3.put('k', new Uint8Array(1)),
      s3.get('k'),
      s3.head('k'),
      s3.list(''),
      s3.delete(['k']),
      s3.append('k', 6 * 1024 * 1024, new Uint8Array(1)),
    ];
    for (const p of attempts) {
      const e = await p.then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(StorageError);
      expect((e as StorageError).retriable).toBe(true);
      expect((e as StorageError).cause).toBe(boom);
    }
  });

  it('maps cancellation reasons: condition failure wins, then conflict', async () => {
    const cancelled = (codes: string[], item?: Record<string, ddbAttr>) => {
      return new TransactionCanceledException({
        message: 'cancelled',
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: codes.map((Code, i) => ({ Code, ...(i === 1 && item ? { Item: item } : {}) })),
      });
    };
    const store = (err: unknown) => new DynamoMetaStore({ client: { send: async () => Promise.reject(err) } as never, table: 't' });
    const ops = [
      { type: 'put' as const, item: { pk: 'p', sk: 'a' } },
      { type: 'check' as const, key: { pk: 'p', sk: 'b' }, condition: { op: 'notExists' as const } },
    ];
    const e1 = await store(cancelled(['TransactionConflict', 'ConditionalCheckFailed'], { pk: { S: 'p' }, sk: { S: 'b' }, v: { N: '3' } }))
      .transact(ops)
      .catch((x: unknown) => x);
    expect(e1).toBeInstanceOf(ConditionFailedError);
    expect((e1 as ConditionFailedError).index).toBe(1);
    expect((e1 as ConditionFailedError).item).toEqual({ pk: 'p', sk: 'b', v: 3 });
    const e2 = await store(cancelled(['None', 'TransactionConflict'])).transact(ops).catch((x: unknown) => x);
    expect(e2).toBeInstanceOf(TransactionConflictError);
    expect((e2 as TransactionConflictError).retriable).toBe(true);
    const e3 = await store(cancelled(['ThrottlingError', 'None'])).transact(ops).catch((x: unknown) => x);
    expect(e3).toBeInstanceOf(StorageError);
    expect((e3 as StorageError).retriable).toBe(true);
    // Cancelled for capacity alone (nothing applied): a throttle, answered 429 like a throttled
    // single write, not a 500.
    expect(e3).toBeInstanceOf(ThrottledError);
    expect(publicError(e3)).toMatchObject({ code: 'THROTTLING', status: 429 });
    expect(await store(cancelled(['None', 'ProvisionedThroughputExceeded'])).transact(ops).catch((x: unknown) => x)).toBeInstanceOf(ThrottledError);
    // A throttle beside another failure stays that failure's.
    const mixed = await store(cancelled(['ThrottlingError', 'ValidationError'])).transact(ops).catch((x: unknown) => x);
    expect(mixed).not.toBeInstanceOf(ThrottledError);
    const e4 = await store(cancelled(['ValidationError', 'None'])).transact(ops).catch((x: unknown) => x);
    expect((e4 as StorageError).retriable).toBe(false);
    expect((e4 as StorageError).message).toMatch(/op 0: ValidationError/);
  });
});

describe('marshalling', () => {
  it('maps every MetaValue kind and back', () => {
    const v = { s: '', n: -1.5e-7, big: 1e21, z: -0, t: true, nil: null, bin: new Uint8Array(0), l: [1, 'x', [null]], m: { a: { b: 2 } } };
    const a = marshalValue(v);
    expect(a.M?.s).toEqual({ S: '' });
    expect(a.M?.z).toEqual({ N: '0' });
    expect(a.M?.big).toEqual({ N: '1e+21' });
    expect(a.M?.bin).toEqual({ B: new Uint8Array(0) });
    expect(unmarshalValue(a)).toEqual({ ...v, z: 0 });
  });

  it('refuses numbers DynamoDB cannot hold, naming the attribute', () => {
    expect(() => marshalItem({ pk: 'p', sk: 's', bad: Number.NaN })).toThrow(/bad: DynamoDB cannot store the number NaN/);
    expect(() => marshalValue({ x: [Infinity] })).toThrow(/value\.x\[0\]/);
  });

  it('hands back plain Uint8Arrays even when the SDK yields Buffers', () => {
    const item = unmarshalItem({ pk: { S: 'p' }, sk: { S: 's' }, b: { B: Buffer.from([1, 2]) } });
    expect((item.b as Uint8Array).constructor).toBe(Uint8Array);
    expect(Array.from(item.b as Uint8Array)).toEqual([1, 2]);
  });
});

describe('expressions', () => {
  it('puts every name and value behind a placeholder', () => {
    const ctx = new ExpressionContext();
    const expr = conditionExpression(
      { op: 'and', conds: [{ op: 'notExists' }, { op: 'or', conds: [{ op: 'eq', attr: 'owner', value: 'me' }, { op: 'lt', attr: 'epoch', value: 3 }] }] },
      ctx,
    );
    expect(expr).toBe('(attribute_not_exists(#n0) AND (#n1 = :v0 OR (attribute_type(#n2, :v1) AND #n2 < :v2)))');
    expect(ctx.names).toEqual({ '#n0': 'pk', '#n1': 'owner', '#n2': 'epoch' });
    expect(ctx.values).toEqual({ ':v0': { S: 'me' }, ':v1': { S: 'N' }, ':v2': { N: '3' } });
  });

  it('guards null comparisons so a missing attribute never equals NULL', () => {
    const ctx = new ExpressionContext();
    expect(conditionExpression({ op: 'eq', attr: 'x', value: null }, ctx)).toBe('(attribute_exists(#n0) AND #n0 = :v0)');
    expect(conditionExpression({ op: 'ne', attr: 'x', value: null }, ctx)).toBe('(attribute_not_exists(#n0) OR #n0 <> :v1)');
  });

  it('expresses empty and/or as tautology/contradiction', () => {
    const ctx = new ExpressionContext();
    expect(conditionExpression({ op: 'and', conds: [] }, ctx)).toBe('(attribute_exists(#n0) OR attribute_not_exists(#n0))');
    expect(conditionExpression({ op: 'or', conds: [] }, ctx)).toBe('(attribute_exists(#n0) AND attribute_not_exists(#n0))');
  });

  it('builds SET / REMOVE / ADD and a no-op REMOVE for an empty update', () => {
    const ctx = new ExpressionContext();
    expect(updateExpression({ set: { a: 1, b: 'x' }, remove: ['c'], add: { n: 2 } }, ctx)).toBe('SET #n0 = :v0, #n1 = :v1 REMOVE #n2 ADD #n3 :v2');
    const empty = new ExpressionContext();
    expect(updateExpression({}, empty)).toBe('REMOVE #n0');
    expect(empty.names['#n0']).toBe('samsa:noop');
    expect(() => updateExpression({ set: { pk: 'x' } }, new ExpressionContext())).toThrow(StorageError);
  });
});

describe('sort-key range translation', () => {
  const cond = (q: Parameters<typeof sortKeyRange>[0]) => {
    const ctx = new ExpressionContext();
    const r = sortKeyRange(q);
    return { r, expr: r.empty ? 'EMPTY' : sortKeyCondition(r, ctx), values: Object.values(ctx.values).map((v) => v.S) };
  };

  it('sends one-sided bounds exactly', () => {
    expect(cond({ gt: 'a' })).toMatchObject({ expr: '#n0 > :v0', values: ['a'] });
    expect(cond({ gte: 'a' })).toMatchObject({ expr: '#n0 >= :v0' });
    expect(cond({ lt: 'a' })).toMatchObject({ expr: '#n0 < :v0' });
    expect(cond({ lte: 'a' })).toMatchObject({ expr: '#n0 <= :v0' });
    expect(cond({ beginsWith: 'seg#' })).toMatchObject({ expr: 'begins_with(#n0, :v0)', values: ['seg#'] });
    expect(cond({})).toMatchObject({ expr: undefined });
    expect(cond({ beginsWith: '' })).toMatchObject({ expr: undefined });
  });

  it('uses BETWEEN on the tightest bounds when they combine, filtering exclusivity client-side', () => {
    const { r, expr, values } = cond({ gt: 'b', gte: 'a', lt: 'y', lte: 'z' });
    expect(expr).toBe('#n0 BETWEEN :v0 AND :v1');
    expect(values).toEqual(['b', 'y']);
    expect(inRange('b', r)).toBe(false);
    expect(inRange('b0', r)).toBe(true);
    expect(inRange('y', r)).toBe(false);
  });

  it('turns beginsWith plus another bound into a range over the prefix', () => {
    const { r, expr, values } = cond({ beginsWith: 'seg#', gt: 'seg#0005' });
    expect(expr).toBe('#n0 BETWEEN :v0 AND :v1');
    expect(values).toEqual(['seg#0005', 'seg$']);
    expect(inRange('seg#0005', r)).toBe(false);
    expect(inRange('seg#0006', r)).toBe(true);
    expect(inRange('seg$', r)).toBe(false);
  });

  it('folds startAfter in the direction of travel', () => {
    expect(cond({ startAfter: 'k' })).toMatchObject({ expr: '#n0 > :v0', values: ['k'] });
    expect(cond({ startAfter: 'k', reverse: true })).toMatchObject({ expr: '#n0 < :v0', values: ['k'] });
    expect(cond({ startAfter: 'k', gt: 'a', lt: 'z' }).values).toEqual(['k', 'z']);
  });

  it('detects empty ranges before DynamoDB rejects an inverted BETWEEN', () => {
    expect(cond({ gt: 'b', lt: 'a' }).expr).toBe('EMPTY');
    expect(cond({ gt: 'a', lt: 'a' }).expr).toBe('EMPTY');
    expect(cond({ gte: 'a', lte: 'a' }).expr).toBe('#n0 = :v0');
    expect(cond({ beginsWith: 'b', lt: 'a' }).expr).toBe('EMPTY');
  });

  it('orders by code point (UTF-8), not UTF-16', () => {
    expect(compareKeys('\u{1F600}', '\uFFFD')).toBe(1);
    expect('\u{1F600}' < '\uFFFD').toBe(true); // what JS would have said
    expect(prefixUpperBound('a')).toBe('b');
    expect(prefixUpperBound('a\u{10FFFF}')).toBe('b');
    expect(prefixUpperBound('\uD7FF')).toBe('\uE000');
    expect(prefixUpperBound('\u{10FFFF}')).toBeUndefined();
  });
});

describe('copyRanges', () => {
  it('covers [0, n) in parts of 5 MiB..5 GiB', () => {
    expect(copyRanges(MIN_PART_BYTES)).toEqual([[0, MIN_PART_BYTES]]);
    expect(copyRanges(MAX_PART_BYTES)).toEqual([[0, MAX_PART_BYTES]]);
    const n = MAX_PART_BYTES + 1;
    const parts = copyRanges(n);
    expect(parts).toHaveLength(2);
    expect(parts[0]?.[0]).toBe(0);
    expect(parts[1]?.[1]).toBe(n);
    expect(parts[0]?.[1]).toBe(parts[1]?.[0]);
    for (const [a, b] of parts) {
      expect(b - a).toBeGreaterThanOrEqual(MIN_PART_BYTES);
      expect(b - a).toBeLessThanOrEqual(MAX_PART_BYTES);
    }
  });
});

describe('resource definitions', () => {
  it('define the table key schema and on-demand billing, and no TTL attribute', () => {
    expect(META_TABLE).toMatchObject({ partitionKey: { name: 'pk', type: 'S' }, sortKey: { name: 'sk', type: 'S' }, billingMode: 'PAY_PER_REQUEST' });
    expect(META_TABLE).not.toHaveProperty('ttlAttribute');
  });

  it('expire wal/ after 7 days and abort incomplete uploads after 1 day', () => {
    expect(BUCKET_LIFECYCLE_RULES.find((r) => r.prefix === 'wal/')?.expireAfterDays).toBe(7);
    expect(lifecycleRules()).toContainEqual(
      expect.objectContaining({ Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' }),
    );
  });
});
