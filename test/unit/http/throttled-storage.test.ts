// A storage service that keeps throttling (DynamoDB ProvisionedThroughputExceeded, S3 SlowDown,
// after the SDK's own retries) on any path — a fetch's reads, a produce's write-ahead PUT — is
// answered as what it is: 429 THROTTLING, retriable, over HTTP, and THROTTLING_QUOTA_EXCEEDED on
// the Kafka listener, never a 500 that tells a client the service is broken.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { errOf } from '../../../lib/kafka/context';
import { ErrorCode } from '../../../lib/kafka/protocol';
import { LogEngine } from '../../../lib/log/engine';
import { silentLogger } from '../../../lib/obs/logger';
import { codecsReady } from '../../../lib/records';
import { wrapAwsError } from '../../../lib/storage/aws-errors';
import { faultyMetaStore, faultyObjectStore } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-throttled-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** What the AWS adapters throw once the SDK gave up retrying a throttled call. */
const dynamoThrottle = () =>
  wrapAwsError(Object.assign(new Error('Throughput exceeds the current capacity of your table or index'), { name: 'ProvisionedThroughputExceededException', $fault: 'client', $metadata: { httpStatusCode: 400 } }), 'DynamoDB GetItem');
const s3SlowDown = () => wrapAwsError(Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } }), 'S3 PutObject');

async function world() {
  const meta = faultyMetaStore(new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }));
  const objects = faultyObjectStore(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
  // A 1 KiB inline limit: the produce below is written ahead (an object PUT first).
  const engine = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 1024 });
  await engine.createTopic('t', 1);
  await engine.produce('t', [{ value: Buffer.from('"before"') }]);
  return { meta, objects, engine, app: createApp({ engine, logger: silentLogger }) };
}

it('a fetch whose metadata reads are throttled answers 429 THROTTLING (retriable), and works once the throttling stops', async () => {
  const { meta, engine, app } = await world();
  meta.faults.add({ method: 'get', times: Infinity, action: { kind: 'fail', error: dynamoThrottle() } });
  const res = await app.request('/v1/topics/t/partitions/0/records?offset=0');
  expect(res.status).toBe(429);
  expect(await res.json()).toMatchObject({ error_code: 'THROTTLING' });
  meta.faults.clear();
  const ok = await app.request('/v1/topics/t/partitions/0/records?offset=0');
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { records: Array<{ value: unknown }> }).records.map((r) => r.value)).toEqual(['before']);
  await engine.close();
});

it('a produce whose write-ahead PUT is throttled answers 429 THROTTLING with nothing written', async () => {
  const { objects, engine, app } = await world();
  objects.faults.add({ method: 'put', times: Infinity, action: { kind: 'fail', error: s3SlowDown() } });
  const res = await app.request('/v1/topics/t/records', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'x'.repeat(4000) }] }) });
  expect(res.status).toBe(429);
  expect(await res.json()).toMatchObject({ error_code: 'THROTTLING' });
  expect((await engine.head(await engine.topics.get('t'), 0)).nextOffset).toBe(1);
  objects.faults.clear();
  const ok = await app.request('/v1/topics/t/records', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'x'.repeat(4000) }] }) });
  expect(ok.status).toBe(200);
  expect(await ok.json()).toMatchObject({ offsets: [{ partition: 0, offset: 1 }] });
  await engine.close();
});

it('the Kafka listener answers a throttled store with THROTTLING_QUOTA_EXCEEDED, anything unexpected with UNKNOWN_SERVER_ERROR', () => {
  expect(errOf(dynamoThrottle())).toBe(ErrorCode.THROTTLING_QUOTA_EXCEEDED);
  expect(errOf(s3SlowDown())).toBe(ErrorCode.THROTTLING_QUOTA_EXCEEDED);
  expect(errOf(new Error('boom'))).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
});
