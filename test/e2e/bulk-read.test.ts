// Bulk reads past the API (issue 15): the segments route hands out byte ranges of sealed
// segment objects with a URL each — a presigned S3 GET on AWS (the emulator here), a route of
// the server in embedded mode. What those URLs return must decode with KafkaJS into exactly the
// records of the log, in order, continuing where the previous answer stopped, and never
// anything below the log start.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/http/app';
import { LogEngine } from '../../lib/log/engine';
import { DEFAULT_RETENTION_OPTIONS } from '../../lib/log/retention';
import { codecsReady, splitBatches } from '../../lib/records';
import { describeAws } from '../helpers/aws';
import { awsStores, localStores, type TestStores } from '../helpers/stores';
import { kafkajsDecode } from '../unit/records/kafkajs';

type Stores = TestStores;

interface SegmentsAnswer {
  segments: Array<{ base_offset: number; last_offset: number; bytes: number; url: string; range: string }>;
  next_offset: number;
  log_start_offset: number;
  high_watermark: number;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function suite(open: () => Promise<Stores>, presigned: boolean): void {
  let s: Stores;
  let engine: LogEngine;
  let app: ReturnType<typeof createApp>;
  beforeEach(async () => {
    await codecsReady();
    s = await open();
    engine = new LogEngine(s.meta, s.objects, undefined, { inlineMaxBytes: 256, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } });
    app = createApp({ engine, logger: { ...(await import('../../lib/obs/logger')).silentLogger } });
  });
  afterEach(async () => {
    await engine.close();
    await s.cleanup();
  });

  async function get(url: string, range: string): Promise<Uint8Array> {
    // A presigned URL goes to the object store itself; the embedded URL to this app.
    const res = presigned ? await fetch(url, { headers: { range } }) : await app.request(url, { headers: { range } });
    expect(res.status).toBe(206);
    return new Uint8Array(await res.arrayBuffer());
  }

  async function segments(query: string): Promise<{ status: number; body: SegmentsAnswer }> {
    const res = await app.request(`http://samsa.test/v1/topics/bulk/partitions/0/segments?${query}`);
    return { status: res.status, body: (await res.json()) as SegmentsAnswer };
  }

  /** Records [offset, value] read through bulk URLs from `from`, following next_offset until no sealed segment is left. */
  async function readBulk(from: number, maxBytes: number): Promise<{ records: Array<[number, string]>; next: number; calls: number }> {
    const records: Array<[number, string]> = [];
    let next = from;
    let calls = 0;
    for (;;) {
      const { status, body } = await segments(`offset=${next}&max_bytes=${maxBytes}`);
      expect(status).toBe(200);
      calls++;
      if (body.segments.length === 0) return { records, next: body.next_offset, calls };
      for (const seg of body.segments) {
        const bytes = await get(seg.url, seg.range);
        expect(bytes.length).toBe(seg.bytes);
        const slices = splitBatches(bytes); // whole batches, CRCs valid
        expect(slices[0]!.header.baseOffset).toBe(seg.base_offset);
        for (const sl of slices) {
          const batch = await kafkajsDecode(bytes.subarray(sl.start, sl.end));
          for (const r of batch.records) {
            const o = Number(r.offset);
            if (o >= next) records.push([o, r.value!.toString()]);
          }
        }
        const lastInBytes = slices[slices.length - 1]!.header.baseOffset + slices[slices.length - 1]!.header.lastOffsetDelta;
        expect(lastInBytes).toBe(seg.last_offset);
      }
      next = body.next_offset;
    }
  }

  it('serves sealed segments as byte ranges that decode into exactly the log, in order, then hands over to fetch', async () => {
    await engine.createTopic('bulk', 1, { 'segment.bytes': 4096 });
    const N = 600;
    for (let i = 0; i < N; i += 5) {
      await engine.produce('bulk', Array.from({ length: 5 }, (_, j) => ({ value: enc(`v-${i + j}-${'x'.repeat((i + j) % 50)}`), partition: 0 })));
    }
    await engine.flushAll();

    const sealed = (await engine.reader.segments(await engine.topics.get('bulk'), 0)).filter((x) => x.closed);
    expect(sealed.length).toBeGreaterThan(3);
    const want = (await engine.fetch('bulk', 0, { offset: 0, maxRecords: 10_000, maxBytes: 64 * 1024 * 1024 })).records().map((r) => [r.offset, new TextDecoder().decode(r.value!)] as [number, string]);
    expect(want).toHaveLength(N);

    // Small budgets: many answers, each range whole batches, continuing exactly.
    for (const [from, maxBytes] of [[0, 1500], [37, 700], [0, 1 << 30]] as const) {
      const got = await readBulk(from, maxBytes);
      expect(got.next).toBe(sealed[sealed.length - 1]!.last + 1);
      expect(got.records).toEqual(want.filter(([o]) => o >= from && o < got.next));
      if (maxBytes < 2000) expect(got.calls).toBeGreaterThan(3);
    }

    if (presigned) {
      const { body } = await segments('offset=0&max_bytes=1000000');
      const u = new URL(body.segments[0]!.url);
      expect(u.pathname).toMatch(new RegExp(`/topics/bulk/${(await engine.topics.get('bulk')).id}/0/0{20}\\.log$`));
      expect(u.searchParams.get('X-Amz-Expires')).toBe('300');
      // The signature covers the Range header: the URL grants these bytes, not the object.
      expect(u.searchParams.get('X-Amz-SignedHeaders')!.split(';')).toContain('range');
    }
  });

  it('never serves records below the log start', async () => {
    await engine.createTopic('bulk', 1, { 'segment.bytes': 4096, 'retention.bytes': 8192 });
    for (let i = 0; i < 300; i += 5) {
      await engine.produce('bulk', Array.from({ length: 5 }, (_, j) => ({ value: enc(`v-${i + j}-${'y'.repeat(40)}`), partition: 0 })));
    }
    await engine.flushAll();
    await engine.retention.runOnce();
    const head = await engine.head(await engine.topics.get('bulk'), 0);
    expect(head.logStart).toBeGreaterThan(0);

    const below = await segments(`offset=${head.logStart - 1}`);
    expect(below.status).toBe(416);
    expect(below.body).toMatchObject({ error_code: 'OFFSET_OUT_OF_RANGE', log_start_offset: head.logStart });
    const got = await readBulk(head.logStart, 1 << 30);
    expect(got.records.length).toBeGreaterThan(0);
    expect(got.records[0]![0]).toBe(head.logStart);
    expect(got.records.every(([o]) => o >= head.logStart)).toBe(true);
    // The default starts at the log start too.
    const dflt = await segments('');
    expect(dflt.body.segments[0]!.base_offset).toBe(head.logStart);
  });

  it('a URL handed out before its topic was deleted and created again never serves the new topic’s bytes', async () => {
    const fill = async (tag: string): Promise<void> => {
      for (let i = 0; i < 200; i += 5) {
        await engine.produce('bulk', Array.from({ length: 5 }, (_, j) => ({ value: enc(`${tag}-${i + j}-${'w'.repeat(40)}`), partition: 0 })));
      }
      await engine.flushAll();
    };
    await engine.createTopic('bulk', 1, { 'segment.bytes': 4096 });
    await fill('old');
    const before = await segments('offset=0');
    expect(before.body.segments.length).toBeGreaterThan(0);
    const old = before.body.segments[0]!;

    // Deleted, its data removed (no grace), and created again with records at the same offsets.
    await engine.deleteTopic('bulk');
    const cleaner = new LogEngine(s.meta, s.objects, undefined, { retention: { ...DEFAULT_RETENTION_OPTIONS, deletionGraceMs: 0 } });
    try {
      expect((await cleaner.retention.runOnce()).deletedTopics).toBe(1);
    } finally {
      await cleaner.close();
    }
    await engine.createTopic('bulk', 1, { 'segment.bytes': 4096 });
    await fill('new');
    const now = (await segments('offset=0')).body.segments[0]!;
    expect([now.base_offset, now.range]).toEqual([old.base_offset, old.range]);
    expect(now.url).not.toBe(old.url);

    // The old URL: gone, not the new records at those offsets (a presigned URL lives 300 s).
    const res = presigned ? await fetch(old.url, { headers: { range: old.range } }) : await app.request(old.url, { headers: { range: old.range } });
    expect(res.status).toBe(404);
    expect(Buffer.from(await res.arrayBuffer()).includes('new-0-')).toBe(false);
    expect(Buffer.from(await get(now.url, now.range)).includes('new-0-')).toBe(true);
  });
}

describe('bulk reads, embedded (files + SQLite)', () => {
  suite(() => localStores('samsa-bulk-'), false);

  it('the embedded segment route refuses a missing or out-of-segment Range', async () => {
    const { meta, objects, cleanup } = await localStores('samsa-bulk-');
    const engine = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 256, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } });
    const app = createApp({ engine, logger: (await import('../../lib/obs/logger')).silentLogger });
    try {
      await engine.createTopic('bulk', 1, { 'segment.bytes': 4096 });
      for (let i = 0; i < 100; i++) await engine.produce('bulk', [{ value: enc(`v-${i}-${'z'.repeat(60)}`), partition: 0 }]);
      await engine.flushAll();
      const seg = (await engine.reader.segments(await engine.topics.get('bulk'), 0))[0]!;
      const url = `/v1/topics/bulk/partitions/0/segments/${seg.base}/log`;
      expect((await app.request(url)).status).toBe(400);
      expect((await app.request(url, { headers: { range: `bytes=0-${seg.size}` } })).status).toBe(416);
      expect((await app.request('/v1/topics/bulk/partitions/0/segments/999999/log', { headers: { range: 'bytes=0-10' } })).status).toBe(416);
      expect((await app.request(url, { headers: { range: `bytes=0-${seg.size - 1}` } })).status).toBe(206);
    } finally {
      await engine.close();
      await cleanup();
    }
  });

  // Two processes on one data directory (a server and the Kafka listener's, a job runner): one
  // deletes the topic and creates it again, the other still has the old incarnation in its topic
  // cache (TOPIC_CACHE_MS). A URL for the new incarnation, handed out by the first, is refused
  // by the second only if the topic_id check trusts that cache; the read routes ask again.
  it('a URL for the current incarnation is served by a server whose topic cache still holds the deleted one', async () => {
    const { meta, objects, cleanup } = await localStores('samsa-bulk-');
    // This server's clock stands still once frozen: its cached topic stays "fresh" as long as
    // the test needs, where a real one is up to a second (TOPIC_CACHE_MS) behind the other.
    let frozen: number | undefined;
    const clock = { now: () => frozen ?? Date.now(), monotonic: () => performance.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) };
    const opts = { inlineMaxBytes: 256, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } };
    const stale = new LogEngine(meta, objects, clock, opts);
    const other = new LogEngine(meta, objects, undefined, opts);
    const silent = (await import('../../lib/obs/logger')).silentLogger;
    const staleApp = createApp({ engine: stale, logger: silent });
    const otherApp = createApp({ engine: other, logger: silent });
    const fill = async (engine: LogEngine, tag: string): Promise<void> => {
      for (let i = 0; i < 100; i += 5) await engine.produce('bulk', Array.from({ length: 5 }, (_, j) => ({ value: enc(`${tag}-${i + j}-${'q'.repeat(40)}`), partition: 0 })));
      await engine.flushAll();
    };
    try {
      await stale.createTopic('bulk', 1, { 'segment.bytes': 4096 });
      await fill(stale, 'old');
      expect((await staleApp.request('/v1/topics/bulk/partitions/0/segments?offset=0')).status).toBe(200);
      frozen = Date.now();

      await other.deleteTopic('bulk');
      await other.createTopic('bulk', 1, { 'segment.bytes': 4096 });
      await fill(other, 'new');
      const answer = (await (await otherApp.request('http://samsa.test/v1/topics/bulk/partitions/0/segments?offset=0')).json()) as SegmentsAnswer;
      const seg = answer.segments[0]!;
      expect(new URL(seg.url).searchParams.get('topic_id')).toBe((await other.topics.get('bulk')).id);

      const res = await staleApp.request(seg.url, { headers: { range: seg.range } });
      const body = Buffer.from(await res.arrayBuffer());
      expect({ status: res.status, error: res.status === 206 ? undefined : body.toString() }).toEqual({ status: 206, error: undefined });
      expect(body.includes('new-0-')).toBe(true);
    } finally {
      await stale.close();
      await other.close();
      await cleanup();
    }
  });
});

describeAws('bulk reads, S3 + DynamoDB (emulator): presigned URLs', () => {
  suite(awsStores, true);
});
