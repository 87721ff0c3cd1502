// The item codecs of lib/log/items.ts invert: every domain value written as an item reads back
// equal, in memory and through real MetaStores (SQLite, DynamoDB on the emulator), and a head update written with
// headUpdate changes exactly the fields it names.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { SamsaError } from '../../../lib/errors';
import {
  COMMIT_DEFLATED_ATTR,
  commitItemFromItem,
  commitItemToItem,
  commitPageToItem,
  deletionMarkerFromItem,
  legacyDeletionMarkerToItem,
  topicDeletionToItem,
  EMPTY_HEAD,
  extentsFromItem,
  headFromItem,
  headToItem,
  headUpdate,
  producerFromItem,
  producersFromValue,
  producersToValue,
  producerToItem,
  retentionCursorFromItem,
  retentionCursorToItem,
  segExtentToItem,
  segmentFromItem,
  segmentToItem,
  sweepCursorFromItem,
  sweepCursorToItem,
  topicFromItem,
  topicItemFromItem,
  topicToItem,
} from '../../../lib/log/items';
import { headKey } from '../../../lib/log/keys';
import type { Extent, Head, Segment } from '../../../lib/log/model';
import type { PartitionProducers, ProducerState } from '../../../lib/log/producers';
import { DEFAULT_TOPIC_CONFIG } from '../../../lib/log/topic-config';
import type { Topic } from '../../../lib/log/topics';
import type { MetaItem } from '../../../lib/storage/ports';
import { describeAws } from '../../helpers/aws';
import { awsStores, localStores, type TestStores } from '../../helpers/stores';

const describeStore = (kind: string): ((name: string, fn: () => void) => void) => (kind === 'SQLite' ? describe : describeAws);

const off = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const small = fc.integer({ min: 0, max: 1_000_000 });
const name = fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/);

const extent = (sk: string): fc.Arbitrary<Extent> =>
  fc
    .record({
      base: off,
      last: off,
      kind: fc.constantFrom('inline', 'wal', 'seg') as fc.Arbitrary<Extent['kind']>,
      pos: small,
      len: small,
      wb: off,
      maxTs: fc.integer({ min: -1, max: 2 ** 45 }),
      data: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
      obj: fc.option(name, { nil: undefined }),
      seg: fc.option(off, { nil: undefined }),
      cid: fc.option(off, { nil: undefined }),
      producer: fc.option(fc.record({ stream: fc.constantFrom('7', '7j', '123456'), epoch: small, firstSeq: small, lastSeq: small, now: off }), { nil: undefined }),
    })
    .map((e) => {
      const out: Extent = { sk, base: e.base, last: e.last, kind: e.kind, pos: e.pos, len: e.len, wb: e.wb, maxTs: e.maxTs };
      if (e.data) out.data = e.data;
      if (e.obj !== undefined) out.obj = e.obj;
      if (e.seg !== undefined) out.seg = e.seg;
      if (e.cid !== undefined) out.cid = e.cid;
      if (e.producer) out.producer = { ...e.producer, lastSeq: e.producer.firstSeq + e.producer.lastSeq };
      return out;
    });

const producers: fc.Arbitrary<PartitionProducers> = fc.dictionary(
  fc.stringMatching(/^[0-9]{1,6}j?$/),
  fc.record({
    epoch: fc.integer({ min: 0, max: 32767 }),
    touched: off,
    batches: fc.array(
      fc.record({ firstSeq: small, n: small, base: off, count: small }).map((b) => ({ firstSeq: b.firstSeq, lastSeq: b.firstSeq + b.n, base: b.base, last: b.base + b.count })),
      { minLength: 1, maxLength: 5 },
    ),
  }),
  { maxKeys: 4 },
);

const head: fc.Arbitrary<Head> = fc
  .record({
    nextOffset: off,
    logStart: off,
    flushed: off,
    leaderEpoch: small,
    tails: fc.option(fc.array(extent('head'), { maxLength: 4 }), { nil: undefined }),
    producers,
    recent: fc.option(fc.array(off, { maxLength: 16 }), { nil: undefined }),
    lease: fc.record({ owner: fc.string(), rvn: fc.option(fc.uuid(), { nil: undefined }), until: fc.option(off, { nil: undefined }) }),
    retention: fc.option(fc.record({ upto: off, bytes: off, segs: small }), { nil: undefined }),
  })
  .map((h) => {
    const out: Head = { exists: true, nextOffset: h.nextOffset, logStart: h.logStart, flushed: h.flushed, leaderEpoch: h.leaderEpoch, producers: h.producers, lease: { owner: h.lease.owner } };
    if (h.tails) out.tails = h.tails;
    if (h.recent) out.recent = h.recent;
    if (h.lease.rvn !== undefined) out.lease.rvn = h.lease.rvn;
    if (h.lease.until !== undefined) out.lease.until = h.lease.until;
    if (h.retention) out.retention = h.retention;
    return out;
  });

const segment: fc.Arbitrary<Segment> = fc.record({
  base: off,
  last: off,
  size: small,
  indexSize: small,
  timeIndexSize: small,
  maxTs: fc.integer({ min: -1, max: 2 ** 45 }),
  maxTsOffset: fc.integer({ min: -1, max: 2 ** 45 }),
  sinceIndex: small,
  timeIndexTs: fc.integer({ min: -1, max: 2 ** 45 }),
  createdAt: off,
  closed: fc.boolean(),
  etags: fc.record({ log: fc.stringMatching(/^[0-9a-f"]{0,34}$/), index: fc.stringMatching(/^[0-9a-f"]{0,34}$/), timeindex: fc.stringMatching(/^[0-9a-f"]{0,34}$/) }, { requiredKeys: [] }),
});

const topic: fc.Arbitrary<Topic> = fc.record({
  name,
  partitions: fc.integer({ min: 1, max: 10_000 }),
  config: fc.record({ 'retention.ms': fc.integer({ min: -1, max: 2 ** 40 }), 'retention.bytes': fc.integer({ min: -1, max: 2 ** 40 }) }).map((c) => ({ ...DEFAULT_TOPIC_CONFIG, ...c })),
  id: fc.uuid(),
  createdAt: off,
  version: small,
});

const producerState: fc.Arbitrary<ProducerState> = fc
  .record({ id: off, epoch: fc.integer({ min: 0, max: 32767 }), version: small, seqs: fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 5 }) })
  .chain((s) =>
    fc.tuple(...s.seqs.map((slot) => fc.record({ sequence: fc.integer({ min: 0, max: 1000 }).map((k) => k * 5 + slot), topicId: fc.uuid(), records: small, now: off, sticky: fc.option(small, { nil: undefined }) }))).map((claims) => ({
      id: s.id,
      epoch: s.epoch,
      version: s.version,
      claims: claims.map((c) => {
        const { sticky, ...rest } = c;
        return sticky === undefined ? rest : { ...rest, sticky };
      }),
    })),
  );

/** What an update does to a stored item (DynamoDB's UpdateItem: set, then remove). */
function applyUpdate(item: MetaItem, u: { set: Record<string, unknown>; remove?: string[] }): MetaItem {
  const out = { ...item, ...u.set } as MetaItem;
  for (const a of u.remove ?? []) delete out[a];
  return out;
}

describe('item codecs invert (in memory)', () => {
  it('the head, with its lease, retention summary, producers and tails', () => {
    fc.assert(fc.property(head, (h) => {
        expect(headFromItem(headToItem('t', 0, h))).toEqual(h);
      }));
  });

  it('a head update changes exactly the fields it names, removing those given as undefined', () => {
    const patch = fc.record(
      { nextOffset: off, flushed: off, tails: fc.option(fc.array(extent('head'), { maxLength: 3 }), { nil: undefined }), lease: fc.record({ owner: fc.string() }), retention: fc.record({ upto: off, bytes: off, segs: small }) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(head, patch, (h, p) => {
        const after = headFromItem(applyUpdate(headToItem('t', 0, h), headUpdate(p)));
        const want: Head = { ...h, ...p };
        if ('tails' in p && p.tails === undefined) delete want.tails;
        expect(after).toEqual(want);
      }),
    );
  });

  it('a head written before an attribute existed reads it as its zero', () => {
    expect(headFromItem({ ...headKey('t', 0) })).toEqual({ ...EMPTY_HEAD, exists: true });
    expect(headFromItem(undefined)).toBe(EMPTY_HEAD);
  });

  it('commit pages and segment extents', () => {
    fc.assert(
      fc.property(fc.array(extent('x'), { minLength: 1, maxLength: 5 }), (exts) => {
        const page = commitPageToItem('t', 3, exts);
        expect(extentsFromItem(page)).toEqual(exts.map((e) => ({ ...e, sk: page.sk })));
      }),
    );
    fc.assert(
      fc.property(extent('x'), (e) => {
        const item = segExtentToItem('t', 3, e);
        expect(extentsFromItem(item)).toEqual([{ ...e, sk: item.sk }]);
      }),
    );
  });

  it('commit items: inline bytes that deflate well are stored deflated and read back byte for byte; others as they are', () => {
    const json = (i: number): string => JSON.stringify({ id: `evt-${i}`, type: 'page_view', path: `/products/${i * 7919}`, user: { id: `u-${i * 31}`, agent: 'Mozilla/5.0 (X11; Linux x86_64)' } });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 8, max: 40 }), off, (seed, n, base) => {
        const data = new TextEncoder().encode(Array.from({ length: n }, (_, i) => json(seed + i)).join('\n'));
        const e: Omit<Extent, 'sk'> = { base, last: base, kind: 'inline', data, pos: 0, len: data.length, wb: base, maxTs: 0, cid: 7 };
        const item = commitItemToItem('t', 0, e, { ttl: 1 });
        expect(item['data']).toBeUndefined();
        expect((item[COMMIT_DEFLATED_ATTR] as Uint8Array).length).toBeLessThan(data.length / 2);
        const back = commitItemFromItem(item);
        expect(back.kind === 'commit' && back.extent).toEqual({ ...e, sk: item.sk });
      }),
    );
    // Random bytes (an already-compressed batch) and tiny records keep their raw bytes: no inflate on every read.
    for (const data of [new Uint8Array(randomBytes(1100)), new TextEncoder().encode('tiny record, tiny record')]) {
      const item = commitItemToItem('t', 0, { base: 0, last: 0, kind: 'inline', data, pos: 0, len: data.length, wb: 0, maxTs: 0 }, {});
      expect(item[COMMIT_DEFLATED_ATTR]).toBeUndefined();
      expect(item['data']).toEqual(data);
    }
  });

  it('a commit item whose deflated bytes are damaged, or inflate to another length than it records, is refused loudly', () => {
    const data = new TextEncoder().encode('x'.repeat(1000));
    const item = commitItemToItem('t', 0, { base: 0, last: 0, kind: 'inline', data, pos: 0, len: data.length, wb: 0, maxTs: 0 }, {});
    const z = item[COMMIT_DEFLATED_ATTR] as Uint8Array;
    const garbage = { ...item, [COMMIT_DEFLATED_ATTR]: new Uint8Array([0xff, 0xff, 0xff, ...z]) };
    expect(() => commitItemFromItem(garbage)).toThrow(SamsaError);
    expect(() => commitItemFromItem(garbage)).toThrow(/do not inflate/);
    // Longer than recorded: inflating stops at `len` rather than running on (a bound, not a trust).
    expect(() => commitItemFromItem({ ...item, len: 999 })).toThrow(/inflate/);
    expect(() => commitItemFromItem({ ...item, len: 1001 })).toThrow(/inflate to 1000 bytes, not the 1001/);
  });

  it('segments, topics, deletion markers, producers and cursors', () => {
    fc.assert(fc.property(segment, (s) => {
        expect(segmentFromItem(segmentToItem('t', 0, s))).toEqual(s);
      }));
    fc.assert(fc.property(topic, (t) => {
        expect(topicFromItem(topicToItem(t))).toEqual(t);
      }));
    fc.assert(
      fc.property(topic, off, (t, at) => {
        const item = { ...topicToItem(t), state: 'deleting', deleted_at: at };
        expect(topicItemFromItem(item)).toEqual({ topic: t, deleting: true, deletedAt: at });
      }),
    );
    fc.assert(
      fc.property(name, fc.uuid(), fc.integer({ min: 1, max: 10_000 }), off, fc.boolean(), (n, id, p, at, items) => {
        const m = { name: n, topicId: id, partitions: p, ...(items ? { commit: 'items' as const } : {}) };
        // By incarnation id (this build's), with its deletion time; by name (builds before it).
        expect(deletionMarkerFromItem(topicDeletionToItem({ ...m, deletedAt: at }))).toEqual({ ...m, deletedAt: at });
        expect(deletionMarkerFromItem(legacyDeletionMarkerToItem(m))).toEqual(m);
      }),
    );
    fc.assert(fc.property(producers, (p) => {
        expect(producersFromValue(producersToValue(p))).toEqual(p);
      }));
    fc.assert(
      fc.property(producerState, (s) => {
        const back = producerFromItem(producerToItem(s, 5), 5);
        expect({ ...back, claims: [...back.claims].sort((a, b) => a.sequence - b.sequence) }).toEqual({ ...s, claims: [...s.claims].sort((a, b) => a.sequence - b.sequence), claimSeq: -1 });
      }),
    );
    fc.assert(
      fc.property(name, small, (t, p) => {
        expect(retentionCursorFromItem(retentionCursorToItem({ pk: 'r', sk: 'c' }, { topic: t, partition: p }))).toEqual({ topic: t, partition: p });
      }),
    );
    fc.assert(fc.property(fc.dictionary(fc.constantFrom('wal/', 'topics/'), fc.string()), (c) => {
        expect(sweepCursorFromItem(sweepCursorToItem({ pk: 's', sk: 'c' }, c))).toEqual(c);
      }));
  });
});

for (const [kind, open] of [
  ['SQLite', () => localStores('samsa-items-')],
  ['DynamoDB (emulator)', awsStores],
] as const) {
  describeStore(kind)(`item codecs invert through a real MetaStore: ${kind}`, () => {
    let stores: TestStores;
    beforeAll(async () => {
      stores = await open();
    });
    afterAll(() => stores.cleanup());

    it('heads and head updates as the store keeps them', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(head, fc.record({ flushed: off, lease: fc.record({ owner: fc.string() }) }, { requiredKeys: [] }), async (h, p) => {
          const key = headKey(`t${n++}`, 0);
          await stores.meta.write({ type: 'put', item: { ...headToItem('x', 0, h), ...key } });
          expect(headFromItem(await stores.meta.get(key))).toEqual(h);
          await stores.meta.write({ type: 'update', key, ...headUpdate(p) });
          expect(headFromItem(await stores.meta.get(key))).toEqual({ ...h, ...p });
        }),
        { numRuns: 60 },
      );
    });

    it('segments and commit pages as the store keeps them', async () => {
      await fc.assert(
        fc.asyncProperty(segment, fc.array(extent('x'), { minLength: 1, maxLength: 4 }), async (s, exts) => {
          const item = segmentToItem('t', 0, s);
          await stores.meta.write({ type: 'put', item });
          expect(segmentFromItem((await stores.meta.get(item))!)).toEqual(s);
          const page = commitPageToItem('t', 0, exts);
          await stores.meta.write({ type: 'put', item: page });
          expect(extentsFromItem((await stores.meta.get(page))!)).toEqual(exts.map((e) => ({ ...e, sk: page.sk })));
        }),
        { numRuns: 40 },
      );
    });
  });
}
