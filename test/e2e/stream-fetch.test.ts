// Binary fetches that stream (issue 15 item 2), over real HTTP on the Node server (@hono/node-server
// in front of the real app and engine on embedded storage). The oracle is the buffered route:
// the same app with a runtime that cannot stream answers from `LogReader.fetch` as before, so
// every streamed response is compared byte for byte, headers included, on a multi-segment log
// with an unflushed tail (inline and write-ahead extents). Memory is measured at the object
// store: bytes read from it and not yet handed to the HTTP server. Failures after the headers
// are injected with the fault wrappers of lib/storage/faults.ts.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../lib/client';
import { fetchPartition } from '../../lib/client/fetch';
import { StorageError } from '../../lib/errors';
import { createApp } from '../../lib/http/app';
import { lambdaLimits, nodeLimits, type RuntimeLimits } from '../../lib/http/limits';
import { LogEngine } from '../../lib/log/engine';
import { STREAM_CHUNK } from '../../lib/log/reader';
import { silentLogger } from '../../lib/obs/logger';
import { codecsReady, encodeRecordBatch, splitBatches } from '../../lib/records';
import { faultyObjectStore, Gate } from '../../lib/storage/faults';
import type { ObjectStore } from '../../lib/storage/ports';
import { describeAws } from '../helpers/aws';
import { awsStores, localStores, type TestStores } from '../helpers/stores';

const MiB = 1024 * 1024;
const BATCH_TYPE = 'application/vnd.kafka.record-batch';
const TOPIC = 'big';

/** Counts what the object store hands out: every get's size, and the running total. */
class ReadMeter {
  total = 0;
  largest = 0;
  reset(): void {
    this.total = 0;
    this.largest = 0;
  }
  wrap(inner: ObjectStore): ObjectStore {
    return Object.assign(Object.create(inner) as ObjectStore, {
      get: async (...args: Parameters<ObjectStore['get']>) => {
        const bytes = await inner.get(...args);
        this.total += bytes.length;
        this.largest = Math.max(this.largest, bytes.length);
        return bytes;
      },
    });
  }
}

let stores: TestStores;
let faulty: ReturnType<typeof faultyObjectStore>;
const meter = new ReadMeter();
let engine: LogEngine;
const servers: ServerType[] = [];
/** Bytes of response body the app has handed to the HTTP server, per server (reset per test). */
const handed = new Map<string, { bytes: number; peakAhead: number }>();
const urls: Record<string, string> = {};
/** Every record value produced, by offset. */
const produced: Buffer[] = [];
let largestBatch = 0;

async function listen(name: string, limits: RuntimeLimits): Promise<void> {
  const app = createApp({ engine, logger: silentLogger, limits });
  const count = { bytes: 0, peakAhead: 0 };
  handed.set(name, count);
  const server: ServerType = await new Promise((resolve) => {
    const s = serve(
      {
        fetch: async (req) => {
          const res = await app.fetch(req);
          if (!res.body) return res;
          // What the app has given the server so far: store reads beyond it are held in memory.
          const counted = res.body.pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, ctl) {
                count.peakAhead = Math.max(count.peakAhead, meter.total - count.bytes);
                count.bytes += chunk.length;
                ctl.enqueue(chunk);
              },
            }),
          );
          return new Response(counted, { status: res.status, headers: res.headers });
        },
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s),
    );
  });
  servers.push(server);
  urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A deterministic stream of numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function produceSome(bytes: number, random: () => number, into: { engine: LogEngine; values: Buffer[]; topic?: string } = { engine, values: produced }): Promise<void> {
  let done = 0;
  while (done < bytes) {
    const group: Uint8Array[] = [];
    let groupBytes = 0;
    while (groupBytes < 2 * MiB && done + groupBytes < bytes) {
      // Mostly small batches, now and then one larger than a stream chunk.
      const big = random() < 0.03;
      const n = big ? 1 : 1 + Math.floor(random() * 12);
      const values = Array.from({ length: n }, () => randomBytes(big ? Math.floor(STREAM_CHUNK * (0.6 + random())) : 50 + Math.floor(random() * 6000)));
      const batch = encodeRecordBatch(values.map((value) => ({ key: null, value, headers: [] })));
      largestBatch = Math.max(largestBatch, batch.length);
      into.values.push(...values);
      group.push(batch);
      groupBytes += batch.length;
    }
    await into.engine.produceBatches(into.topic ?? TOPIC, 0, Buffer.concat(group), { owned: true });
    done += groupBytes;
  }
}

beforeAll(async () => {
  await codecsReady();
  stores = await localStores('samsa-stream-');
  faulty = faultyObjectStore(meter.wrap(stores.objects));
  // Small inline extents and a dense .index: the tail has inline and write-ahead extents, and
  // plans jump through many index entries.
  engine = new LogEngine(stores.meta, faulty, undefined, { inlineMaxBytes: 4096, flush: { stepBytes: 8 * MiB, indexIntervalBytes: 4096 } });
  await engine.createTopic(TOPIC, 1, { 'segment.bytes': String(3 * MiB), 'max.message.bytes': String(4 * MiB) });
  const random = rng(15);
  await produceSome(24 * MiB, random, { engine, values: produced });
  await engine.flushAll();
  // An unflushed tail after the segments.
  await produceSome(3 * MiB, random, { engine, values: produced });
  const streamedLambda = lambdaLimits('function-url-streaming', { maxRequestBytes: 64 * MiB, maxJsonRequestBytes: 6 * MiB }, 70_000);
  await listen('node', nodeLimits(64 * MiB, 6 * MiB));
  // The oracle: the same runtime, answered buffered (the route's code from before streaming).
  await listen('node-buffered', { ...nodeLimits(64 * MiB, 6 * MiB), streaming: false });
  await listen('lambda', streamedLambda);
  await listen('lambda-buffered', { ...streamedLambda, streaming: false });
  // A response bound near the batch sizes: cuts land between extents and inside large batches.
  await listen('tight', { ...streamedLambda, maxBinaryResponseBytes: 1_300_000 });
  await listen('tight-buffered', { ...streamedLambda, maxBinaryResponseBytes: 1_300_000, streaming: false });
}, 300_000);

afterAll(async () => {
  for (const s of servers) {
    (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
  await engine?.close();
  await stores?.cleanup();
});

interface Got {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

async function get(server: string, query: string): Promise<Got> {
  const res = await fetch(`${urls[server]}/v1/topics/${TOPIC}/partitions/0/records?${query}`, { headers: { accept: BATCH_TYPE } });
  const body = Buffer.from(await res.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const h of ['x-high-watermark', 'x-log-start-offset', 'x-next-offset', 'x-samsa-clamped', 'content-type']) {
    const v = res.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  return { status: res.status, headers, body };
}

describe('a streamed binary fetch answers what the buffered one did', () => {
  it('byte for byte, headers included, across segments, the index, the tail and the clamp', async () => {
    const hw = produced.length;
    const segments = await engine.reader.segments(await engine.topics.partition(TOPIC, 0), 0);
    expect(segments.length).toBeGreaterThan(5);
    const random = rng(7);
    const offsets = new Set<number>([0, 1, hw - 1, hw, ...segments.flatMap((s) => [s.base, s.last, s.last + 1]).filter((o) => o <= hw)]);
    while (offsets.size < 60) offsets.add(Math.floor(random() * hw));
    const sizes = [1, 700, 64 * 1024, MiB, 3 * MiB + 17, 64 * MiB];
    let compared = 0;
    for (const offset of offsets) {
      for (const maxBytes of sizes) {
        if (random() < 0.5 && maxBytes !== 64 * MiB && offset !== 0) continue; // keep the run short
        const q = `offset=${offset}&max_bytes=${maxBytes}`;
        for (const [streamed, buffered] of [['node', 'node-buffered'], ['lambda', 'lambda-buffered'], ['tight', 'tight-buffered']] as const) {
          const [a, b] = await Promise.all([get(streamed, q), get(buffered, q)]);
          expect({ q, streamed, status: a.status, headers: a.headers }).toEqual({ q, streamed, status: b.status, headers: b.headers });
          expect(a.body.equals(b.body), `${streamed} ${q}: ${a.body.length} vs ${b.body.length} bytes`).toBe(true);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
    // The whole log in one response: more than the streamed Lambda carries, so it is clamped.
    const all = await get('lambda', `offset=0&max_bytes=${64 * MiB}`);
    expect(all.headers['x-samsa-clamped']).toMatch(/runtime=function-url-streaming/);
    expect(all.body.length).toBeLessThanOrEqual(lambdaLimits('function-url-streaming', { maxRequestBytes: MiB, maxJsonRequestBytes: MiB }, 70_000).maxBinaryResponseBytes!);
    const unclamped = await get('node', `offset=0&max_bytes=${64 * MiB}`);
    expect(unclamped.headers['x-next-offset']).toBe(String(hw));
    expect(unclamped.headers['x-samsa-clamped']).toBeUndefined();
    expect(splitBatches(new Uint8Array(unclamped.body)).reduce((n, b) => n + b.header.recordCount, 0)).toBe(hw);
  }, 300_000);

  it('holds about a chunk at a time: a 27 MB response never has more than a few MiB read ahead of what was sent', async () => {
    meter.reset();
    const count = handed.get('node')!;
    count.bytes = 0;
    count.peakAhead = 0;
    // A slow client: the server must wait for it rather than read on.
    const res = await fetch(`${urls.node}/v1/topics/${TOPIC}/partitions/0/records?offset=0&max_bytes=${64 * MiB}`, { headers: { accept: BATCH_TYPE } });
    const reader = res.body!.getReader();
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.length;
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(received).toBeGreaterThan(26 * MiB);
    // Store reads of at most a chunk, or of one batch larger than a chunk...
    expect(meter.largest).toBeLessThanOrEqual(Math.max(STREAM_CHUNK, largestBatch));
    // ...and never far ahead of what the server has sent (buffered, this was the whole body).
    expect(count.peakAhead).toBeLessThan(4 * MiB);
    expect(received).toBe(Number(res.headers.get('content-length')));
  }, 120_000);

  it('the client reads every record exactly once through it, continuing from x-next-offset', async () => {
    const http = new HttpClient({ url: urls.node! });
    let offset = 0;
    const seen: number[] = [];
    while (offset < produced.length) {
      const r = await fetchPartition(http, TOPIC, 0, offset, { maxBytes: 2 * MiB + 333 });
      for (const m of r.messages) {
        expect(m.value!.equals(produced[m.offset]!)).toBe(true);
        seen.push(m.offset);
      }
      expect(r.nextOffset).toBeGreaterThan(offset);
      offset = r.nextOffset;
    }
    expect(seen).toEqual(produced.map((_, i) => i));
  }, 120_000);

  it('a streamed fetch at the high watermark long-polls, then streams what was produced meanwhile', async () => {
    await engine.createTopic('waiting', 1, { 'max.message.bytes': String(4 * MiB) });
    const first = encodeRecordBatch([{ key: null, value: randomBytes(1000), headers: [] }]);
    await engine.produceBatches('waiting', 0, first, { owned: true });
    const pending = fetch(`${urls.node}/v1/topics/waiting/partitions/0/records?offset=1&max_bytes=${8 * MiB}&wait_ms=10000`, { headers: { accept: BATCH_TYPE } });
    await new Promise((r) => setTimeout(r, 300));
    const later = encodeRecordBatch([{ key: null, value: randomBytes(2 * MiB), headers: [] }]);
    await engine.produceBatches('waiting', 0, later, { owned: true });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-next-offset')).toBe('2');
    const body = Buffer.from(await res.arrayBuffer());
    expect(splitBatches(new Uint8Array(body)).map((b) => [Number(b.header.baseOffset), b.header.recordCount])).toEqual([[1, 1]]);
    expect(body.length).toBe(later.length);
  }, 30_000);
});

/**
 * The reader alone, for budgets of any size (the HTTP route streams only fetches above a chunk):
 * a plan streamed in small chunks (windows that cut batches, batches larger than a window) is
 * the runs `fetch` reads, and the plan's next offset is theirs.
 */
async function planMatchesFetch(eng: LogEngine, hw: number, seed: number, samples: number): Promise<number> {
  const topic = await eng.topics.partition(TOPIC, 0);
  const random = rng(seed);
  const segments = await eng.reader.segments(topic, 0);
  const offsets = new Set<number>([0, hw - 1, ...segments.flatMap((s) => [s.base, s.last]).filter((o) => o < hw)]);
  while (offsets.size < samples) offsets.add(Math.floor(random() * hw));
  let compared = 0;
  for (const offset of offsets) {
    for (const maxBytes of [1, 100, 5000, 70_000, 2 * MiB + 5]) {
      const r = await eng.reader.fetch(topic, 0, { offset, maxBytes });
      const plan = await eng.reader.planFetch(topic, 0, { offset, maxBytes });
      const parts: Uint8Array[] = [];
      for await (const chunk of eng.reader.streamPlan(plan, 50_000)) parts.push(chunk);
      expect({ offset, maxBytes, next: plan.nextBatchOffset, hw: plan.highWatermark }).toEqual({ offset, maxBytes, next: r.nextBatchOffset, hw: r.highWatermark });
      const want = Buffer.concat(r.runs.map((x) => x.bytes));
      expect(Buffer.concat(parts).equals(want), `offset ${offset} max_bytes ${maxBytes}`).toBe(true);
      expect(plan.bytes).toBe(want.length);
      compared++;
    }
  }
  return compared;
}

describe('the reader: a plan streamed is what fetch reads', () => {
  it('embedded storage: files and SQLite', async () => {
    expect(await planMatchesFetch(engine, produced.length, 3, 40)).toBeGreaterThan(150);
  }, 120_000);

  describeAws('on the emulator: S3 ranged GETs and DynamoDB extents', () => {
    it('the same, on a smaller log', async () => {
      const aws = await awsStores();
      const eng = new LogEngine(aws.meta, aws.objects, undefined, { inlineMaxBytes: 4096, flush: { stepBytes: 2 * MiB, indexIntervalBytes: 4096 } });
      try {
        await eng.createTopic(TOPIC, 1, { 'segment.bytes': String(MiB), 'max.message.bytes': String(4 * MiB) });
        const values: Buffer[] = [];
        const random = rng(99);
        await produceSome(5 * MiB, random, { engine: eng, values });
        await eng.flushAll();
        await produceSome(MiB, random, { engine: eng, values });
        expect(await planMatchesFetch(eng, values.length, 5, 12)).toBeGreaterThan(50);
      } finally {
        await eng.close();
        await aws.cleanup();
      }
    }, 240_000);
  });
});

describe('a failure after the headers breaks the response', () => {
  const isLog = (key: string): boolean => key.endsWith('.log');

  it('a storage failure mid-stream: the body ends short of content-length with a network error, and the client retries into a whole answer', async () => {
    faulty.faults.clear();
    faulty.faults.add({ method: 'get', when: (c) => c.method === 'get' && isLog(c.args[0]), nth: 3, action: { kind: 'fail', error: new StorageError('injected: S3 is down') } });
    const res = await fetch(`${urls.node}/v1/topics/${TOPIC}/partitions/0/records?offset=0&max_bytes=${8 * MiB}`, { headers: { accept: BATCH_TYPE } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-next-offset')).toMatch(/^\d+$/);
    const length = Number(res.headers.get('content-length'));
    expect(length).toBeGreaterThan(7 * MiB);
    let received = 0;
    const reader = res.body!.getReader();
    const broken = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return false;
          received += value.length;
        }
      } catch {
        return true;
      }
    })();
    expect(broken).toBe(true);
    expect(received).toBeLessThan(length);
    expect(faulty.faults.fired(0)).toBe(1);

    // The client sees a connection failure (retriable), not a short answer: it asks again.
    faulty.faults.clear();
    faulty.faults.add({ method: 'get', when: (c) => c.method === 'get' && isLog(c.args[0]), nth: 3, action: { kind: 'fail', error: new StorageError('injected: S3 is down') } });
    const http = new HttpClient({ url: urls.node!, retry: { retries: 3, initialRetryTime: 1 } });
    const r = await fetchPartition(http, TOPIC, 0, 0, { maxBytes: 8 * MiB });
    expect(faulty.faults.fired(0)).toBe(1);
    const whole = await get('node-buffered', `offset=0&max_bytes=${8 * MiB}`);
    expect(r.nextOffset).toBe(Number(whole.headers['x-next-offset']));
    expect(r.messages.map((m) => m.offset)).toEqual(Array.from({ length: r.nextOffset }, (_, i) => i));
    faulty.faults.clear();
  }, 60_000);

  it('retention deletes the segments being sent: the response is cut, and the retry is 416', async () => {
    faulty.faults.clear();
    await engine.createTopic('kept', 1, { 'segment.bytes': String(MiB), 'retention.bytes': String(2 * MiB), 'max.message.bytes': String(4 * MiB) });
    const values: Buffer[] = [];
    const random = rng(21);
    await produceSome(6 * MiB, random, { engine, values, topic: 'kept' });
    // This topic only: the write-ahead test below needs the other one's tail unflushed.
    await engine.flushPartition(await engine.topics.partition('kept', 0), 0);
    // The second segment read of the body waits while a retention pass deletes the oldest segments.
    const gate = new Gate();
    faulty.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0].startsWith('topics/kept/') && isLog(c.args[0]), nth: 2, action: { kind: 'hang', gate } });
    const res = await fetch(`${urls.node}/v1/topics/kept/partitions/0/records?offset=0&max_bytes=${4 * MiB}`, { headers: { accept: BATCH_TYPE } });
    expect(res.status).toBe(200);
    const body = res.arrayBuffer();
    body.catch(() => undefined);
    await gate.reached;
    faulty.faults.clear();
    expect((await engine.retention.runOnce()).deletedSegments).toBeGreaterThan(0);
    gate.release();
    await expect(body).rejects.toThrow();
    const again = await fetch(`${urls.node}/v1/topics/kept/partitions/0/records?offset=0&max_bytes=${4 * MiB}`, { headers: { accept: BATCH_TYPE } });
    expect(again.status).toBe(416);
    expect(await again.json()).toMatchObject({ error_code: 'OFFSET_OUT_OF_RANGE' });
  }, 60_000);

  it('a segment object that cannot be found at all: the response is cut, not completed short', async () => {
    faulty.faults.clear();
    const { ObjectNotFoundError } = await import('../../lib/errors');
    // From the 2nd read of a .log on, every one finds nothing (re-reads through the extents too).
    faulty.faults.add({ method: 'get', when: (c) => c.method === 'get' && isLog(c.args[0]), nth: 2, times: Infinity, action: { kind: 'fail', error: new ObjectNotFoundError('gone.log') } });
    const res = await fetch(`${urls.node}/v1/topics/${TOPIC}/partitions/0/records?offset=0&max_bytes=${4 * MiB}`, { headers: { accept: BATCH_TYPE } });
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    faulty.faults.clear();
  }, 60_000);

  it('a write-ahead object a flush moved into a segment mid-stream: the stream reads on from the segment, bytes unchanged', async () => {
    faulty.faults.clear();
    const partitionHead = async () => engine.reader.head(await engine.topics.partition(TOPIC, 0), 0);
    const head = await partitionHead();
    const from = head.flushed; // the unflushed tail
    const q = `offset=${from}&max_bytes=${64 * MiB}`;
    const before = await get('node-buffered', q);
    expect(before.body.length).toBeGreaterThan(2 * MiB);
    const gate = new Gate();
    // The first write-ahead read of the body waits while a flush moves the tail into segments
    // and deletes the write-ahead objects.
    faulty.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0].startsWith('wal/'), action: { kind: 'hang', gate } });
    const pending = get('node', q);
    await gate.reached;
    faulty.faults.clear();
    await engine.flushAll();
    expect((await partitionHead()).flushed).toBe(head.nextOffset);
    gate.release();
    const after = await pending;
    expect(after.headers).toEqual(before.headers);
    expect(after.body.equals(before.body)).toBe(true);
  }, 60_000);
});
