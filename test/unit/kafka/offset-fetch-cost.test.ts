// OffsetFetch is what a Kafka consumer sends after every rebalance, for every partition it is
// assigned. It answers committed offsets only, as Kafka's broker does from its offsets cache: it
// must not pay for what GET /v1/groups/{g}/offsets adds (each partition's head, and a record read
// per lagging partition for the lag in time — an S3 GET on AWS once the records are flushed).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { startKafkaListener } from '../../../lib/kafka/server';
import { ErrorCode, Writer } from '../../../lib/kafka/protocol';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { countingMetaStore, countingObjectStore } from '../../../lib/storage/counting';
import { localStores, type TestStores } from '../../helpers/stores';
import { RawClient } from './raw-client';

let stores: TestStores;
beforeAll(async () => {
  await codecsReady();
  stores = await localStores('samsa-offset-fetch-cost-');
});
afterAll(async () => {
  await stores.cleanup();
});

it('answers committed offsets without reading partition heads or records, however far the group lags', async () => {
  const objects = countingObjectStore(stores.objects);
  const meta = countingMetaStore(stores.meta);
  const engine = new LogEngine(meta, objects);
  const coordinator = new GroupCoordinator(engine.meta, engine);
  const listener = await startKafkaListener({ engine, coordinator, port: 0, host: '127.0.0.1' });
  try {
    const partitions = 8;
    await engine.createTopic('ofc', partitions);
    for (let p = 0; p < partitions; p++) {
      await engine.produceBatches('ofc', p, encodeRecordBatch(Array.from({ length: 10 }, (_, i) => ({ value: new TextEncoder().encode(`p${p}-${i}`) }))));
    }
    await engine.flushAll(); // the records now live in segment objects
    await coordinator.commit('ofc-group', { offsets: Array.from({ length: partitions }, (_, p) => ({ topic: 'ofc', partition: p, offset: 2 + p, metadata: p === 0 ? 'm0' : null })) });

    const c = await RawClient.connect(listener.port);
    objects.counts.reset();
    meta.counts.reset();
    // OffsetFetch v5, all topics (null).
    c.request(9, 5, 1, new Writer().string('ofc-group').int32(-1));
    const r = (await c.reply())!;
    expect(r.int32()).toBe(0); // throttle
    const topics = r.array((x) => ({ name: x.string(), parts: x.array((y) => ({ p: y.int32(), offset: y.int64(), epoch: y.int32(), meta: y.nullableString(), err: y.int16() }), 18) }), 6);
    expect(r.int16()).toBe(ErrorCode.NONE);
    expect(topics.map((t) => t.name)).toEqual(['ofc']);
    expect(topics[0]!.parts.map((x) => [x.p, x.offset, x.meta, x.err])).toEqual(Array.from({ length: partitions }, (_, p) => [p, 2 + p, p === 0 ? 'm0' : '', ErrorCode.NONE]));
    c.end();

    const o = objects.counts.snapshot();
    expect(o.calls, 'object store calls for an OffsetFetch').toEqual({});
    const m = meta.counts.snapshot();
    // The group's offsets are one query; no per-partition reads (heads, pages).
    const reads = (m.calls.get ?? 0) + (m.calls.batchGet ?? 0) + (m.calls.query ?? 0);
    expect(reads, JSON.stringify(m.calls)).toBeLessThan(partitions);
  } finally {
    await listener.close();
    await engine.close();
  }
});
