// A storage service that keeps throttling (DynamoDB ProvisionedThroughputExceeded, S3 SlowDown,
// after the SDK's own retries) on any path — a fetch's reads, a produce's write-ahead PUT — is
// answered as what it is: 429 THROTTLING, retriable, over HTTP, and THROTTLING_QUOTA_EXCEEDED on
// the Kafka listener (a Fetch says KAFKA_STORAGE_ERROR, which consumers retry), never a 500 that
// tells a client the service is broken. But a 429 promises that nothing was written: a request
// partly written (another partition committed), or a commit one of whose writes timed out (it
// may still land), answers the retriable 5xx that says so instead.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { StorageError } from '../../../lib/errors';
import { createApp } from '../../../lib/http/app';
import { errOf } from '../../../lib/kafka/context';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import { startKafkaListener } from '../../../lib/kafka/server';
import { LogEngine } from '../../../lib/log/engine';
import { silentLogger } from '../../../lib/obs/logger';
import { codecsReady } from '../../../lib/records';
import { HEAD_ATTR } from '../../../lib/log/items';
import { parseWalObject } from '../../../lib/log/keys';
import { faultyMetaStore, faultyObjectStore } from '../../../lib/storage/faults';
import type { MetaItem, MetaStore, WriteOp } from '../../../lib/storage/ports';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { dynamoThrottle, s3SlowDown } from '../../helpers/throttles';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-throttled-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));


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
  meta.faults.add({ method: 'get', times: Infinity, action: { kind: 'fail', error: dynamoThrottle('DynamoDB GetItem') } });
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
  expect(errOf(dynamoThrottle('DynamoDB GetItem'))).toBe(ErrorCode.THROTTLING_QUOTA_EXCEEDED);
  expect(errOf(s3SlowDown())).toBe(ErrorCode.THROTTLING_QUOTA_EXCEEDED);
  expect(errOf(new Error('boom'))).toBe(ErrorCode.UNKNOWN_SERVER_ERROR);
});

it('a Kafka Fetch whose reads are throttled answers KAFKA_STORAGE_ERROR, which consumers retry (THROTTLING_QUOTA_EXCEEDED makes the Java consumer throw)', async () => {
  // The Java consumer's fetch handling (FetchCollector.handleInitializeErrors) retries
  // KAFKA_STORAGE_ERROR after a metadata refresh, warns and retries UNKNOWN_SERVER_ERROR, and
  // throws IllegalStateException from poll() for any code it does not list, 89 among them;
  // KafkaJS retries 56 and gives up on 89 (an unknown code). Produce keeps 89, which both retry.
  const { meta, engine } = await world();
  const l = await startKafkaListener({ engine, coordinator: new GroupCoordinator(engine.meta, engine), port: 0, host: '127.0.0.1' });
  const fetchV4 = async (): Promise<{ error: number; bytes: number }> => {
    const body = new Writer().int32(-1).int32(0).int32(1).int32(1 << 20).int8(0);
    body.array(['t'], (x, t) => void x.string(t).array([0], (y) => void y.int32(0).int64(0).int32(1 << 20)));
    const res = await kafkaRoundTrip(l.port, 1, 4, body);
    const r = new Reader(res);
    r.int32(); // correlation id
    r.int32(); // throttle_time_ms
    const [part] = r.array((x) => (x.string(), x.array((y) => {
      y.int32();
      const error = y.int16();
      y.int64();
      y.int64();
      y.nullableArray((z) => [z.int64(), z.int64()], 16);
      return { error, bytes: y.nullableBytes()?.length ?? 0 };
    }, 4)), 4).flat();
    return part!;
  };
  try {
    meta.faults.add({ method: 'get', times: Infinity, action: { kind: 'fail', error: dynamoThrottle('DynamoDB GetItem') } });
    expect((await fetchV4()).error).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    meta.faults.clear();
    const ok = await fetchV4();
    expect(ok.error).toBe(ErrorCode.NONE);
    expect(ok.bytes).toBeGreaterThan(0);
  } finally {
    await l.close();
    await engine.close();
  }
});

/** One request frame to a Kafka listener, its response frame back (without the size). */
function kafkaRoundTrip(port: number, apiKey: number, version: number, body: Writer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      const payload = Buffer.concat([new Writer().int16(apiKey).int16(version).int32(1).string('throttle-test').finish(), body.finish()]);
      const size = Buffer.alloc(4);
      size.writeInt32BE(payload.length);
      s.write(Buffer.concat([size, payload]));
    });
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        s.destroy();
        resolve(buf.subarray(4, 4 + buf.readInt32BE(0)));
      }
    });
    s.on('error', reject);
  });
}

it('a produce one partition of which committed is not answered 429 when another partition\'s write-ahead PUT is throttled: it was partly written', async () => {
  // Partitions commit one by one (head-only commits, as on DynamoDB). A 4xx promises that
  // nothing was written (engine.ts everyPartition); a client that retries a 429 would write
  // partition 0's records twice.
  const meta = faultyMetaStore(new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }));
  const objects = faultyObjectStore(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
  const engine = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 1024, headOnlyCommits: true });
  await engine.createTopic('p2', 2);
  const app = createApp({ engine, logger: silentLogger });
  objects.faults.add({ method: 'put', when: (c) => c.method === 'put' && parseWalObject(c.args[0])?.partition === 1, times: Infinity, action: { kind: 'fail', error: s3SlowDown() } });
  const res = await app.request('/v1/topics/p2/records', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ records: [{ partition: 0, value: 'x'.repeat(4000) }, { partition: 1, value: 'y'.repeat(4000) }] }),
  });
  const topic = await engine.topics.get('p2');
  expect((await engine.head(topic, 0)).nextOffset).toBe(1); // what the answer must not deny
  expect((await engine.head(topic, 1)).nextOffset).toBe(0);
  expect(res.status).toBe(500);
  expect(await res.json()).toMatchObject({ error_code: 'UNKNOWN_SERVER_ERROR', partially_written: true, cause_code: 'THROTTLING' });
  await engine.close();
});

it('a head-mode commit throttled to the end after a write that timed out is not a 429: that write may still land, so the answer is a retriable 5xx', async () => {
  const base: MetaStore = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  let late: (() => Promise<unknown>) | undefined;
  let n = 0;
  // The commit's head write (head-only commits, as on DynamoDB): the first times out, not
  // applied yet (it lands after the answer); every later one is throttled.
  const isCommit = (op: WriteOp): boolean => op.type === 'update' && op.set !== undefined && HEAD_ATTR.nextOffset in op.set;
  const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
    if (armed && isCommit(op)) {
      if (++n === 1) {
        late = () => base.write(op);
        throw new StorageError('DynamoDB UpdateItem failed: TimeoutError', true);
      }
      throw dynamoThrottle('DynamoDB GetItem');
    }
    return base.write(op);
  };
  let armed = false;
  const meta: MetaStore = new Proxy(base, {
    get: (t, p) => {
      if (p === 'write') return write;
      const v = (t as unknown as Record<string | symbol, unknown>)[p];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), undefined, { headOnlyCommits: true });
  await engine.createTopic('h', 1);
  const app = createApp({ engine, logger: silentLogger });
  armed = true;
  const res = await app.request('/v1/topics/h/records', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'x' }] }) });
  armed = false;
  expect(n).toBeGreaterThan(2);
  expect(res.status).toBe(500);
  expect(await res.json()).toMatchObject({ error_code: 'UNKNOWN_SERVER_ERROR' });
  await late!();
  const got = (await engine.fetch('h', 0, { offset: 0 })).records();
  expect(got.map((x) => Buffer.from(x.value!).toString())).toEqual(['"x"']);
  await engine.close();
});
