// Runtime-aware limits (issue 15): the wiring tells the app what its front carries, and the app
// answers what the platform would otherwise refuse with its own error page. Against the real
// app and engine on embedded storage: bodies over the runtime's limit are 413 RECORD_TOO_LARGE
// naming the limit before anything is written, fetches are clamped to what the response can
// carry (header, and a field in JSON), always returning at least one whole batch, and a live
// tail is refused where responses cannot stream and ends inside the invocation's time left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/http/app';
import { mountGroupRoutes } from '../../lib/http/groups';
import { jsonResultBytes, lambdaLimits, type RuntimeLimits } from '../../lib/http/limits';
import { LogEngine } from '../../lib/log/engine';
import { silentLogger } from '../../lib/obs/logger';
import { codecsReady, encodeRecordBatch, splitBatches } from '../../lib/records';
import { localStores, type TestStores } from '../helpers/stores';

const MiB = 1024 * 1024;
const BATCH_TYPE = 'application/vnd.kafka.record-batch';
const configured = { maxRequestBytes: 64 * MiB, maxJsonRequestBytes: 6 * MiB };
const buffered = lambdaLimits('function-url-buffered', configured, 70_000);
const streamed = lambdaLimits('function-url-streaming', configured, 70_000);

let s: TestStores;
let engine: LogEngine;
const apps = new Map<string, ReturnType<typeof createApp>>();
const app = (limits?: RuntimeLimits, extra: Partial<Parameters<typeof createApp>[0]> = {}) => createApp({ engine, logger: silentLogger, ...(limits ? { limits } : {}), ...extra });

/** A batch of one record whose value is `bytes` long (incompressible enough: no compression). */
const batch = (bytes: number, fill = 7): Uint8Array => encodeRecordBatch([{ key: null, value: new Uint8Array(bytes).fill(fill), headers: [] }]);

beforeAll(async () => {
  await codecsReady();
  s = await localStores();
  engine = new LogEngine(s.meta, s.objects);
  for (const [name, limits] of [['buffered', buffered], ['streamed', streamed], ['node', undefined]] as const) apps.set(name, app(limits));
  await engine.createTopic('big', 1, { 'max.message.bytes': String(2 * MiB) });
  await engine.createTopic('small', 1);
  // 14 batches of ~600 KiB: ~8.4 MB in all, more than a buffered response can carry.
  for (let i = 0; i < 14; i++) await engine.produceBatches('big', 0, batch(600 * 1024, i), { owned: true });
  for (let i = 0; i < 40; i++) await engine.produce('small', [{ key: null, value: new TextEncoder().encode(JSON.stringify({ i, pad: 'x'.repeat(200) })), headers: [], partition: 0 }]);
}, 120_000);
afterAll(async () => {
  await engine?.close();
  await s?.cleanup();
});

describe('request bodies over the runtime limit', () => {
  it('buffered Function URL: a 5 MB binary produce is 413 RECORD_TOO_LARGE with the limit, and nothing is written', async () => {
    // Base64 in a 6 MB event leaves about 4.4 MB of raw batch bytes.
    expect(buffered.maxRequestBytes).toBeGreaterThan(4.3 * 1000 * 1000);
    expect(buffered.maxRequestBytes).toBeLessThan(4.7 * 1000 * 1000);
    const body = new Uint8Array(5 * 1000 * 1000);
    const res = await apps.get('buffered')!.request('/v1/topics/small/partitions/0/records', { method: 'POST', headers: { 'content-type': BATCH_TYPE, 'content-length': String(body.length) }, body });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error_code: 'RECORD_TOO_LARGE', max_request_bytes: buffered.maxRequestBytes, runtime: 'function-url-buffered', message: expect.stringContaining('function-url-buffered') });
    expect((await engine.listOffsets('small', 0, 'latest')).offset).toBe(40);
  });

  it('without a Content-Length the bytes are counted as they are read', async () => {
    const chunk = new Uint8Array(MiB);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= 6) return c.close();
        sent++;
        c.enqueue(chunk);
      },
    });
    const res = await apps.get('buffered')!.request('/v1/topics/small/partitions/0/records', { method: 'POST', headers: { 'content-type': BATCH_TYPE }, body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error_code: string }).error_code).toBe('RECORD_TOO_LARGE');
  });

  it('the same body is accepted where the runtime carries it (Node server)', async () => {
    const one = batch(1500 * 1024);
    // 1.5 MB is over small's default max.message.bytes (1 MiB): the body limit passed, the topic's refused it.
    const res = await apps.get('node')!.request('/v1/topics/small/partitions/0/records', { method: 'POST', headers: { 'content-type': BATCH_TYPE }, body: one });
    expect(res.status).toBe(413);
    expect(await res.json()).not.toHaveProperty('max_request_bytes');
  });

  it('a JSON body over the buffered JSON limit is 413 with max_json_request_bytes', async () => {
    const body = JSON.stringify({ records: [{ value: 'y'.repeat(buffered.maxJsonRequestBytes) }] });
    const res = await apps.get('buffered')!.request('/v1/topics/small/records', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error_code: 'RECORD_TOO_LARGE', max_json_request_bytes: buffered.maxJsonRequestBytes });
  });
});

describe('fetches clamped to what the response carries', () => {
  const fetchBinary = (name: string, query: string) => apps.get(name)!.request(`/v1/topics/big/partitions/0/records?${query}`, { headers: { accept: BATCH_TYPE } });

  it('buffered: asking for 64 MiB returns at most the buffered response limit, whole batches, and says it was clamped', async () => {
    const res = await fetchBinary('buffered', `offset=0&max_bytes=${64 * MiB}`);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.length).toBeLessThanOrEqual(buffered.maxBinaryResponseBytes!);
    expect(res.headers.get('x-samsa-clamped')).toBe(`max_bytes=${buffered.maxBinaryResponseBytes}; runtime=function-url-buffered`);
    const batches = splitBatches(bytes);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.length).toBeLessThan(14);
    expect(Number(res.headers.get('x-next-offset'))).toBe(batches.length);
    // Base64 of the body still fits Lambda's 6 MB result.
    expect(Math.ceil(bytes.length / 3) * 4).toBeLessThan(6 * MiB);
  });

  it("streamed: clamped at Lambda's uncapped 6 MB burst (past it AWS streams at 2 MB/s), and the next fetch continues where it stopped", async () => {
    const res = await fetchBinary('streamed', `offset=0&max_bytes=${64 * MiB}`);
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.length).toBeLessThanOrEqual(6 * MiB);
    expect(res.headers.get('x-samsa-clamped')).toBe(`max_bytes=${streamed.maxBinaryResponseBytes}; runtime=function-url-streaming`);
    const first = splitBatches(bytes);
    // Raw bytes, not base64: more batches per response than buffered, fewer than all 14.
    expect(first.length).toBeGreaterThan(7);
    expect(first.length).toBeLessThan(14);
    expect(Number(res.headers.get('x-next-offset'))).toBe(first.length);
    const rest = await fetchBinary('streamed', `offset=${first.length}&max_bytes=${64 * MiB}`);
    expect(rest.headers.get('x-samsa-clamped')).toBeNull();
    expect(first.length + splitBatches(new Uint8Array(await rest.arrayBuffer())).length).toBe(14);
    expect(rest.headers.get('x-next-offset')).toBe('14');
  });

  it('the Node server never clamps: the same request gets all 14 batches (8.4 MB)', async () => {
    const res = await fetchBinary('node', `offset=0&max_bytes=${64 * MiB}`);
    expect(res.headers.get('x-samsa-clamped')).toBeNull();
    expect(splitBatches(new Uint8Array(await res.arrayBuffer())).length).toBe(14);
    expect(res.headers.get('x-next-offset')).toBe('14');
  });

  it('a request within the limit is not clamped', async () => {
    const res = await fetchBinary('buffered', `offset=0&max_bytes=${MiB}`);
    expect(res.headers.get('x-samsa-clamped')).toBeNull();
  });

  it("a first batch larger than the response limit is still returned whole (Kafka's rule) where the response can hold it", async () => {
    const tiny: RuntimeLimits = { ...streamed, maxBinaryResponseBytes: 100 * 1024 };
    const res = await app(tiny).request(`/v1/topics/big/partitions/0/records?offset=3&max_bytes=${MiB}`, { headers: { accept: BATCH_TYPE } });
    const batches = splitBatches(new Uint8Array(await res.arrayBuffer()));
    expect(batches).toHaveLength(1);
    expect(res.headers.get('x-samsa-clamped')).toContain('max_bytes=102400');
    expect(res.headers.get('x-next-offset')).toBe('4');
  });

  it("a buffered Lambda's result cannot hold it: 413 RECORD_TOO_LARGE naming the batch's offset", async () => {
    const tiny: RuntimeLimits = { ...buffered, maxBinaryResponseBytes: 100 * 1024 };
    const res = await app(tiny).request(`/v1/topics/big/partitions/0/records?offset=3&max_bytes=${MiB}`, { headers: { accept: BATCH_TYPE } });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error_code: 'RECORD_TOO_LARGE', offset: 3, max_response_bytes: 100 * 1024, runtime: 'function-url-buffered' });
  });

  it('JSON: records that would overflow the response are left for the next fetch, with a clamped field', async () => {
    const tiny: RuntimeLimits = { ...buffered, maxJsonResponseBytes: 4096 };
    const res = await app(tiny).request('/v1/topics/small/partitions/0/records?offset=0&max_records=40');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.length).toBeLessThanOrEqual(4096);
    const body = JSON.parse(text) as { records: Array<{ offset: number; value: { i: number } }>; next_offset: number; clamped?: unknown };
    expect(body.records.length).toBeGreaterThan(1);
    expect(body.records.length).toBeLessThan(40);
    expect(body.records.map((r) => r.value.i)).toEqual(body.records.map((_, i) => i));
    expect(body.next_offset).toBe(body.records.length);
    expect(body.clamped).toEqual({ max_bytes: MiB, runtime: 'function-url-buffered' });
    expect(res.headers.get('x-samsa-clamped')).not.toBeNull();
    // The rest follows from next_offset, unclamped.
    const rest = (await (await apps.get('buffered')!.request(`/v1/topics/small/partitions/0/records?offset=${body.next_offset}&max_records=40`)).json()) as { records: unknown[]; clamped?: unknown };
    expect(rest.records.length).toBe(40 - body.records.length);
    expect(rest.clamped).toBeUndefined();
  });
});

describe('long polls end before the front gives up', () => {
  it('API Gateway (30 s integration limit): wait_ms is cut to 25 s; Function URLs keep 60 s', () => {
    expect(lambdaLimits('api-gateway', configured, 70_000).maxWaitMs).toBe(25_000);
    expect(buffered.maxWaitMs).toBeUndefined();
    expect(streamed.maxWaitMs).toBeUndefined();
  });

  it('a fetch asking to wait longer than the runtime allows returns at its bound, empty', async () => {
    const short: RuntimeLimits = { ...lambdaLimits('api-gateway', configured, 70_000), maxWaitMs: 300 };
    const started = Date.now();
    const res = await app(short).request('/v1/topics/small/partitions/0/records?offset=40&wait_ms=5000');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { records: unknown[] }).records).toEqual([]);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('so does a group poll, with the bound the Lambda wiring passes to the group routes', async () => {
    const a = app(undefined, { extend: (x) => void mountGroupRoutes(x, { engine, maxWaitMs: 300 }) });
    const joined = (await (await a.request('/v1/groups/waiters/members', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topics: ['small'], auto_offset_reset: 'latest' }) })).json()) as { member_id: string };
    await a.request(`/v1/groups/waiters/members/${joined.member_id}/records`);
    const started = Date.now();
    const res = await a.request(`/v1/groups/waiters/members/${joined.member_id}/records?wait_ms=5000`);
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('live tails follow the runtime', () => {
  it('a buffered deployment refuses follow=true with a 400 that says what works', async () => {
    const res = await apps.get('buffered')!.request('/v1/topics/small/partitions/0/records?offset=0&follow=true', { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error_code: 'INVALID_REQUEST', field: 'follow', message: expect.stringContaining('RESPONSE_STREAM') });
  });

  it("a streamed tail ends with an `end` event inside the invocation's remaining time", async () => {
    const a = app(streamed, { sessionBudgetMs: () => 1200 });
    const started = Date.now();
    const res = await a.request('/v1/topics/small/partitions/0/records?offset=40&follow=true', { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const took = Date.now() - started;
    expect(text).toContain('event: end');
    expect(text).toContain('id: 40');
    expect(took).toBeGreaterThanOrEqual(1100);
    expect(took).toBeLessThan(5000);
  });
  it('a streamed tail ends its session once it has sent the uncapped 6 MB burst, and a reconnect resumes with no gap and no repeat', async () => {
    const a = app(streamed, { sessionBudgetMs: () => 60_000 });
    const tail = async (headers: Record<string, string>): Promise<{ offsets: number[]; end?: number; bytes: number }> => {
      const res = await a.request('/v1/topics/big/partitions/0/records?follow=true&value_format=base64&max_bytes=1048576&max_session_ms=3000', { headers: { accept: 'text/event-stream', ...headers } });
      expect(res.status).toBe(200);
      const text = await res.text();
      const offsets: number[] = [];
      let end: number | undefined;
      for (const block of text.split('\n\n')) {
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (/^event: records$/m.test(block)) for (const r of (JSON.parse(data!) as { records: { offset: number }[] }).records) offsets.push(r.offset);
        if (/^event: end$/m.test(block)) end = (JSON.parse(data!) as { next_offset: number }).next_offset;
      }
      return { offsets, ...(end !== undefined ? { end } : {}), bytes: Buffer.byteLength(text) };
    };
    const one = await tail({ 'last-event-id': '0' });
    // 14 records of ~800 KB of base64 each: the session stops after the event that passes 6 MB.
    expect(one.end).toBeDefined();
    expect(one.end).toBeLessThan(14);
    expect(one.offsets).toEqual([...Array(one.end).keys()]);
    expect(one.bytes).toBeLessThan(6 * MiB + 2 * MiB);
    const two = await tail({ 'last-event-id': String(one.end) });
    expect([...one.offsets, ...two.offsets]).toEqual([...Array(14).keys()]);
  });
});

describe("a buffered group poll's envelope counts against the result", () => {
  // Assignment, positions and committed travel in the same body as the records: with many
  // partitions of a long-named topic they are tens of bytes per partition, and a first record
  // that fits alone can still make a result the runtime cannot return.
  const name = `env-${'e'.repeat(200)}`;
  const room = 30_000;
  const tiny: RuntimeLimits = { ...buffered, maxJsonResponseBytes: room };
  const a = () => app(undefined, { extend: (x) => void mountGroupRoutes(x, { engine, response: tiny }) });
  beforeAll(async () => {
    await engine.createTopic(name, 40);
    await engine.produce(name, [{ key: null, value: new TextEncoder().encode('v'.repeat(15_000)), headers: [], partition: 7 }]);
  });

  it('a first record that fits alone but not beside the envelope is 413 RECORD_TOO_LARGE, not an oversized result', async () => {
    const g = a();
    const joined = (await (await g.request('/v1/groups/envelope/members', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topics: [name], auto_offset_reset: 'earliest' }) })).json()) as { member_id: string };
    const res = await g.request(`/v1/groups/envelope/members/${joined.member_id}/records?value_format=string`);
    const text = await res.text();
    if (res.status === 200) expect(jsonResultBytes(text, tiny), 'a 200 must fit the result').toBeLessThanOrEqual(room);
    expect(res.status).toBe(413);
    expect(JSON.parse(text)).toMatchObject({ error_code: 'RECORD_TOO_LARGE', partition: 7, offset: 0, runtime: 'function-url-buffered', max_response_bytes: room });
  });
});

describe('a clamped group poll resumes every partition exactly where its records stop', () => {
  // The poll is stateless: the member sends its positions back as `from`. Whatever the cut
  // (it falls anywhere in the poll, which starts at a random partition), every record comes
  // once, in order, and a partition that returned nothing keeps its position.
  const room = 3000;
  const tiny: RuntimeLimits = { ...buffered, maxJsonResponseBytes: room };
  beforeAll(async () => {
    await engine.createTopic('resume', 3);
    for (const p of [0, 1]) {
      for (let i = 0; i < 12; i++) await engine.produce('resume', [{ key: null, value: new TextEncoder().encode(JSON.stringify({ p, i, pad: '"'.repeat(60) })), headers: [], partition: p }]);
    }
  });

  it('with `from` = the last positions, every record once and in order; the empty partition stays at 0', async () => {
    const g = app(undefined, { extend: (x) => void mountGroupRoutes(x, { engine, response: tiny }) });
    const joined = (await (await g.request('/v1/groups/resume/members', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topics: ['resume'], auto_offset_reset: 'earliest' }) })).json()) as { member_id: string };
    type Poll = { records: Array<{ partition: number; offset: number; value: { p: number; i: number } }>; positions: Array<{ partition: number; offset: number; next_offset: number }> };
    const seen: Record<number, number[]> = { 0: [], 1: [], 2: [] };
    let from = '';
    let clampedPolls = 0;
    for (let n = 0; n < 40 && seen[0]!.length + seen[1]!.length < 24; n++) {
      const res = await g.request(`/v1/groups/resume/members/${joined.member_id}/records?max_records=100${from}`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(jsonResultBytes(text, tiny)).toBeLessThanOrEqual(room);
      if (res.headers.get('x-samsa-clamped')) clampedPolls++;
      const body = JSON.parse(text) as Poll;
      for (const r of body.records) {
        expect(r.value.p).toBe(r.partition);
        seen[r.partition]!.push(r.offset);
      }
      expect(body.positions.find((p) => p.partition === 2)!.next_offset).toBe(0);
      from = `&from=${body.positions.map((p) => `resume:${p.partition}:${p.next_offset}`).join(',')}`;
    }
    expect(clampedPolls).toBeGreaterThan(1);
    const all = Array.from({ length: 12 }, (_, i) => i);
    expect(seen).toEqual({ 0: all, 1: all, 2: [] });
  });
});
