// Items mode (lib/log/commit-items.ts): every commit is one put of an item c#<base>, conditional
// on its absence, at the end of the log. Several engines on one pair of stores stand for
// separate processes; fault-injecting wrappers fail, lose the ack of, or repeat the put. The
// partition must stay contiguous — no hole, no duplicate — and every acknowledged record must
// read back at its acknowledged offset, before and after flush. On SQLite (the code is the
// same; production uses it on DynamoDB only) and on the emulator (DynamoDB's own condition
// failures, ALL_OLD included).
import { commitItems, partitionRecords } from '../../helpers/log';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../../lib/errors';
import { Committer } from '../../../lib/log/commit';
import { commitTtl, END_CACHE_MS } from '../../../lib/log/commit-items';
import { DEFAULT_TOPIC_CONFIG } from '../../../lib/log/topic-config';
import { GroupStore } from '../../../lib/groups/store';
import { LogEngine } from '../../../lib/log/engine';
import { Notifier } from '../../../lib/log/notifier';
import { prepareRecords } from '../../../lib/log/prepare';
import { COMMIT_DEFLATED_ATTR, commitItemFromItem } from '../../../lib/log/items';
import { itemSize } from '../../../lib/storage/counting';
import { randomBytes } from 'node:crypto';
import { COMMIT_ITEM_PREFIX, commitItemSk, partitionPk } from '../../../lib/log/keys';
import { batchFrames, decodeRecordBatch, encodeRecordBatch } from '../../../lib/records';
import { concatBytes } from '../../../lib/util/bytes';
import { ITEM_DELETE_MIN_AGE_MS } from '../../../lib/log/flush';
import { TOMBSTONE_TTL_MS } from '../../../lib/log/tombstones';
import { type CallOf, faultyMetaStore, Gate } from '../../../lib/storage/faults';
import type { MetaStore } from '../../../lib/storage/ports';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string => (b ? new TextDecoder().decode(b) : '');
const crash = (): Error => Object.assign(new Error('injected crash'), { name: 'InjectedCrash' });
const isItemPut = (c: CallOf<MetaStore>): boolean => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.sk.startsWith(COMMIT_ITEM_PREFIX);
const opts = (extra: object = {}) => ({ itemCommits: true, headOnlyCommits: true, inlineMaxBytes: 512, ...extra });

const readAll = partitionRecords;

const items = commitItems;

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'it');
  const engine = (s: TestStores, meta: MetaStore = s.meta, objects = s.objects, clock?: ManualClock, extra: object = {}): LogEngine => {
    const e = new LogEngine(meta, objects, clock, opts(extra));
    return closing(e);
  };

  /** Contiguous offsets 0..hw-1, each acknowledged value at its offset, and the items chain. */
  async function expectLog(e: LogEngine, s: TestStores, name: string, acks: Array<{ offset: number; value: string }>, partition = 0): Promise<void> {
    const topic = await e.topics.get(name);
    const hw = (await e.head(topic, partition)).nextOffset;
    const records = await readAll(e, name, partition);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: hw }, (_, i) => i));
    for (const a of acks) expect(records[a.offset]?.value).toBe(a.value);
    // The items form a chain: each starts where the one before ends, the last ends at hw
    // (the first is at 0 unless flush deleted those below it: topics without TTL).
    let end: number | undefined;
    for (const item of await items(s.meta, topic.id, partition)) {
      const c = commitItemFromItem(item);
      if (c.kind !== 'commit') continue;
      expect(c.extent.base).toBe(end ?? (c.ttl !== undefined ? 0 : c.extent.base));
      end = c.extent.last + 1;
    }
    expect(end ?? 0).toBe(hw);
  }

  it('creates the topic in items mode and commits with one put per commit, no head write', async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const e = engine(s, fm);
    const topic = await e.createTopic(s.name, 1);
    expect(topic.commit).toBe('items');
    expect((await e.topics.get(s.name, { fresh: true })).commit).toBe('items');
    const before = fm.faults.log.length;
    const [o] = await e.produce(s.name, [{ value: enc('a') }]);
    expect(o!.offset).toBe(0);
    const writes = fm.faults.log.slice(before).filter((l) => l.call.method === 'write' || l.call.method === 'transact');
    expect(writes.map((l) => (l.call.method === 'write' ? `${l.call.args[0].type} ${l.call.args[0].type === 'put' ? l.call.args[0].item.sk.slice(0, 2) : ''}` : 'transact'))).toEqual(['put c#']);
    await e.produce(s.name, [{ value: enc('b') }]);
    await expectLog(e, s, s.name, [{ offset: 0, value: 'a' }, { offset: 1, value: 'b' }]);
    // The head was never written by a commit: it holds only the mark creation left there.
    expect(await s.meta.get({ pk: partitionPk(topic.id, 0), sk: 'head' })).toEqual({ pk: partitionPk(topic.id, 0), sk: 'head', next_offset: 'items' });
  });

  it('creating a name that exists writes nothing: no heads marked under an incarnation that will never be', async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const e = engine(s, fm);
    await e.createTopic(s.name, 8);
    const before = fm.faults.log.length;
    // A "create if absent" client at every start-up.
    for (let i = 0; i < 3; i++) await expect(e.createTopic(s.name, 8)).rejects.toMatchObject({ code: 'TOPIC_ALREADY_EXISTS' });
    expect(fm.faults.log.slice(before).filter((l) => l.call.method === 'write' || l.call.method === 'transact')).toEqual([]);
  });

  it('refuses, retriable, a head-mode commit by a build before items mode (it ignores the topic\'s mode), also on a partition added later', async () => {
    const s = await setup();
    const e = engine(s);
    await e.createTopic(s.name, 2);
    await e.topics.alter(s.name, { partitions: 3 });
    const { commit: _mode, ...asOldBuildSeesIt } = await e.topics.get(s.name, { fresh: true });
    await e.produce(s.name, [{ value: enc('new'), partition: 0 }]);
    const old = new Committer(s.meta, s.objects, new Notifier(), { inlineMaxBytes: 2560, headOnlyCommits: true, backoff: { sleep: async () => {}, maxAttempts: 4 } });
    for (const partition of [0, 1, 2]) {
      const prep = prepareRecords([{ value: enc('old-build') }], 1 << 20, Date.now(), () => 0);
      const part = { topic: asOldBuildSeesIt, partition, payload: prep.payload, batchStarts: prep.batchStarts, batchCounts: prep.batchCounts, maxTs: prep.maxTs };
      await expect(old.commit([part])).rejects.toMatchObject({ code: 'THROTTLING', retriable: true });
    }
    expect((await readAll(e, s.name, 0)).map((r) => r.value)).toEqual(['new']);
    for (const partition of [1, 2]) expect(await readAll(e, s.name, partition)).toEqual([]);
    const [o] = await e.produce(s.name, [{ value: enc('still'), partition: 2 }]);
    expect(o!.offset).toBe(0);
  });

  it('keeps offsets contiguous and unique across independent writers (separate engines)', async () => {
    const s = await setup();
    const engines = Array.from({ length: 4 }, () => engine(s));
    await engines[0]!.createTopic(s.name, 2);
    const acks: Array<{ partition: number; offset: number; value: string }> = [];
    await Promise.all(
      engines.flatMap((e, w) =>
        Array.from({ length: 3 }, async (_, lane) => {
          for (let i = 0; i < 12; i++) {
            // Sizes straddle the inline limit, so inline and write-ahead commits interleave.
            const value = `w${w}-l${lane}-${i}-${'x'.repeat((i * 97) % 900)}`;
            const [o] = await e.produce(s.name, [{ value: enc(value), partition: i % 2 }]);
            acks.push({ partition: o!.partition, offset: o!.offset, value });
          }
        }),
      ),
    );
    for (const p of [0, 1]) {
      const mine = acks.filter((a) => a.partition === p);
      await expectLog(engines[1]!, s, s.name, mine, p);
      const topic = await engines[0]!.topics.get(s.name);
      expect((await engines[0]!.head(topic, p)).nextOffset).toBe(mine.length);
    }
  });

  it.each([
    ['the put fails before it is applied', 'fail', 0],
    ['the put is applied but its ack is lost (the writer crashes)', 'failAfter', 1],
  ] as const)('survives a crash when %s', async (_name, kind, copies) => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const victim = engine(s, fm);
    const healthy = engine(s);
    await healthy.createTopic(s.name, 1);
    const acks: Array<{ offset: number; value: string }> = [];
    for (let i = 0; i < 3; i++) acks.push({ value: `before-${i}`, offset: (await healthy.produce(s.name, [{ value: enc(`before-${i}`) }]))[0]!.offset });
    fm.faults.add({ when: isItemPut, action: { kind, error: crash() } });
    await expect(victim.produce(s.name, [{ value: enc('victim') }])).rejects.toThrow('injected crash');
    for (let i = 0; i < 3; i++) acks.push({ value: `after-${i}`, offset: (await healthy.produce(s.name, [{ value: enc(`after-${i}`) }]))[0]!.offset });
    await expectLog(healthy, s, s.name, acks);
    expect((await readAll(healthy, s.name, 0)).filter((r) => r.value === 'victim')).toHaveLength(copies);
  });

  it.each([
    ['inline', 'v'],
    ['write-ahead', 'w'.repeat(2000)],
  ])('commits once when an applied %s put is sent again (a lost response the client retried)', async (_name, payload) => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const victim = engine(s, fm);
    const healthy = engine(s);
    await healthy.createTopic(s.name, 1);
    fm.faults.add({ when: isItemPut, times: Infinity, action: { kind: 'repeat' } });
    const acks: Array<{ offset: number; value: string }> = [];
    for (let i = 0; i < 8; i++) {
      const value = `${i}-${payload}`;
      const [o] = await (i % 3 === 0 ? healthy : victim).produce(s.name, [{ value: enc(value) }]);
      acks.push({ offset: o!.offset, value });
    }
    expect(fm.faults.fired(0)).toBeGreaterThan(0);
    await expectLog(healthy, s, s.name, acks);
    expect(acks.map((a) => a.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it.each([
    ['before the put is applied', 'fail'],
    ['after the put is applied', 'failAfter'],
  ] as const)('commits once after a timeout %s', async (_name, kind) => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const victim = engine(s, fm);
    const healthy = engine(s);
    await healthy.createTopic(s.name, 1);
    await healthy.produce(s.name, [{ value: enc('first') }]);
    fm.faults.add({ when: isItemPut, action: { kind, error: new StorageError('socket timeout', true) } });
    const [o] = await victim.produce(s.name, [{ value: enc('once') }]);
    expect(o!.offset).toBe(1);
    await healthy.produce(s.name, [{ value: enc('last') }]);
    await expectLog(healthy, s, s.name, [{ offset: 0, value: 'first' }, { offset: 1, value: 'once' }, { offset: 2, value: 'last' }]);
  });

  it('a stale cached end costs one failed put, then one query to the real end; past END_CACHE_MS the end is read afresh', async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const clock = new ManualClock(Date.now());
    const stale = engine(s, fm, s.objects, clock);
    const other = engine(s);
    await other.createTopic(s.name, 1);
    await stale.produce(s.name, [{ value: enc('s0') }]); // caches end 1
    for (let i = 0; i < 5; i++) await other.produce(s.name, [{ value: enc(`o${i}`) }]);
    let from = fm.faults.log.length;
    const [o] = await stale.produce(s.name, [{ value: enc('s1') }]);
    expect(o!.offset).toBe(6);
    const calls = fm.faults.log.slice(from).map((l) => l.call);
    expect(calls.filter(isItemPut)).toHaveLength(2); // at the cached end 1 (taken), then at 6
    expect(calls.filter((c) => c.method === 'query')).toHaveLength(1); // the jump to the end
    // An end seen longer ago than END_CACHE_MS is not trusted: learned before the put.
    await other.produce(s.name, [{ value: enc('o5') }]);
    clock.advance(END_CACHE_MS + 1);
    from = fm.faults.log.length;
    const [o2] = await stale.produce(s.name, [{ value: enc('s2') }]);
    expect(o2!.offset).toBe(8);
    expect(fm.faults.log.slice(from).map((l) => l.call).filter(isItemPut)).toHaveLength(1);
    await expectLog(other, s, s.name, [{ offset: 0, value: 's0' }, { offset: 6, value: 's1' }, { offset: 8, value: 's2' }]);
  });

  it('a write-ahead commit is an item naming its object; one written at a stale guess reads back at its real offsets', async () => {
    const s = await setup();
    const big = 'B'.repeat(3000);
    const victim = engine(s);
    const other = engine(s);
    await other.createTopic(s.name, 1);
    await victim.produce(s.name, [{ value: enc('v0') }]); // the victim's cached end: 1
    // Others commit meanwhile: the victim writes its object at the guess 1, then commits at 4.
    for (let i = 0; i < 3; i++) await other.produce(s.name, [{ value: enc(`o${i}`) }]);
    const [o] = await victim.produce(s.name, [{ value: enc(`big-${big}`) }, { value: enc(`big2-${big}`) }]);
    expect(o!.offset).toBe(4);
    const topic = await other.topics.get(s.name);
    const last = commitItemFromItem((await items(s.meta, topic.id)).at(-1)!);
    expect(last.kind === 'commit' && last.extent.kind).toBe('wal');
    expect(last.kind === 'commit' && [last.extent.base, last.extent.wb]).toEqual([4, 1]);
    await expectLog(other, s, s.name, [{ offset: 0, value: 'v0' }, { offset: 4, value: `big-${big}` }, { offset: 5, value: `big2-${big}` }]);
  });

  it('a deletion fences the log: a commit whose put landed before it is acknowledged, any commit after it is refused', async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const gate = new Gate();
    const stale = engine(s);
    const victim = engine(s, fm);
    const admin = engine(s);
    await admin.createTopic(s.name, 1);
    const topic = await admin.topics.get(s.name);
    await stale.produce(s.name, [{ value: enc('v0') }]); // the stale writer's cached end: 1
    // The victim's put lands but times out; before it looks at the key, the topic is deleted.
    fm.faults.add({ when: isItemPut, action: { kind: 'failAfter', error: new StorageError('socket timeout', true) } });
    fm.faults.add({ when: (c) => c.method === 'get' && c.args[0].sk.startsWith(COMMIT_ITEM_PREFIX), action: { kind: 'hang', gate } });
    const landed = victim.produce(s.name, [{ value: enc('v1') }]);
    await gate.reached;
    await admin.deleteTopic(s.name);
    gate.release();
    expect((await landed)[0]!.offset).toBe(1);
    // After the deletion: at a key below the fence (taken, then the end is the fence) and at
    // the fence's own key. Refused as a deleted topic, retriable, nothing written.
    await expect(stale.produce(s.name, [{ value: enc('late-stale') }])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
    await expect(victim.produce(s.name, [{ value: enc('late-victim') }])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
    const all = (await items(s.meta, topic.id)).map(commitItemFromItem);
    expect(all.map((c) => (c.kind === 'fence' ? `fence@${c.base}` : c.extent.base))).toEqual([0, 1, 'fence@2']);
  });

  it('a commit that takes the end while the deletion puts its fence moves the fence on, past it', async () => {
    const s = await setup();
    const writer = engine(s);
    let racing: Promise<unknown> | undefined;
    // Right before the fence's put, another process commits at the same end: the put waits
    // until that commit is acknowledged.
    const gate = new Gate();
    const fm = faultyMetaStore(s.meta);
    fm.faults.add({
      when: (c) => {
        if (!racing && c.method === 'write' && c.args[0].type === 'put' && c.args[0].item['fence'] === true) {
          racing = writer.produce(s.name, [{ value: enc('racer') }]);
          void racing.then(() => gate.release());
          return true;
        }
        return false;
      },
      action: { kind: 'hang', gate },
    });
    const admin = engine(s, fm);
    await admin.createTopic(s.name, 1);
    const topic = await admin.topics.get(s.name);
    await writer.produce(s.name, [{ value: enc('w0') }]);
    await admin.deleteTopic(s.name);
    expect(await racing!).toEqual([expect.objectContaining({ offset: 1 })]);
    const all = (await items(s.meta, topic.id)).map(commitItemFromItem);
    expect(all.map((c) => (c.kind === 'fence' ? `fence@${c.base}` : c.extent.base))).toEqual([0, 1, 'fence@2']);
  });

  it('retention keeps the fence with the tombstone while it removes the deleted log, and removes both together later', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const admin = engine(s, s.meta, s.objects, clock);
    await admin.createTopic(s.name, 1);
    const topic = await admin.topics.get(s.name);
    for (let i = 0; i < 3; i++) await admin.produce(s.name, [{ value: enc(`d${i}`) }]);
    await admin.deleteTopic(s.name);
    const all = async () => (await s.meta.query({ pk: partitionPk(topic.id, 0), limit: 100 })).items;
    for (let i = 0; i < 5 && (await all()).length > 2; i++) {
      clock.advance(60_000);
      await admin.retention.runOnce();
    }
    expect((await all()).map((i) => (i.sk.startsWith(COMMIT_ITEM_PREFIX) ? commitItemFromItem(i).kind : i.sk))).toEqual(['fence', 'head']);
    clock.advance(TOMBSTONE_TTL_MS + 60_000);
    await admin.retention.runOnce();
    expect(await all()).toEqual([]);
  });

  it('group reads of many heads (lag, poll, resets) see the end of the last item as the high watermark', async () => {
    const s = await setup();
    const e = engine(s);
    await e.createTopic(s.name, 3);
    const topic = await e.topics.get(s.name);
    await e.produce(s.name, [{ value: enc('a'), partition: 0 }, { value: enc('b'), partition: 0 }, { value: enc('c'), partition: 2 }]);
    const fm = faultyMetaStore(s.meta);
    const store = new GroupStore(fm, e);
    const tps = [0, 1, 2].map((partition) => ({ topic, partition }));
    for (const consistent of [true, false]) expect((await store.readHeads(tps, { consistent })).map((h) => h.nextOffset)).toEqual([2, 0, 1]);
    // An idle member's next eventually consistent reads check only the item at each end: no
    // query, no head read — and see a commit (its item is that one) and a deletion (its fence).
    const queries = () => fm.faults.log.filter((l) => l.call.method === 'query').length;
    let before = queries();
    expect((await store.readHeads(tps, { consistent: false })).map((h) => h.nextOffset)).toEqual([2, 0, 1]);
    expect(queries()).toBe(before);
    await e.produce(s.name, [{ value: enc('d'), partition: 1 }]);
    before = queries();
    expect((await store.readHeads(tps, { consistent: false })).map((h) => h.nextOffset)).toEqual([2, 1, 1]);
    expect(queries()).toBe(before + 1); // partition 1 only, read afresh
    await e.deleteTopic(s.name);
    expect((await store.readHeads(tps, { consistent: false })).every((h) => h.deleted)).toBe(true);
  });

  it('a long poll sees another process\'s commit; while it waits it reads only the item key at the end', async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const waiter = engine(s, fm, s.objects, undefined, { longPollRecheckMs: 40, longPollMaxRecheckMs: 40 });
    const other = engine(s);
    await other.createTopic(s.name, 1);
    await other.produce(s.name, [{ value: enc('r0') }]);
    const polled = waiter.fetch(s.name, 0, { offset: 1, waitMs: 5000 });
    await new Promise((r) => setTimeout(r, 400));
    const during = fm.faults.log.map((l) => l.call.method);
    await other.produce(s.name, [{ value: enc('r1') }]);
    const got = (await polled).records();
    expect(got.map((r) => [r.offset, dec(r.value)])).toEqual([[1, 'r1']]);
    // ~10 rechecks in 400 ms, each one get of c#1: the queries are the fetch's own, before it waited.
    expect(during.filter((m) => m === 'get').length).toBeGreaterThan(4);
    expect(during.filter((m) => m === 'query').length).toBeLessThanOrEqual(5);
  });

  describe('reader and flush', () => {
    const three = (tag: string) => concatBytes([0, 1, 2].map((i) => encodeRecordBatch([{ value: enc(`${tag}${i}-${'r'.repeat(900)}`) }])));
    const flushOpts = { flush: { stepBytes: 1500, indexIntervalBytes: 256 } };

    it('a 1 KiB JSON record commits as an item under one 1 KB write unit (its batch deflated), a random one as it is; both read back byte for byte, before and after flush', async () => {
      const s = await setup();
      const e = engine(s, s.meta, s.objects, undefined, { ...flushOpts, inlineMaxBytes: 2560 });
      await e.createTopic(s.name, 1);
      const topic = await e.topics.get(s.name);
      let text = '';
      for (let i = 0; text.length < 1024; i++) text += `${JSON.stringify({ id: `evt-${i}`, type: 'checkout', cart: { sku: `SKU-${(i * 7919) % 10007}`, qty: (i % 5) + 1 }, at: 1764547200000 + i })}\n`;
      const values = [enc(text.slice(0, 1024)), new Uint8Array(randomBytes(1024))];
      for (const v of values) await e.produce(s.name, [{ value: v }]);
      const [json, random] = (await items(s.meta, topic.id)).filter((i) => commitItemFromItem(i).kind === 'commit');
      // DynamoDB bills a write per started 1 KB of the item, keys and attribute names included.
      expect(json![COMMIT_DEFLATED_ATTR]).toBeInstanceOf(Uint8Array);
      expect(json!['data']).toBeUndefined();
      expect(Math.ceil(itemSize(json!) / 1024)).toBe(1);
      expect(random![COMMIT_DEFLATED_ATTR]).toBeUndefined();
      expect(Math.ceil(itemSize(random!) / 1024)).toBe(2);
      const read = async () => (await e.fetch(s.name, 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20 })).records().map((r) => Buffer.from(r.value!));
      expect(await read()).toEqual(values.map((v) => Buffer.from(v)));
      await e.flushPartition(topic, 0);
      expect((await e.head(topic, 0)).flushed).toBe(2);
      expect(await read()).toEqual(values.map((v) => Buffer.from(v)));
      // A damaged item is refused loudly, never served as records.
      await e.createTopic(`${s.name}-x`, 1);
      await e.produce(`${s.name}-x`, [{ value: values[0]! }]);
      const x = await e.topics.get(`${s.name}-x`);
      const [stored] = await items(s.meta, x.id);
      const z = stored![COMMIT_DEFLATED_ATTR] as Uint8Array;
      await s.meta.write({ type: 'put', item: { ...stored!, [COMMIT_DEFLATED_ATTR]: z.subarray(0, z.length >> 1) } });
      await expect(engine(s).fetch(`${s.name}-x`, 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20 })).rejects.toThrow(/deflated batch bytes/);
    });

    it('produce, flush, fetch: segments take over below flushed, items stay (TTL removes them), write-ahead objects go', async () => {
      const s = await setup();
      const e = engine(s, s.meta, s.objects, undefined, flushOpts);
      await e.createTopic(s.name, 1);
      const acks: Array<{ offset: number; value: string }> = [];
      for (let i = 0; i < 6; i++) {
        // Inline, and write-ahead: random hex, which deflates too little to fit 512 bytes of item
        // (a repeated character would deflate to nothing and stay inline).
        const value = `${i}-${i % 2 ? randomBytes(600).toString('hex') : 'i'}`;
        acks.push({ offset: (await e.produce(s.name, [{ value: enc(value) }]))[0]!.offset, value });
      }
      const topic = await e.topics.get(s.name);
      const wal = async () => (await s.objects.list('wal/')).objects.length;
      expect(await wal()).toBe(3);
      const stats = await e.flushPartition(topic, 0);
      expect(stats.batches).toBe(6);
      const head = await e.head(topic, 0);
      expect([head.flushed, head.nextOffset]).toEqual([6, 6]);
      expect(await wal()).toBe(0);
      // Flush deleted no item: they expire by TTL, each carrying one.
      const left = (await items(s.meta, topic.id)).map(commitItemFromItem);
      expect(left).toHaveLength(6);
      for (const c of left) expect(c.kind === 'commit' && c.ttl).toBeGreaterThan(Date.now() / 1000 + 7 * 86400);
      await expectLog(e, s, s.name, acks);
      // And on from there.
      acks.push({ offset: (await e.produce(s.name, [{ value: enc('after') }]))[0]!.offset, value: 'after' });
      await expectLog(e, s, s.name, acks);
    });

    // Also with this process's inline cache (embedded engines keep one; flush then takes the
    // straddling item's bytes from memory, whole).
    it.each([
      ['', {}],
      [', with the inline cache', { headOnlyCommits: false }],
      [', written ahead to an object', { inlineMaxBytes: 100 }],
    ])('reads and flushes across a flushed offset inside a commit item (a step stopped mid-item, no remainder written)%s', async (_name, extra) => {
      const s = await setup();
      const e = engine(s, s.meta, s.objects, undefined, { ...flushOpts, inlineMaxBytes: 8192, ...extra });
      await e.createTopic(s.name, 1);
      const topic = await e.topics.get(s.name);
      await e.produceBatches(s.name, 0, three('a')); // one item, offsets 0..2, three batches
      await e.produceBatches(s.name, 0, three('b')); // 3..5
      // One step of 1500 bytes moves one ~1 KB batch and stops inside the first item — taken
      // by another process, so `e` still holds the whole item in its inline cache (if any).
      const other = engine(s, s.meta, s.objects, undefined, { ...flushOpts, inlineMaxBytes: 8192 });
      const leader = await other.leases.acquire(topic, 0);
      if (!('epoch' in leader)) throw new Error('no lease');
      const step = await other.flusher.step(topic, 0, other.leases.guard(topic, 0, leader.epoch));
      expect(step?.flushed).toBe(1);
      await other.leases.release(topic, 0);
      const pagesBefore = await s.meta.query({ pk: partitionPk(topic.id, 0), beginsWith: 'x#' });
      expect(pagesBefore.items).toHaveLength(0); // no remainder page
      const values = ['a0', 'a1', 'a2', 'b0', 'b1', 'b2'];
      for (let from = 0; from < 6; from++) {
        const got = (await e.fetch(s.name, 0, { offset: from, maxRecords: 100, maxBytes: 1 << 20 })).records();
        expect(got.map((r) => [r.offset, dec(r.value).split('-')[0]])).toEqual(values.slice(from).map((v, i) => [from + i, v]));
      }
      // A streamed (planned) fetch reads the same bytes.
      const plan = await e.reader.planFetch(topic, 0, { offset: 1, maxBytes: 1 << 20 });
      expect(plan.pieces[0]!.base).toBe(1);
      const chunks: Uint8Array[] = [];
      for await (const chunk of e.reader.streamPlan(plan)) chunks.push(chunk);
      const body = concatBytes(chunks);
      const streamed = [...batchFrames(body)].flatMap((f) => decodeRecordBatch(body.subarray(f.start, f.end)).records);
      expect(streamed.map((r) => [r.offset, dec(r.value).split('-')[0]])).toEqual(values.slice(1).map((v, i) => [1 + i, v]));
      // The next steps go on from inside the item.
      const rest = await e.flushPartition(topic, 0);
      expect(rest.batches).toBe(5);
      expect((await e.head(topic, 0)).flushed).toBe(6);
      const all = (await e.fetch(s.name, 0, { offset: 0, maxRecords: 100, maxBytes: 1 << 20 })).records();
      expect(all.map((r) => dec(r.value).split('-')[0])).toEqual(values);
      const segs = await e.reader.segments(topic, 0);
      expect(segs.reduce((n, sg) => n + sg.last - sg.base + 1, 0)).toBe(6);
    });

    it('a last item TTL removed before an older one (writers\' clocks disagree) does not send a commit below flushed', async () => {
      const s = await setup();
      const e = engine(s);
      await e.createTopic(s.name, 1);
      const topic = await e.topics.get(s.name);
      for (let i = 0; i < 4; i++) await e.produce(s.name, [{ value: enc(`t${i}`) }]);
      await e.flushPartition(topic, 0);
      // DynamoDB's TTL takes the item at 3 first; the one at 2 (ending at 3) is still there.
      await s.meta.write({ type: 'delete', key: { pk: partitionPk(topic.id, 0), sk: commitItemSk(3) } });
      const [o] = await engine(s).produce(s.name, [{ value: enc('t4') }]);
      expect(o!.offset).toBe(4);
      const got = (await e.fetch(s.name, 0, { offset: 0, maxRecords: 100 })).records();
      expect(got.map((r) => [r.offset, dec(r.value)])).toEqual([0, 1, 2, 3, 4].map((i) => [i, `t${i}`]));
    });

    it('unflushed items TTL removed (flush stalled past their life): flush starts the log at the first item left, readers below it are out of range', async () => {
      const s = await setup();
      const e = engine(s);
      await e.createTopic(s.name, 1);
      const topic = await e.topics.get(s.name);
      for (let i = 0; i < 4; i++) await e.produce(s.name, [{ value: enc(`g${i}`) }]);
      for (const base of [0, 1]) await s.meta.write({ type: 'delete', key: { pk: partitionPk(topic.id, 0), sk: commitItemSk(base) } });
      const stats = await e.flushPartition(topic, 0);
      expect(stats.batches).toBe(2);
      const head = await e.head(topic, 0);
      expect([head.logStart, head.flushed, head.nextOffset]).toEqual([2, 4, 4]);
      await expect(e.fetch(s.name, 0, { offset: 0 })).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
      const got = (await e.fetch(s.name, 0, { offset: 2, maxRecords: 10 })).records();
      expect(got.map((r) => [r.offset, dec(r.value)])).toEqual([[2, 'g2'], [3, 'g3']]);
      const [o] = await e.produce(s.name, [{ value: enc('g4') }]);
      expect(o!.offset).toBe(4);
    });

    it('topics that keep records forever: items carry no TTL; flush deletes those a day old wholly below flushed, never the last', async () => {
      const s = await setup();
      const clock = new ManualClock(Date.now());
      const e = engine(s, s.meta, s.objects, clock);
      await e.createTopic(s.name, 1, { 'retention.ms': -1 });
      const topic = await e.topics.get(s.name);
      for (let i = 0; i < 4; i++) await e.produce(s.name, [{ value: enc(`r${i}`) }]);
      await e.flushPartition(topic, 0);
      let left = (await items(s.meta, topic.id)).map(commitItemFromItem);
      expect(left).toHaveLength(4); // too young
      expect(left.every((c) => c.kind === 'commit' && c.ttl === undefined && c.at !== undefined)).toBe(true);
      clock.advance(ITEM_DELETE_MIN_AGE_MS + 1);
      await e.produce(s.name, [{ value: enc('r4') }]);
      await e.flushPartition(topic, 0);
      left = (await items(s.meta, topic.id)).map(commitItemFromItem);
      // Offsets 0..3 are a day old and below flushed (5); 3 ends at 4, below 5 too; 4 ends at
      // flushed and stays, so the end of the log is still one query away.
      expect(left.map((c) => (c.kind === 'commit' ? c.extent.base : -1))).toEqual([4]);
      const [o] = await engine(s).produce(s.name, [{ value: enc('r5') }]);
      expect(o!.offset).toBe(5);
      await expectLog(e, s, s.name, [0, 1, 2, 3, 4, 5].map((i) => ({ offset: i, value: `r${i}` })));
    });

    it('the orphan sweep keeps write-ahead objects of unflushed items, also one straddling flushed', async () => {
      const s = await setup();
      const clock = new ManualClock(Date.now());
      const e = engine(s, s.meta, s.objects, clock, { ...flushOpts, inlineMaxBytes: 100 });
      await e.createTopic(s.name, 1);
      const topic = await e.topics.get(s.name);
      await e.produceBatches(s.name, 0, three('a'));
      await e.produce(s.name, [{ value: enc(`b-${'w'.repeat(500)}`) }]);
      const leader = await e.leases.acquire(topic, 0);
      if (!('epoch' in leader)) throw new Error('no lease');
      expect((await e.flusher.step(topic, 0, e.leases.guard(topic, 0, leader.epoch)))?.flushed).toBe(1);
      await e.leases.release(topic, 0);
      expect((await s.objects.list('wal/')).objects).toHaveLength(2);
      clock.advance(48 * 3600 * 1000);
      await e.retention.runOnce();
      expect((await s.objects.list('wal/')).objects).toHaveLength(2);
      const got = (await e.fetch(s.name, 0, { offset: 0, maxRecords: 100, maxBytes: 1 << 20 })).records();
      expect(got.map((r) => dec(r.value).split('-')[0])).toEqual(['a0', 'a1', 'a2', 'b']);
    });
  });
}

describe('commit items expire', () => {
  const day = 24 * 3600 * 1000;
  const at = (retentionMs: number) => commitTtl({ config: { ...DEFAULT_TOPIC_CONFIG, 'retention.ms': retentionMs } }, 1_000_000_000_000);
  it('at commit time + max(7 days, retention.ms) + 1 day, in epoch seconds; never on topics that keep records forever', () => {
    expect(at(3600_000)).toBe((1_000_000_000_000 + 8 * day) / 1000);
    expect(at(30 * day)).toBe((1_000_000_000_000 + 31 * day) / 1000);
    expect(at(-1)).toBeUndefined();
  });
});

describe('items-mode commits on SQLite', () => scenario(() => localStores('samsa-items-')));
describeAws('items-mode commits on S3 + DynamoDB (emulator)', () => scenario(awsStores));
