// Items mode keeps a commit's batch inline when its commit item, as stored (the batch deflated
// when that pays), is within the store's priced break-even (design note 0010, point 11); larger
// ones, and batches too large to be worth deflating, are written ahead to an object. A put
// DynamoDB throttles falls back to write-ahead; one throttled to the end is a retriable 429.
// Head-mode topics keep 0003's rule on the raw batch. On SQLite and on the emulator, with AWS
// mode's thresholds (DYNAMODB_TRAITS), counting object writes at the object store.
import { describe, expect, it, vi } from 'vitest';
import { jsonEvent, randomValue, seeded } from '../../../bench/payloads';
import { SamsaError, StorageError } from '../../../lib/errors';
import { createApp } from '../../../lib/http/app';
import { silentLogger } from '../../../lib/obs/logger';
import { ITEM_DEFLATE_MAX_RATIO } from '../../../lib/log/commit';
import { commitItemLife } from '../../../lib/log/commit-items';
import { LogEngine } from '../../../lib/log/engine';
import { COMMIT_DEFLATED_ATTR } from '../../../lib/log/items';
import { COMMIT_ITEM_PREFIX, walObject } from '../../../lib/log/keys';
import { DEFAULT_TOPIC_CONFIG } from '../../../lib/log/topic-config';
import { loadConfig } from '../../../lib/runtime/config';
import { engineOptions } from '../../../lib/runtime/core';
import { itemSize } from '../../../lib/storage/counting';
import { DYNAMODB_TRAITS } from '../../../lib/storage/dynamo-meta-store';
import { type CallOf, faultyMetaStore, faultyObjectStore } from '../../../lib/storage/faults';
import { AWS_ON_DEMAND_PRICES, itemInlineBreakEven } from '../../../lib/storage/item-inline-cost';
import type { MetaItem, MetaStore, WriteOp } from '../../../lib/storage/ports';
import { describeAws } from '../../helpers/aws';
import { commitItems } from '../../helpers/log';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';
import { dynamoThrottle } from '../../helpers/throttles';

// Every DEFLATE the process runs, by input size: the request path must not deflate a batch it
// writes ahead anyway, and must deflate an inline one once.
const deflated = vi.hoisted(() => ({ sizes: [] as number[] }));
vi.mock('node:zlib', async (importOriginal) => {
  const zlib = await importOriginal<typeof import('node:zlib')>();
  const deflateRawSync = (buf: Uint8Array, opts?: object): Buffer => {
    deflated.sizes.push(buf.length);
    return zlib.deflateRawSync(buf, opts);
  };
  // zstd exists only on newer Nodes; records/compression.ts looks for it (the mock must name it).
  const zstd = { zstdCompressSync: (zlib as Record<string, unknown>)['zstdCompressSync'], zstdDecompressSync: (zlib as Record<string, unknown>)['zstdDecompressSync'] };
  return { ...zlib, ...zstd, default: { ...zlib, ...zstd, deflateRawSync }, deflateRawSync };
});

/** AWS mode's thresholds, as lib/runtime/core.ts wires them from the DynamoDB store's traits. */
const AWS_THRESHOLDS = { inlineMaxBytes: DYNAMODB_TRAITS.inlineMaxBytes, itemInlineMaxBytes: DYNAMODB_TRAITS.itemInlineMaxBytes! };
const isItemPut = (c: CallOf<MetaStore>): boolean => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.sk.startsWith(COMMIT_ITEM_PREFIX);
const putItem = (c: CallOf<MetaStore>): MetaItem | undefined => (c.method === 'write' && c.args[0].type === 'put' ? c.args[0].item : undefined);
/** A store's member, methods bound to it (for Proxy wrappers that replace one member). */
const bound = (t: MetaStore, p: string | symbol): unknown => {
  const v = (t as unknown as Record<string | symbol, unknown>)[p];
  return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
};

describe('the inline break-even, from the prices (design note 0010, point 11)', () => {
  const at = (retentionMs: number) => itemInlineBreakEven(AWS_ON_DEMAND_PRICES, 1024, commitItemLife({ config: { ...DEFAULT_TOPIC_CONFIG, 'retention.ms': retentionMs } }));
  it('is 8 KB of item for a 7-day topic, less where items are stored longer or deleted by a billed write', () => {
    expect(at(7 * 86400_000)).toBe(8192);
    expect(at(3600_000)).toBe(8192); // items live 8 days whatever a shorter retention says
    expect(at(30 * 86400_000)).toBe(6144);
    expect(at(-1)).toBe(5120);
    // retention.ms 0 lives the 8-day minimum; the largest allowed keeps items ~forever, where
    // a byte stored costs more than any write: one write unit, never less (nor NaN).
    expect(at(0)).toBe(8192);
    expect(at(Number.MAX_SAFE_INTEGER)).toBe(1024);
  });
  it('is what AWS mode wires in (head-mode topics keep 2,560 raw bytes)', () => {
    const opts = engineOptions(loadConfig({ SAMSA_STORAGE: 'aws', SAMSA_BUCKET: 'b', SAMSA_TABLE: 't' }), DYNAMODB_TRAITS);
    expect(opts.inlineMaxBytes).toBe(2560);
    expect(typeof opts.itemInlineMaxBytes === 'function' && opts.itemInlineMaxBytes({ days: 8, deleted: false })).toBe(8192);
  });
});

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'inl');
  const r = seeded(11);
  const json4k = (): Uint8Array => jsonEvent(r, 4096);

  async function world(extra: object = {}, metaRules: Parameters<typeof faultyMetaStore>[1] = []) {
    const s = await setup();
    const meta = faultyMetaStore(s.meta, metaRules);
    const objects = faultyObjectStore(s.objects);
    const e = closing(new LogEngine(meta, objects, undefined, { itemCommits: true, headOnlyCommits: true, ...AWS_THRESHOLDS, flush: { stepBytes: 1 << 20, indexIntervalBytes: 4096 }, ...extra }));
    const objectPuts = () => objects.faults.log.filter((l) => l.call.method === 'put').length;
    const values = async (name: string) => (await e.fetch(name, 0, { offset: 0, maxRecords: 100, maxBytes: 1 << 20 })).records().map((x) => Buffer.from(x.value!));
    return { s, meta, objects, e, objectPuts, values };
  }

  it('a 4 KiB JSON record commits inline, deflated (no object written), and reads back byte for byte before and after flush', async () => {
    const { s, e, objectPuts, values } = await world();
    await e.createTopic(s.name, 1);
    const topic = await e.topics.get(s.name);
    const sent = [json4k(), json4k()];
    deflated.sizes.length = 0;
    for (const value of sent) await e.produce(s.name, [{ value }]);
    expect(objectPuts()).toBe(0);
    const stored = (await commitItems(s.meta, topic.id)).filter((i) => i['fence'] === undefined);
    expect(stored).toHaveLength(2);
    for (const item of stored) {
      expect(item[COMMIT_DEFLATED_ATTR]).toBeInstanceOf(Uint8Array);
      expect(item['obj']).toBeUndefined();
      expect(itemSize(item)).toBeLessThanOrEqual(8192);
      // Fewer write units than the 4 KiB record raw (5 at least), more than one.
      expect(Math.ceil(itemSize(item) / 1024)).toBeLessThanOrEqual(3);
    }
    // Deflated once per commit: the bytes that were sized are the bytes stored.
    expect(deflated.sizes.filter((n) => n > 4096)).toHaveLength(2);
    expect(await values(s.name)).toEqual(sent.map((v) => Buffer.from(v)));
    await e.flushPartition(topic, 0);
    expect((await e.head(topic, 0)).flushed).toBe(2);
    expect(await values(s.name)).toEqual(sent.map((v) => Buffer.from(v)));
    expect((await s.objects.list('wal/')).objects).toHaveLength(0);
  });

  it('a JSON batch that deflates under the limit goes inline up to the deflate bound; one over the bound is written ahead without being deflated', async () => {
    const { s, e, objectPuts, values } = await world();
    await e.createTopic(s.name, 1);
    // 24 KiB of JSON deflates to ~6 KB: inline (3x the limit raw, under the bound).
    const big = jsonEvent(r, 24 * 1024);
    await e.produce(s.name, [{ value: big }]);
    expect(objectPuts()).toBe(0);
    // A repeated byte would deflate to almost nothing, but over the bound it is not deflated
    // to find out: written ahead, as the raw size says.
    const over = new Uint8Array(8192 * ITEM_DEFLATE_MAX_RATIO + 1024).fill(7);
    deflated.sizes.length = 0;
    await e.produce(s.name, [{ value: over }]);
    expect(deflated.sizes.filter((n) => n >= over.length)).toEqual([]);
    expect(objectPuts()).toBe(1);
    const [, second] = await commitItems(s.meta, (await e.topics.get(s.name)).id);
    expect(typeof second!['obj']).toBe('string');
    expect(await values(s.name)).toEqual([Buffer.from(big), Buffer.from(over)]);
  });

  // The price says a 4 KiB item (5 write units, $3.1 per million) is cheaper than an object
  // PUT ($6.05 with its item and GET): incompressible bytes go inline up to 8 KB of item too.
  it('incompressible records are stored as they are: a 4 KiB one inline (5 write units), an 8 KiB one written ahead (one object, a one-unit item); both read back before and after flush', async () => {
    const { s, e, objectPuts, values } = await world();
    await e.createTopic(s.name, 1);
    const topic = await e.topics.get(s.name);
    const small = randomValue(r, 4096);
    await e.produce(s.name, [{ value: small }]);
    expect(objectPuts()).toBe(0);
    const large = randomValue(r, 8192);
    await e.produce(s.name, [{ value: large }]);
    expect(objectPuts()).toBe(1);
    const [inline, ahead] = await commitItems(s.meta, topic.id);
    expect(inline![COMMIT_DEFLATED_ATTR]).toBeUndefined();
    expect(inline!['data']).toBeInstanceOf(Uint8Array);
    expect(Math.ceil(itemSize(inline!) / 1024)).toBe(5);
    expect(typeof ahead!['obj']).toBe('string');
    expect(ahead![COMMIT_DEFLATED_ATTR]).toBeUndefined();
    expect(Math.ceil(itemSize(ahead!) / 1024)).toBe(1);
    const both = [Buffer.from(small), Buffer.from(large)];
    expect(await values(s.name)).toEqual(both);
    await e.flushPartition(topic, 0);
    expect(await values(s.name)).toEqual(both);
  });

  it('head-mode topics keep the 2,560-byte rule on the raw batch', async () => {
    const { s, e, objectPuts, values } = await world({ itemCommits: false });
    const topic = await e.createTopic(s.name, 1);
    expect(topic.commit).toBeUndefined();
    const json = json4k();
    await e.produce(s.name, [{ value: json }]); // deflates to ~1.4 KB, but head mode does not deflate
    expect(objectPuts()).toBe(1);
    const small = randomValue(r, 2400);
    await e.produce(s.name, [{ value: small }]);
    expect(objectPuts()).toBe(1);
    expect(await values(s.name)).toEqual([Buffer.from(json), Buffer.from(small)]);
  });

  it('a throttled inline put falls back to write-ahead: same key, same commit id, a one-unit item', async () => {
    const inlinePut = (c: CallOf<MetaStore>) => isItemPut(c) && putItem(c)!['obj'] === undefined;
    const { s, meta, e, objectPuts, values } = await world({}, [{ method: 'write', when: inlinePut, times: Infinity, action: { kind: 'fail', error: dynamoThrottle() } }]);
    await e.createTopic(s.name, 1);
    const topic = await e.topics.get(s.name);
    const value = json4k();
    const [o] = await e.produce(s.name, [{ value }]);
    expect(o!.offset).toBe(0);
    expect(objectPuts()).toBe(1);
    const puts = meta.faults.log.filter((l) => isItemPut(l.call)).map((l) => putItem(l.call)!);
    expect(puts.map((p) => [p.sk, typeof p['obj']])).toEqual([
      [puts[0]!.sk, 'undefined'],
      [puts[0]!.sk, 'string'],
    ]);
    expect(puts[1]!['cid']).toBe(puts[0]!['cid']);
    expect(Math.ceil(itemSize(puts[1]!) / 1024)).toBe(1);
    expect(await values(s.name)).toEqual([Buffer.from(value)]);
    meta.faults.clear();
    expect((await e.produce(s.name, [{ value }]))[0]!.offset).toBe(1);
    await e.flushPartition(topic, 0);
    expect(await values(s.name)).toEqual([Buffer.from(value), Buffer.from(value)]);
  });

  it('a commit throttled to the end is a retriable THROTTLING (429), with nothing written', async () => {
    const { s, e, values } = await world({}, [{ method: 'write', when: isItemPut, times: Infinity, action: { kind: 'fail', error: dynamoThrottle() } }]);
    await e.createTopic(s.name, 1);
    const err = await e.produce(s.name, [{ value: json4k() }]).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(SamsaError);
    expect(err).toMatchObject({ code: 'THROTTLING', status: 429, retriable: true });
    expect((await e.head(await e.topics.get(s.name), 0)).nextOffset).toBe(0);
    expect(await values(s.name)).toEqual([]);
  });

  it('through HTTP, a produce throttled to the end answers 429 THROTTLING (retriable), not a 5xx', async () => {
    const { s, e } = await world({}, [{ method: 'write', when: isItemPut, times: Infinity, action: { kind: 'fail', error: dynamoThrottle() } }]);
    await e.createTopic(s.name, 1);
    const app = createApp({ engine: e, logger: silentLogger });
    const res = await app.request(`/v1/topics/${s.name}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'x' }] }) });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error_code: 'THROTTLING' });
  });

  it('the limit never passes the store\'s item size limit', async () => {
    const s = await setup();
    const small = new Proxy(s.meta, { get: (t, p) => (p === 'limits' ? { ...t.limits, maxItemBytes: 2048 } : bound(t, p)) });
    const e = closing(new LogEngine(small, s.objects, undefined, { itemCommits: true, headOnlyCommits: true, ...AWS_THRESHOLDS }));
    await e.createTopic(s.name, 1);
    const value = randomValue(r, 3000);
    await e.produce(s.name, [{ value }]);
    expect((await s.objects.list('wal/')).objects).toHaveLength(1);
    expect((await e.fetch(s.name, 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20 })).records().map((x) => Buffer.from(x.value!))).toEqual([Buffer.from(value)]);
  });

  it('a timed-out inline put that lands late, while the throttled commit has fallen back, is found by its id: one commit, acknowledged', async () => {
    const s0 = await setup();
    let late: (() => Promise<unknown>) | undefined;
    let n = 0;
    // First item put: times out, not applied yet (it lands later). Second: throttled. Third
    // (the write-ahead fallback at the same key): the first lands just before it.
    const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
      if (op.type === 'put' && op.item.sk.startsWith(COMMIT_ITEM_PREFIX)) {
        n++;
        if (n === 1) {
          late = () => s0.meta.write(op);
          throw new StorageError('DynamoDB PutItem failed: TimeoutError', true);
        }
        if (n === 2) throw dynamoThrottle();
        if (n === 3) await late!();
      }
      return s0.meta.write(op);
    };
    const meta: MetaStore = new Proxy(s0.meta, { get: (t, p) => (p === 'write' ? write : bound(t, p)) });
    const e = closing(new LogEngine(meta, s0.objects, undefined, { itemCommits: true, headOnlyCommits: true, ...AWS_THRESHOLDS }));
    await e.createTopic(s0.name, 1);
    const topic = await e.topics.get(s0.name);
    const value = json4k();
    expect((await e.produce(s0.name, [{ value }]))[0]!.offset).toBe(0);
    expect(n).toBe(3);
    const stored = await commitItems(s0.meta, topic.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]![COMMIT_DEFLATED_ATTR]).toBeInstanceOf(Uint8Array); // the late inline write won the key
    expect((await e.produce(s0.name, [{ value }]))[0]!.offset).toBe(1);
    const got = (await e.fetch(s0.name, 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20 })).records();
    expect(got.map((x) => [x.offset, Buffer.from(x.value!)])).toEqual([
      [0, Buffer.from(value)],
      [1, Buffer.from(value)],
    ]);
    // The fallback's object is referenced by nothing: an orphan for the sweep.
    const wal = (await s0.objects.list(walObject(topic.id, 0, ''))).objects;
    expect(wal).toHaveLength(1);
  });

  it('a commit that lost the race for its base deflates its bytes again at the new base: the item stored carries the offsets it is read at', async () => {
    // The batch's bytes carry their base offset, and the committer deflates once per base to
    // size the item; a cached deflate of the lost base would store offsets one commit behind.
    const s0 = await setup();
    const a = closing(new LogEngine(s0.meta, s0.objects, undefined, { itemCommits: true, headOnlyCommits: true, ...AWS_THRESHOLDS }));
    const b = closing(new LogEngine(s0.meta, s0.objects, undefined, { itemCommits: true, headOnlyCommits: true, ...AWS_THRESHOLDS }));
    await a.createTopic(s0.name, 1);
    const first = json4k();
    expect((await a.produce(s0.name, [{ value: first }]))[0]!.offset).toBe(0); // a caches the end: 1
    const other = json4k();
    expect((await b.produce(s0.name, [{ value: other }]))[0]!.offset).toBe(1);
    const mine = json4k();
    deflated.sizes.length = 0;
    expect((await a.produce(s0.name, [{ value: mine }]))[0]!.offset).toBe(2); // put at 1 lost, then at 2
    expect(deflated.sizes.filter((n) => n > 4096)).toHaveLength(2);
    const topic = await a.topics.get(s0.name);
    const items = await commitItems(s0.meta, topic.id);
    expect(items.map((i) => i[COMMIT_DEFLATED_ATTR] instanceof Uint8Array)).toEqual([true, true, true]);
    const read = async (e: LogEngine) => (await e.fetch(s0.name, 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20 })).records().map((x) => [x.offset, Buffer.from(x.value!)]);
    const want = [first, other, mine].map((v, i) => [i, Buffer.from(v)]);
    expect(await read(b)).toEqual(want);
    await a.flushPartition(topic, 0);
    expect(await read(b)).toEqual(want);
  });

  it('a commit throttled to the end after a put that timed out is not a 429: that put may still land, so the answer is a retriable 5xx', async () => {
    const s0 = await setup();
    let late: (() => Promise<unknown>) | undefined;
    let n = 0;
    // First item put: times out, not applied yet (it lands after the answer). Every later one:
    // throttled, to the end of the commit's retries.
    const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
      if (op.type === 'put' && op.item.sk.startsWith(COMMIT_ITEM_PREFIX) && ++n > 0) {
        if (n === 1) {
          late = () => s0.meta.write(op);
          throw new StorageError('DynamoDB PutItem failed: TimeoutError', true);
        }
        throw dynamoThrottle();
      }
      return s0.meta.write(op);
    };
    const meta: MetaStore = new Proxy(s0.meta, { get: (t, p) => (p === 'write' ? write : bound(t, p)) });
    const e = closing(new LogEngine(meta, s0.objects, undefined, { itemCommits: true, headOnlyCommits: true, ...AWS_THRESHOLDS }));
    await e.createTopic(s0.name, 1);
    const app = createApp({ engine: e, logger: silentLogger });
    const res = await app.request(`/v1/topics/${s0.name}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'x' }] }) });
    expect(n).toBeGreaterThan(2);
    // 429 would promise that nothing was written; the timed-out put then lands.
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error_code: 'UNKNOWN_SERVER_ERROR' });
    await late!();
    const got = (await e.fetch(s0.name, 0, { offset: 0, maxRecords: 10, maxBytes: 1 << 20 })).records();
    expect(got.map((x) => Buffer.from(x.value!).toString())).toEqual(['"x"']);
  });
}

describe('items-mode inline threshold on SQLite', () => scenario(() => localStores('samsa-inline-')));
describeAws('items-mode inline threshold on S3 + DynamoDB (emulator)', () => scenario(awsStores));
