// A consumer catching up reads below the partition's `flushed`, where every offset is in a
// segment: its fetches need no commit-page queries (in items mode those pages are garbage kept
// until their TTL, and were two or three billed queries of every fetch). The reader remembers the
// highest `flushed` a head read showed, per topic incarnation (lib/log/reader.ts, queryExtents).
// What a user sees must not change: the same records, contiguous, across the flushed boundary,
// while a flush moves it, and after the topic is deleted and created again under the same name.
import { describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { COMMIT_ITEM_PREFIX, EXTENT_PREFIX, SEG_EXTENT_PREFIX } from '../../../lib/log/keys';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { ManualClock } from '../../../lib/util/clock';
import { faultyMetaStore } from '../../../lib/storage/faults';
import type { QueryOptions } from '../../../lib/storage/ports';
import { describeAws } from '../../helpers/aws';
import { partitionRecords } from '../../helpers/log';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const value = (i: number): string => `record-${i}-${'x'.repeat(600)}`;

/**
 * Does a query read commit pages from an offset (items mode `c#<offset>`, head mode
 * `x#<offset>`)? The head's own query for the last commit item (from the bare prefix) is not one.
 */
const readsCommitPages = (q: QueryOptions): boolean =>
  [q.gte, q.gt, q.lte].some((k) => typeof k === 'string' && ((k.startsWith(COMMIT_ITEM_PREFIX) && k !== COMMIT_ITEM_PREFIX) || (k.startsWith(EXTENT_PREFIX) && k !== EXTENT_PREFIX)));

function scenario(stores: () => Promise<TestStores>, mode: 'items' | 'head'): void {
  const { setup, closing } = freshStoresEachTest(stores, 'catchup');
  const opts = { itemCommits: mode === 'items', headOnlyCommits: true, inlineMaxBytes: 512 };

  async function produce(e: LogEngine, name: string, from: number, n: number): Promise<void> {
    // Ten records a request: a chain of many extents, as a producer's requests leave it.
    for (let i = from; i < from + n; i += 10) {
      await e.produce(
        name,
        Array.from({ length: Math.min(10, from + n - i) }, (_, k) => ({ value: enc(value(i + k)) })),
      );
    }
  }
  const flush = async (e: LogEngine, name: string): Promise<void> => void (await e.flushPartition(await e.topics.get(name), 0));
  const expectAll = async (e: LogEngine, name: string, n: number): Promise<void> =>
    expect(await partitionRecords(e, name, 0)).toEqual(Array.from({ length: n }, (_, i) => ({ offset: i, value: value(i) })));

  it(`${mode} mode: fetches below the flushed offset query no commit pages, and read the same records`, async () => {
    const s = await setup();
    const fm = faultyMetaStore(s.meta);
    const e = closing(new LogEngine(fm, s.objects, undefined, opts));
    await e.createTopic(s.name, 1);
    await produce(e, s.name, 0, 200);
    await flush(e, s.name);
    await produce(e, s.name, 200, 40); // unflushed: the tail a catching-up consumer ends in
    const flushed = (await e.head(await e.topics.get(s.name), 0)).flushed;
    expect(flushed).toBe(200);

    // A consumer from the start, about 8 KiB a fetch (a dozen records), as a client pages.
    const before = fm.faults.log.length;
    const seen: number[] = [];
    let offset = 0;
    const commitQueriesBelowFlushed: number[] = [];
    for (;;) {
      const mark = fm.faults.log.length;
      const r = await e.fetch(s.name, 0, { offset, maxBytes: 8 * 1024, maxRecords: 10_000 });
      const recs = r.records();
      const queries = fm.faults.log.slice(mark).filter((l) => l.call.method === 'query' && readsCommitPages(l.call.args[0] as QueryOptions));
      // The first fetch learns `flushed` from its head; every later one below it skips the pages.
      if (offset > 0 && recs.length > 0 && recs[recs.length - 1]!.offset < flushed) commitQueriesBelowFlushed.push(queries.length);
      for (const rec of recs) seen.push(rec.offset);
      if (recs.length === 0 || r.nextOffset >= r.highWatermark) break;
      offset = r.nextOffset;
    }
    expect(seen).toEqual(Array.from({ length: 240 }, (_, i) => i));
    expect(commitQueriesBelowFlushed.length).toBeGreaterThan(5);
    expect(commitQueriesBelowFlushed.every((n) => n === 0)).toBe(true);
    expect(fm.faults.log.length).toBeGreaterThan(before);

    // One fetch across the boundary: the segment chain ends at `flushed`, the walk goes on into
    // the commits in the same fetch.
    const across = await e.fetch(s.name, 0, { offset: 195, maxBytes: 1 << 20, maxRecords: 10_000 });
    expect(across.records().map((r) => r.offset)).toEqual(Array.from({ length: 45 }, (_, i) => 195 + i));
    await expectAll(e, s.name, 240);
  });

  it(`${mode} mode: a reader that remembers an older flushed offset reads on while another process flushes`, async () => {
    const s = await setup();
    const reader = closing(new LogEngine(s.meta, s.objects, undefined, opts));
    const other = closing(new LogEngine(s.meta, s.objects, undefined, opts));
    await reader.createTopic(s.name, 1);
    await produce(other, s.name, 0, 100);
    await flush(other, s.name);
    await expectAll(reader, s.name, 100); // remembers flushed = 100
    await produce(other, s.name, 100, 100);
    const mid = await reader.fetch(s.name, 0, { offset: 150, maxBytes: 4096, maxRecords: 10_000 });
    await flush(other, s.name); // the commits the reader was reading are now segments
    const after = await reader.fetch(s.name, 0, { offset: mid.nextOffset, maxBytes: 4096, maxRecords: 10_000 });
    expect(after.records()[0]!.offset).toBe(mid.nextOffset);
    await expectAll(reader, s.name, 200);
  });

  it(`${mode} mode: a topic deleted and created again under its name is not read with the old incarnation's flushed offset`, async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const fm = faultyMetaStore(s.meta);
    const e = closing(new LogEngine(fm, s.objects, clock, opts));
    await e.createTopic(s.name, 1);
    await produce(e, s.name, 0, 100);
    await flush(e, s.name);
    await expectAll(e, s.name, 100); // remembers flushed = 100 for the first incarnation
    await e.deleteTopic(s.name);
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    await e.createTopic(s.name, 1);
    await produce(e, s.name, 0, 30); // nothing flushed: every record is in commit pages
    const mark = fm.faults.log.length;
    const r = await e.fetch(s.name, 0, { offset: 10, maxBytes: 1 << 20, maxRecords: 10_000 });
    expect(r.records().map((x) => x.offset)).toEqual(Array.from({ length: 20 }, (_, i) => 10 + i));
    // In one round of extent queries: an old incarnation's offset would skip the commit pages,
    // find no chain, and only a second round (from the fresh head) would find the records.
    const segQueries = fm.faults.log.slice(mark).filter((l) => l.call.method === 'query' && String((l.call.args[0] as QueryOptions).gte ?? (l.call.args[0] as QueryOptions).gt).startsWith(SEG_EXTENT_PREFIX));
    expect(segQueries).toHaveLength(2);
    await expectAll(e, s.name, 30);
  });
}

describe('catch-up reads on SQLite + local files', () => {
  scenario(() => localStores('samsa-catchup-'), 'items');
  scenario(() => localStores('samsa-catchup-'), 'head');
});
describeAws('catch-up reads on S3 + DynamoDB (emulator)', () => {
  scenario(awsStores, 'items');
  scenario(awsStores, 'head');
});

// A fetch whose first batch is larger than its max_bytes returns that batch whole (as Kafka
// does). The bytes it read up to max_bytes are that batch's head, size included: it reads only
// the rest. It read the head again (a second GET for 61 bytes) and then the whole batch (a
// third GET, the head's bytes a second time).
describe('a first batch larger than max_bytes', () => {
  it('is read in two object reads, each of its bytes once', async () => {
    const s = await localStores('samsa-bigbatch-');
    const e = new LogEngine(s.meta, s.objects);
    try {
      await e.createTopic('big', 1);
      const big = new Uint8Array(200 * 1024).fill(9);
      await e.produce('big', [{ value: big, partition: 0 }]);
      await e.produce('big', [{ value: enc('after'), partition: 0 }]);
      await e.flushPartition(await e.topics.get('big'), 0);
      const reads: number[] = [];
      const get = s.objects.get.bind(s.objects);
      s.objects.get = async (key, range) => {
        const bytes = await get(key, range);
        if (key.endsWith('.log')) reads.push(bytes.length);
        return bytes;
      };
      const r = await e.fetch('big', 0, { offset: 0, maxBytes: 1024 });
      const records = r.records();
      expect(records.map((x) => x.offset)).toEqual([0]);
      expect(Buffer.from(records[0]!.value!).equals(Buffer.from(big))).toBe(true);
      expect(reads.length, JSON.stringify(reads)).toBe(2);
      expect(reads[0]).toBe(1024);
      expect(reads[0]! + reads[1]!).toBe(r.runs.reduce((a, x) => a + x.bytes.length, 0));
    } finally {
      await e.close();
      await s.cleanup();
    }
  });
});
