// The listener's close (SIGTERM): requests in work are answered, and long polls return at once
// rather than at max_wait_ms, so the close is not held to its drain bound by a consumer's Fetch.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { startKafkaListener } from '../../../lib/kafka/server';
import { ErrorCode, Reader, Writer } from '../../../lib/kafka/protocol';
import { LogEngine } from '../../../lib/log/engine';
import { RawClient, testAuth } from './raw-client';
import { localStores, type TestStores } from '../../helpers/stores';

let stores: TestStores;
let engine: LogEngine;
let coordinator: GroupCoordinator;

beforeAll(async () => {
  stores = await localStores('samsa-kafka-close-');
  engine = new LogEngine(stores.meta, stores.objects);
  coordinator = new GroupCoordinator(engine.meta, engine);
  await engine.createTopic('idle', 1);
});

afterAll(async () => {
  await engine.close();
  await stores.cleanup();
});

/** Fetch v4 of partition 0 of `topic` at `offset`: a long poll of `maxWait` ms (min_bytes 1). */
const fetchBody = (topic: string, offset: number, maxWait: number): Writer =>
  new Writer()
    .int32(-1)
    .int32(maxWait)
    .int32(1)
    .int32(1 << 20)
    .int8(0)
    .array([topic], (x, t) => void x.string(t).array([0], (y, p) => void y.int32(p).int64(offset).int32(1 << 20)));

const fetchError = (res: Buffer): number => {
  const r = new Reader(res);
  r.int32(); // correlation id
  r.int32(); // throttle
  r.int32(); // topics
  r.string();
  r.int32(); // partitions
  r.int32();
  return r.int16();
};

it('a long-polling Fetch whose handler starts as the listener closes (it waited on its quota) is answered at once, and the close does not wait out its drain bound', async () => {
  const auth = testAuth(engine.meta, 'none');
  await auth.quotas.put({ principal: 'User:ANONYMOUS', request_rate: 1 });
  try {
    const l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1', auth });
    const c = await RawClient.connect(l.port);
    // The first request takes the bucket's only unit; the second, a 20-second long poll of an
    // idle partition, waits for the next one (about a second).
    c.request(1, 4, 1, fetchBody('idle', 0, 0));
    expect(fetchError((await c.response())!)).toBe(ErrorCode.NONE);
    c.request(1, 4, 2, fetchBody('idle', 0, 20_000));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const answer = c.response(10_000);
    await l.close();
    const elapsed = Date.now() - t0;
    const res = await answer;
    // Answered (with nothing to read), and the close took about the quota wait, not 5 s.
    expect(res).toBeDefined();
    expect(fetchError(res!)).toBe(ErrorCode.NONE);
    expect(elapsed).toBeLessThan(3_500);
    c.end();
  } finally {
    await auth.quotas.put({ principal: 'User:ANONYMOUS' });
  }
}, 30_000);

const joinBody = (group: string, memberId: string): Writer =>
  new Writer()
    .string(group)
    .int32(10_000)
    .string(memberId)
    .string('consumer')
    .array(['range'], (x, p) => void x.string(p).bytes(Uint8Array.of(1)));

it('a JoinGroup whose handler starts as the listener closes (it waited on its quota) is answered at once, not parked until the connections are cut', async () => {
  const auth = testAuth(engine.meta, 'none');
  const l = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1', auth });
  try {
    // A Stable group of one member: the next member's join makes it rebalance, which waits for
    // the first to re-join (its rebalance timeout, the session timeout at v0: 10 s).
    const a = await RawClient.connect(l.port);
    a.request(11, 0, 1, joinBody('drain-group', ''));
    const r = new Reader((await a.response())!);
    r.int32();
    expect(r.int16()).toBe(ErrorCode.NONE);
    const generation = r.int32();
    r.string();
    r.string();
    const memberId = r.string();
    a.request(14, 0, 2, new Writer().string('drain-group').int32(generation).string(memberId).array([memberId], (x, m) => void x.string(m).bytes(new Uint8Array(0))));
    await a.response();
    await auth.quotas.put({ principal: 'User:ANONYMOUS', request_rate: 1 });
    const b = await RawClient.connect(l.port);
    b.request(1, 4, 1, fetchBody('idle', 0, 0));
    await b.response();
    b.request(11, 0, 2, joinBody('drain-group', ''));
    await new Promise((res) => setTimeout(res, 100));
    const t0 = Date.now();
    const answer = b.response(10_000);
    await l.close();
    const elapsed = Date.now() - t0;
    const res = await answer;
    expect(res).toBeDefined();
    const jr = new Reader(res!);
    jr.int32();
    expect(jr.int16()).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    expect(elapsed).toBeLessThan(3_500);
    a.end();
    b.end();
  } finally {
    await auth.quotas.put({ principal: 'User:ANONYMOUS' });
    await l.close();
  }
}, 30_000);
