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
