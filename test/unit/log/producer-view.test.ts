// Items mode, idempotent producers (lib/log/producer-view.ts): the producer state is the
// head's snapshot as of `flushed` (written by flush) plus the commit items since, which carry
// each idempotent batch's producer fields; a committer decides against its view of that state
// and commits with the same single conditional put as a plain commit. Several engines on one
// pair of stores stand for separate Lambda instances; a counting wrapper (faults.ts, no rules)
// counts a commit's metadata calls, and fault rules lose or delay the put. On SQLite and on
// the emulator.
import { commitItems } from '../../helpers/log';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../lib/errors';
import { END_CACHE_MS } from '../../../lib/log/commit-items';
import { LogEngine } from '../../../lib/log/engine';
import { commitItemFromItem, headFromItem } from '../../../lib/log/items';
import { COMMIT_ITEM_PREFIX, commitItemSk, headKey, partitionPk } from '../../../lib/log/keys';
import { applyItem, DEFAULT_EPOCH_CACHE_MS, DEFAULT_PRODUCER_ID_EXPIRATION_MS, type ItemProducer, type PartitionProducers, pruneExpired } from '../../../lib/log/producers';
import { encodeRecordBatch } from '../../../lib/records';
import { type CallOf, faultyMetaStore, Gate } from '../../../lib/storage/faults';
import type { MetaStore } from '../../../lib/storage/ports';
import { concatBytes } from '../../../lib/util/bytes';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string => (b ? new TextDecoder().decode(b) : '');
const crash = (): Error => Object.assign(new Error('injected crash'), { name: 'InjectedCrash' });
const isItemPut = (c: CallOf<MetaStore>): boolean => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.sk.startsWith(COMMIT_ITEM_PREFIX);
const READS = new Set(['get', 'batchGet', 'query']);

const items = commitItems;

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'pv');
  const engine = (s: TestStores, meta: MetaStore = s.meta, clock?: ManualClock, extra: object = {}): LogEngine => {
    const e = new LogEngine(meta, s.objects, clock, { itemCommits: true, headOnlyCommits: true, inlineMaxBytes: 512, ...extra });
    return closing(e);
  };
  /** A binary batch of one record, sequence `seq` of producer `id` at `epoch`. */
  const bin = (id: number, epoch: number, seq: number, tag = `s${seq}`): Uint8Array => encodeRecordBatch([{ value: enc(tag) }], { producerId: id, producerEpoch: epoch, baseSequence: seq });
  const values = async (e: LogEngine, name: string): Promise<string[]> => (await e.fetch(name, 0, { offset: 0, maxRecords: 1000, maxBytes: 1 << 20 })).records().map((r) => dec(r.value));

  it('a warm idempotent commit is one put and no read; after another instance wrote, one failed put and one query more', async () => {
    const s = await setup();
    const clock = new ManualClock();
    const counted = faultyMetaStore(s.meta);
    const a = engine(s, counted, clock);
    const other = engine(s, s.meta, clock);
    await a.createTopic(s.name, 1);
    const p = await a.producers.init();
    await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 0)); // builds the view
    for (let seq = 1; seq <= 3; seq++) {
      const from = counted.faults.log.length;
      expect(await a.produceBatches(s.name, 0, bin(p.id, p.epoch, seq))).toEqual({ partition: 0, base_offset: seq, last_offset: seq });
      const calls = counted.faults.log.slice(from).map(({ call }) => call);
      expect(calls).toHaveLength(1);
      expect(isItemPut(calls[0]!)).toBe(true);
      // The item carries the producer fields the view and flush rebuild the state from.
      const put = calls[0]!.method === 'write' && calls[0]!.args[0].type === 'put' ? calls[0]!.args[0].item : undefined;
      const c = commitItemFromItem(put!);
      expect(c.kind === 'commit' && c.extent.producer).toEqual({ stream: `${p.id}`, epoch: p.epoch, firstSeq: seq, lastSeq: seq, now: clock.now() });
    }
    // Another instance appends (a plain record): the next idempotent commit's put fails on
    // its item, the view catches up with one query, and the put at the new end lands.
    await other.produce(s.name, [{ value: enc('plain') }]);
    const from = counted.faults.log.length;
    expect((await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 4))).base_offset).toBe(5);
    const calls = counted.faults.log.slice(from).map(({ call }) => call);
    expect(calls.map((c) => c.method)).toEqual(['write', 'query', 'write']);
    expect(calls.filter((c) => READS.has(c.method))).toHaveLength(1);
    expect(await values(a, s.name)).toEqual(['s0', 's1', 's2', 's3', 'plain', 's4']);
    // Past END_CACHE_MS the end is not trusted: one descending query confirms it, then the put.
    clock.advance(END_CACHE_MS);
    const late = counted.faults.log.length;
    // (The registry's epoch cache ran out too: its read is the produce's fencing check.)
    expect((await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 5))).base_offset).toBe(6);
    const lateCalls = counted.faults.log.slice(late).map(({ call }) => call);
    expect(lateCalls.filter((c) => c.method === 'query')).toHaveLength(1);
    expect(lateCalls.filter((c) => c.method === 'write')).toHaveLength(1);
    expect(END_CACHE_MS).toBeGreaterThan(DEFAULT_EPOCH_CACHE_MS);
  });

  it('two instances sending the same idempotent batch concurrently commit it once and both answer its offsets', async () => {
    const s = await setup();
    const gated = faultyMetaStore(s.meta);
    const a = engine(s, gated);
    const b = engine(s);
    await a.createTopic(s.name, 1);
    const p = await a.producers.init();
    // Cold, truly concurrent: both build their views and race for the same end.
    const both = await Promise.all([a.produceBatches(s.name, 0, bin(p.id, p.epoch, 0)), b.produceBatches(s.name, 0, bin(p.id, p.epoch, 0))]);
    expect(both[0]).toEqual({ partition: 0, base_offset: 0, last_offset: 0 });
    expect(both[1]).toEqual(both[0]);
    // Warm, with the interleaving that matters: a decides on its view and is about to put
    // when b commits the same batch at the same end.
    const gate = new Gate();
    gated.faults.add({ when: isItemPut, action: { kind: 'hang', gate } });
    const first = a.produceBatches(s.name, 0, bin(p.id, p.epoch, 1));
    await gate.reached;
    const second = await b.produceBatches(s.name, 0, bin(p.id, p.epoch, 1));
    gate.release();
    expect(second).toEqual({ partition: 0, base_offset: 1, last_offset: 1 });
    expect(await first).toEqual(second);
    const topic = await a.topics.get(s.name);
    expect((await items(s.meta, topic.id)).length).toBe(2);
    expect(await values(b, s.name)).toEqual(['s0', 's1']);
    // Both go on from there.
    expect((await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 2))).base_offset).toBe(2);
    expect((await b.produceBatches(s.name, 0, bin(p.id, p.epoch, 3))).base_offset).toBe(3);
    // A JSON request (its `<id>j` stream) sent to both at once: one claim, one commit.
    const json = await Promise.all([a, b].map((e) => e.produce(s.name, [{ value: enc('j0'), partition: 0 }], { ...p, sequence: 0 })));
    expect(json[0]![0]!.offset).toBe(4);
    expect(json[1]).toEqual(json[0]);
    expect((await items(s.meta, topic.id)).length).toBe(5);
    expect(await values(a, s.name)).toEqual(['s0', 's1', 's2', 's3', 'j0']);
  });

  it('a cold instance after a flush answers retries from the snapshot (before the flush) and from the items (after it)', async () => {
    const s = await setup();
    const a = engine(s);
    await a.createTopic(s.name, 1);
    const topic = await a.topics.get(s.name);
    const p = await a.producers.init();
    for (let seq = 0; seq < 3; seq++) await a.produceBatches(s.name, 0, bin(p.id, p.epoch, seq));
    await a.produce(s.name, [{ value: enc('j0') }], { ...p, sequence: 0 }); // a JSON stream too, offset 3
    await a.flushPartition(topic, 0);
    const head = headFromItem(await s.meta.get(headKey(topic.id, 0)));
    expect(head.flushed).toBe(4);
    // The snapshot flush wrote: both streams, the offsets each batch took.
    expect(head.producers[`${p.id}`]!.batches.map((b) => [b.firstSeq, b.base])).toEqual([[0, 0], [1, 1], [2, 2]]);
    expect(head.producers[`${p.id}j`]!.batches.map((b) => [b.firstSeq, b.base])).toEqual([[0, 3]]);
    await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 3)); // offset 4: after the flush
    await a.produce(s.name, [{ value: enc('j1') }], { ...p, sequence: 1 }); // offset 5
    const cold = engine(s);
    const before = (await items(s.meta, topic.id)).length;
    expect(await cold.produceBatches(s.name, 0, bin(p.id, p.epoch, 1))).toEqual({ partition: 0, base_offset: 1, last_offset: 1 });
    expect(await cold.produceBatches(s.name, 0, bin(p.id, p.epoch, 3))).toEqual({ partition: 0, base_offset: 4, last_offset: 4 });
    expect((await cold.produce(s.name, [{ value: enc('j0') }], { ...p, sequence: 0 }))[0]!.offset).toBe(3);
    expect((await cold.produce(s.name, [{ value: enc('j1') }], { ...p, sequence: 1 }))[0]!.offset).toBe(5);
    expect((await items(s.meta, topic.id)).length).toBe(before); // nothing written
    // A sequence the state does not allow is still refused, and the next one is taken.
    await expect(cold.produceBatches(s.name, 0, bin(p.id, p.epoch, 5))).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect((await cold.produceBatches(s.name, 0, bin(p.id, p.epoch, 4))).base_offset).toBe(6);
    expect(await values(cold, s.name)).toEqual(['s0', 's1', 's2', 'j0', 's3', 'j1', 's4']);
  });

  it('an item straddling flushed (a flush step stopped inside it) is in the snapshot and read again harmlessly', async () => {
    const s = await setup();
    const a = engine(s, s.meta, undefined, { inlineMaxBytes: 8192, flush: { stepBytes: 1500, indexIntervalBytes: 256 } });
    await a.createTopic(s.name, 1);
    const topic = await a.topics.get(s.name);
    const p = await a.producers.init();
    // One request of three ~1 KB batches (sequences 0..2): one item, offsets 0..2.
    const three = concatBytes([0, 1, 2].map((i) => bin(p.id, p.epoch, i, `a${i}-${'r'.repeat(900)}`)));
    await a.produceBatches(s.name, 0, three);
    const leader = await a.leases.acquire(topic, 0);
    if (!('epoch' in leader)) throw new Error('no lease');
    expect((await a.flusher.step(topic, 0, a.leases.guard(topic, 0, leader.epoch)))?.flushed).toBe(1);
    const head = headFromItem(await s.meta.get(headKey(topic.id, 0)));
    expect(head.producers[`${p.id}`]!.batches).toEqual([{ firstSeq: 0, lastSeq: 2, base: 0, last: 2 }]);
    // A cold instance reads the snapshot and the straddling item: the retry is a retry.
    const cold = engine(s);
    expect(await cold.produceBatches(s.name, 0, three)).toEqual({ partition: 0, base_offset: 0, last_offset: 2 });
    expect((await cold.produceBatches(s.name, 0, bin(p.id, p.epoch, 3))).base_offset).toBe(3);
    // The next steps apply the straddling item again: the snapshot does not change for it.
    await a.flushPartition(topic, 0);
    const after = headFromItem(await s.meta.get(headKey(topic.id, 0)));
    expect(after.flushed).toBe(4);
    expect(after.producers[`${p.id}`]!.batches).toEqual([
      { firstSeq: 0, lastSeq: 2, base: 0, last: 2 },
      { firstSeq: 3, lastSeq: 3, base: 3, last: 3 },
    ]);
  });

  it('a lost response is acknowledged once: the put applied and reported failed, then retried by the store client or by the producer', async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const a = engine(s, fm);
    await a.createTopic(s.name, 1);
    const topic = await a.topics.get(s.name);
    const p = await a.producers.init();
    await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 0));
    // A timeout after the put applied (outcome unknown): the committer looks at the key and
    // finds its own item.
    fm.faults.add({ when: isItemPut, action: { kind: 'failAfter', error: new StorageError('socket hang up', true) } });
    expect(await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 1))).toEqual({ partition: 0, base_offset: 1, last_offset: 1 });
    // The store client sent it again: the repeat fails on the item it wrote, ours by its id.
    fm.faults.add({ when: isItemPut, action: { kind: 'repeat' } });
    expect((await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 2))).base_offset).toBe(2);
    // A failure the committer does not retry: the producer gets an error and sends the batch
    // again, through this instance (whose view never saw its put land) and through another.
    fm.faults.add({ when: isItemPut, action: { kind: 'failAfter', error: crash() } });
    await expect(a.produceBatches(s.name, 0, bin(p.id, p.epoch, 3))).rejects.toThrow('injected crash');
    expect(await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 3))).toEqual({ partition: 0, base_offset: 3, last_offset: 3 });
    expect((await engine(s).produceBatches(s.name, 0, bin(p.id, p.epoch, 3))).base_offset).toBe(3);
    expect(fm.faults.fired(0) + fm.faults.fired(1) + fm.faults.fired(2)).toBe(3);
    expect((await items(s.meta, topic.id)).length).toBe(4);
    expect(await values(a, s.name)).toEqual(['s0', 's1', 's2', 's3']);
  });

  it('fences a lower epoch after a higher one on the partition, even where the registry check still trusts the old epoch', async () => {
    const s = await setup();
    const clock = new ManualClock();
    const a = engine(s, s.meta, clock);
    const b = engine(s, s.meta, clock);
    await a.createTopic(s.name, 2);
    const p = await a.producers.init();
    await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 0, 'old0'));
    // Bumped, and written with the new epoch, through another instance.
    const bumped = await b.producers.init(p.id);
    await b.produceBatches(s.name, 0, bin(p.id, bumped.epoch, 0, 'new0'));
    // a still trusts the old epoch for DEFAULT_EPOCH_CACHE_MS (design note 0003, "Fencing
    // window") and its view is warm: the partition's state refuses it all the same, after the
    // put at a's stale end failed on b's item and the view caught up.
    await expect(a.produceBatches(s.name, 0, bin(p.id, p.epoch, 1, 'old1'))).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' });
    // A cold instance decides the same from the items.
    await expect(engine(s, s.meta, clock).produceBatches(s.name, 0, bin(p.id, p.epoch, 1, 'old1'))).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' });
    // And after a flush, from the snapshot — here once the registry is read again too.
    const topic = await a.topics.get(s.name);
    await a.flushPartition(topic, 0);
    clock.advance(DEFAULT_EPOCH_CACHE_MS);
    await expect(engine(s, s.meta, clock).produceBatches(s.name, 0, bin(p.id, p.epoch, 1, 'old1'))).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' });
    expect(await values(a, s.name)).toEqual(['old0', 'new0']);
    expect((await a.produceBatches(s.name, 0, bin(p.id, bumped.epoch, 1, 'new1'))).base_offset).toBe(2);
  });

  it('a refusal is decided only on a caught-up view: a warm instance that missed a write made elsewhere accepts the next sequence', async () => {
    const s = await setup();
    const counted = faultyMetaStore(s.meta);
    const a = engine(s, counted);
    const b = engine(s);
    await a.createTopic(s.name, 1);
    const p = await a.producers.init();
    await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 0));
    await b.produceBatches(s.name, 0, bin(p.id, p.epoch, 1)); // a's view still ends at 1
    // a's view says sequence 2 leaves a gap; it catches up (one query) before refusing, finds 1.
    const from = counted.faults.log.length;
    expect((await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 2))).base_offset).toBe(2);
    expect(counted.faults.log.slice(from).map(({ call }) => call.method)).toEqual(['query', 'write']);
    expect(await values(a, s.name)).toEqual(['s0', 's1', 's2']);
  });

  it('a view idle past END_CACHE_MS whose end item expired is built again from the snapshot, never continued across the gap', async () => {
    const s = await setup();
    const clock = new ManualClock();
    const a = engine(s, s.meta, clock);
    const b = engine(s, s.meta, clock);
    await a.createTopic(s.name, 1);
    const topic = await a.topics.get(s.name);
    const p = await a.producers.init();
    await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 0)); // a's view ends at 1
    for (let seq = 1; seq <= 5; seq++) await b.produceBatches(s.name, 0, bin(p.id, p.epoch, seq));
    await b.flushPartition(topic, 0);
    // TTL takes the items at 1..3 (below flushed): a's view cannot be continued from its end.
    for (let o = 1; o <= 3; o++) await s.meta.write({ type: 'delete', key: { pk: partitionPk(topic.id, 0), sk: commitItemSk(o) } });
    clock.advance(END_CACHE_MS);
    // A new producer's batch lands at the end, not at the freed key 1 the view ended at.
    const q = await a.producers.init();
    expect((await a.produceBatches(s.name, 0, bin(q.id, q.epoch, 0, 'q0'))).base_offset).toBe(6);
    expect(await s.meta.get({ pk: partitionPk(topic.id, 0), sk: commitItemSk(1) })).toBeUndefined();
    // A retry of a batch in the gap is still a retry (the snapshot has it), not a 409.
    expect(await a.produceBatches(s.name, 0, bin(p.id, p.epoch, 2))).toEqual({ partition: 0, base_offset: 2, last_offset: 2 });
  });

  it('the view forgets a producer idle past producer.id.expiration.ms, as the snapshot does', async () => {
    const s = await setup();
    const clock = new ManualClock();
    const a = engine(s, s.meta, clock);
    await a.createTopic(s.name, 1);
    const topic = await a.topics.get(s.name);
    const idle = await a.producers.init();
    const busy = await a.producers.init();
    await a.produceBatches(s.name, 0, bin(idle.id, 0, 0));
    clock.advance(DEFAULT_PRODUCER_ID_EXPIRATION_MS);
    await a.produceBatches(s.name, 0, bin(busy.id, 0, 0));
    // A cold instance builds its view from items only (nothing flushed): the idle stream is
    // gone, so its next sequence is refused and sequence 0 again starts it over.
    const cold = engine(s, s.meta, clock);
    await expect(cold.produceBatches(s.name, 0, bin(idle.id, 0, 1))).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    expect((await cold.produceBatches(s.name, 0, bin(busy.id, 0, 1))).base_offset).toBe(2);
    await a.flushPartition(topic, 0);
    const head = headFromItem(await s.meta.get(headKey(topic.id, 0)));
    expect(Object.keys(head.producers)).toEqual([`${busy.id}`]);
  });
}

describe('applyItem: replaying commit items onto producer state', () => {
  const exp = DEFAULT_PRODUCER_ID_EXPIRATION_MS;
  const item = (epoch: number, firstSeq: number, now = 1000): ItemProducer => ({ stream: '7', epoch, firstSeq, lastSeq: firstSeq, now });
  it('applying an item the state has, or one older than its last, changes nothing', () => {
    let st: PartitionProducers = {};
    st = applyItem(st, item(0, 0), 10, 10, exp);
    st = applyItem(st, item(0, 1), 11, 11, exp);
    expect(applyItem(st, item(0, 1), 11, 11, exp)).toBe(st);
    expect(applyItem(st, item(0, 0), 10, 10, exp)).toBe(st);
    expect(st['7']!.batches.map((b) => b.base)).toEqual([10, 11]);
  });
  it('a newer epoch starts the stream over; an older one after it is ignored; an expired stream is replaced', () => {
    let st = applyItem({}, item(0, 0), 10, 10, exp);
    st = applyItem(st, item(1, 0), 11, 11, exp);
    expect(st['7']).toEqual({ epoch: 1, touched: 1000, batches: [{ firstSeq: 0, lastSeq: 0, base: 11, last: 11 }] });
    expect(applyItem(st, item(0, 1), 12, 12, exp)).toBe(st);
    const later = applyItem(st, item(0, 0, 1000 + exp), 12, 12, exp);
    expect(later['7']!.epoch).toBe(0);
    expect(pruneExpired(later, 1000 + 2 * exp, exp)).toEqual({});
    expect(pruneExpired(later, 1000 + exp, exp)).toBe(later);
  });
});

describe('items-mode idempotent producers on SQLite', () => scenario(() => localStores('samsa-pview-')));
describeAws('items-mode idempotent producers on S3 + DynamoDB (emulator)', () => scenario(awsStores));
