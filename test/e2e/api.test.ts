// End-to-end acceptance tests of the HTTP contract (docs/http-api.md, consumer groups
// excepted) against the real server process (`bin/serve.ts`), over real HTTP. Expected values
// come from the contract and from independent references — KafkaJS's murmur2, RecordBatch
// encoder/decoder and CRC32C, and the Java client's murmur2 vectors — never from Samsa's code.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JAVA_MURMUR2_VECTORS } from '../unit/records/murmur2-vectors';
import { kafkajsCrc32C, kafkajsDecode, kafkajsEncode, kafkajsMurmur2, type KjsRecord } from '../unit/records/kafkajs';
import { type ServerHandle, startServer } from '../helpers/server';

const RECORD_BATCH = 'application/vnd.kafka.record-batch';
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const GZIP = 1;

let srv: ServerHandle;
let seq = 0;
/** A unique topic name per test. */
const uniq = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${(seq++).toString(36)}`;

beforeAll(async () => {
  srv = await startServer({
    env: { SAMSA_JOB_INTERVAL_MS: '300', SAMSA_FLUSH_DELAY_MS: '200', SAMSA_MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES) },
  });
});

afterAll(async () => {
  if (srv && !srv.exited) {
    const r = await srv.stop();
    expect(r.code, `server did not exit cleanly:\n${srv.output()}`).toBe(0);
  }
});

// --- HTTP helpers ---------------------------------------------------------------------------

interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
  raw: Uint8Array;
}

async function call<T = any>(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (body instanceof Uint8Array || typeof body === 'string') {
      init.body = body as RequestInit['body'];
    } else {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
  }
  const res = await fetch(`${srv.url}${p}`, init);
  const raw = new Uint8Array(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  let parsed: unknown = raw;
  if (type.includes('json')) {
    parsed = JSON.parse(Buffer.from(raw).toString('utf8'));
  } else if (type.startsWith('text/')) {
    parsed = Buffer.from(raw).toString('utf8');
  }
  if (res.status >= 500) throw new Error(`${method} ${p} → ${res.status}: ${Buffer.from(raw).toString()}\nserver output:\n${srv.output().slice(-4000)}`);
  return { status: res.status, body: parsed as T, headers: res.headers, raw };
}

const get = <T = any>(p: string, headers?: Record<string, string>) => call<T>('GET', p, undefined, headers);
const post = <T = any>(p: string, body?: unknown, headers?: Record<string, string>) => call<T>('POST', p, body, headers);

function expectError(res: Res, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error_code }, JSON.stringify(res.body)).toEqual({ status, code });
  expect(typeof res.body.message).toBe('string');
}

async function createTopic(name: string, partitions: number, config?: Record<string, unknown>): Promise<void> {
  const r = await post('/v1/topics', { name, partitions, ...(config ? { config } : {}) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function describeTopic(name: string): Promise<any> {
  const r = await get(`/v1/topics/${name}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

async function hws(name: string): Promise<number[]> {
  return (await describeTopic(name)).partitions.map((p: any) => p.high_watermark);
}

interface JsonRecord {
  offset: number;
  timestamp: number;
  key: any;
  value: any;
  headers: Array<{ key: string; value: string | null }>;
  key_encoding?: string;
  value_encoding?: string;
}

/** Every record of a partition from `from` to the high watermark, page by page. */
async function fetchAll(topic: string, partition: number, from = 0, query = ''): Promise<JsonRecord[]> {
  const out: JsonRecord[] = [];
  let offset = from;
  for (let pages = 0; pages < 1000; pages++) {
    const r = await get(`/v1/topics/${topic}/partitions/${partition}/records?offset=${offset}&max_records=10000${query}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    out.push(...r.body.records);
    if (r.body.next_offset >= r.body.high_watermark) return out;
    expect(r.body.next_offset).toBeGreaterThan(offset);
    offset = r.body.next_offset;
  }
  throw new Error('fetchAll did not reach the high watermark');
}

/** Everything observable about a topic: its description and every record of every partition. */
async function snapshot(topic: string): Promise<unknown> {
  const d = await describeTopic(topic);
  const records = [];
  for (const p of d.partitions) records.push(await fetchAll(topic, p.partition, p.log_start_offset));
  const list = (await get('/v1/topics')).body.topics.find((t: any) => t.name === topic);
  // leader_epoch is the server's business (it may move when a flusher takes over a partition).
  const partitions = d.partitions.map(({ leader_epoch: _, ...p }: any) => p);
  return { d: { ...d, partitions }, records, list };
}

/** Kafka's default partitioner as KafkaJS (and the Java client) computes it. */
const kafkaPartition = (key: Buffer, partitions: number): number => (kafkajsMurmur2(key) & 0x7fffffff) % partitions;

/** Split concatenated RecordBatch bytes into batches by their length fields. */
function splitBatches(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  while (p < bytes.length) {
    expect(p + 12, 'truncated batch header').toBeLessThanOrEqual(bytes.length);
    const end = p + 12 + dv.getInt32(p + 8);
    expect(end, 'batch runs past the end').toBeLessThanOrEqual(bytes.length);
    out.push(bytes.subarray(p, end));
    p = end;
  }
  return out;
}

/** CRC32C of the batch (attributes to the end) as KafkaJS computes it equals the stored CRC. */
function expectValidCrc(batch: Uint8Array): void {
  const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  expect(batch[16], 'magic').toBe(2);
  const stored = dv.getUint32(17);
  const computed = kafkajsCrc32C(Buffer.from(batch.buffer, batch.byteOffset + 21, batch.byteLength - 21));
  expect(computed, 'CRC32C').toBe(stored);
}

async function decodeAll(bytes: Uint8Array): Promise<Array<{ offset: number; timestamp: number; key: Buffer | null; value: Buffer | null; headers: any; batchBase: number }>> {
  const out = [];
  for (const b of splitBatches(bytes)) {
    expectValidCrc(b);
    const d = await kafkajsDecode(b);
    for (const r of d.records) {
      out.push({ offset: Number(r.offset), timestamp: Number(r.timestamp), key: r.key, value: r.value, headers: r.headers, batchBase: Number(d.firstOffset) });
    }
  }
  return out;
}

const b64 = (s: string | Uint8Array): string => Buffer.from(s as any).toString('base64');

// --- service --------------------------------------------------------------------------------

describe('service', () => {
  it('GET /healthz → 200 {"status":"ok"}', async () => {
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('/openapi.json is OpenAPI 3.1 and lists every route of the contract; /docs is HTML', async () => {
    const r = await get('/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(String(r.body.openapi)).toMatch(/^3\.1\./);
    const paths = r.body.paths as Record<string, Record<string, unknown>>;
    const routes: Array<[string, string]> = [
      ['get', '/healthz'],
      ['post', '/v1/topics'],
      ['get', '/v1/topics'],
      ['get', '/v1/topics/{topic}'],
      ['patch', '/v1/topics/{topic}'],
      ['delete', '/v1/topics/{topic}'],
      ['post', '/v1/topics/{topic}/records'],
      ['post', '/v1/topics/{topic}/partitions/{partition}/records'],
      ['post', '/v1/producers'],
      ['get', '/v1/topics/{topic}/partitions/{partition}/records'],
      ['get', '/v1/topics/{topic}/partitions/{partition}/offsets'],
    ];
    const missing = routes.filter(([m, p]) => !paths[p]?.[m]).map(([m, p]) => `${m.toUpperCase()} ${p}`);
    expect(missing).toEqual([]);
    // The binary produce route documents its media type.
    const binary = paths['/v1/topics/{topic}/partitions/{partition}/records']!['post'] as any;
    expect(Object.keys(binary.requestBody.content)).toContain(RECORD_BATCH);

    const docs = await get('/docs');
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(String(docs.body)).toMatch(/<html/i);
    expect(String(docs.body)).toContain('/v1/topics');
  });

  it('unknown routes → 404 with an error body, never a 5xx', async () => {
    const r = await get('/v1/nope');
    expect(r.status).toBe(404);
    expect(typeof r.body.error_code).toBe('string');
  });
});

// --- topics ---------------------------------------------------------------------------------

describe('topic lifecycle', () => {
  it('create → list → describe, with Kafka defaults and given config', async () => {
    const name = uniq('life');
    const r = await post('/v1/topics', { name, partitions: 3, config: { 'retention.ms': '86400000', 'segment.bytes': 1048576 } });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({
      name,
      partitions: 3,
      config: expect.objectContaining({
        'retention.ms': 86400000,
        'retention.bytes': -1,
        'segment.bytes': 1048576,
        'cleanup.policy': 'delete',
      }),
    });
    const defaults = await post('/v1/topics', { name: uniq('defaults'), partitions: 1 });
    expect(defaults.status).toBe(201);
    expect(defaults.body.config).toMatchObject({ 'retention.ms': 604800000, 'retention.bytes': -1, 'segment.bytes': 1073741824, 'cleanup.policy': 'delete' });

    const list = await get('/v1/topics');
    expect(list.status).toBe(200);
    expect(list.body.topics).toContainEqual({ name, partitions: 3 });

    const d = await describeTopic(name);
    expect(d.name).toBe(name);
    expect(d.config).toEqual(r.body.config);
    expect(d.partitions).toHaveLength(3);
    d.partitions.forEach((p: any, i: number) => {
      expect(p).toEqual({ partition: i, log_start_offset: 0, high_watermark: 0, leader_epoch: expect.any(Number) });
    });

    const dup = await post('/v1/topics', { name, partitions: 1 });
    expectError(dup, 409, 'TOPIC_ALREADY_EXISTS');
    expect(await describeTopic(name)).toEqual(d);
  });

  it('PATCH grows partitions and changes config; shrinking or bad config → 400 and nothing changes', async () => {
    const name = uniq('patch');
    await createTopic(name, 2, { 'retention.ms': 1000000 });
    await post(`/v1/topics/${name}/records`, { records: [{ value: 1, partition: 1 }] });

    const grow = await call('PATCH', `/v1/topics/${name}`, { partitions: 5 });
    expect(grow.status).toBe(200);
    expect(grow.body).toMatchObject({ name, partitions: 5 });
    let d = await describeTopic(name);
    expect(d.partitions.map((p: any) => [p.partition, p.high_watermark])).toEqual([[0, 0], [1, 1], [2, 0], [3, 0], [4, 0]]);
    const p4 = await post(`/v1/topics/${name}/records`, { records: [{ value: 'new', partition: 4 }] });
    expect(p4.status).toBe(200);
    expect(p4.body.offsets).toEqual([{ partition: 4, offset: 0, timestamp: expect.any(Number) }]);
    expect((await fetchAll(name, 4)).map((r) => r.value)).toEqual(['new']);

    const cfg = await call('PATCH', `/v1/topics/${name}`, { config: { 'retention.ms': 5000, 'max.message.bytes': 2000000 } });
    expect(cfg.status).toBe(200);
    d = await describeTopic(name);
    expect(d.config).toMatchObject({ 'retention.ms': 5000, 'max.message.bytes': 2000000, 'retention.bytes': -1, 'cleanup.policy': 'delete' });
    expect(d.partitions).toHaveLength(5);

    const before = await snapshot(name);
    expectError(await call('PATCH', `/v1/topics/${name}`, { partitions: 3 }), 400, 'INVALID_PARTITIONS');
    expectError(await call('PATCH', `/v1/topics/${name}`, { partitions: 0 }), 400, 'INVALID_PARTITIONS');
    expectError(await call('PATCH', `/v1/topics/${name}`, { partitions: 'x' }), 400, 'INVALID_PARTITIONS');
    expectError(await call('PATCH', `/v1/topics/${name}`, { config: { 'no.such.key': 1 } }), 400, 'INVALID_CONFIG');
    expectError(await call('PATCH', `/v1/topics/${name}`, { config: { 'retention.ms': 'soon' } }), 400, 'INVALID_CONFIG');
    expectError(await call('PATCH', `/v1/topics/${name}`, { config: { 'segment.bytes': 1073741825 } }), 400, 'INVALID_CONFIG');
    // A valid partition change with an invalid config change applies neither.
    expectError(await call('PATCH', `/v1/topics/${name}`, { partitions: 9, config: { 'cleanup.policy': 'compact' } }), 400, 'INVALID_CONFIG');
    expect(await snapshot(name)).toEqual(before);

    expectError(await call('PATCH', `/v1/topics/${uniq('absent')}`, { partitions: 3 }), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('DELETE → 204, then the topic is unknown everywhere and its data directory is removed by the job loop', async () => {
    const name = uniq('del');
    await createTopic(name, 2);
    const produced = await post(`/v1/topics/${name}/records`, { records: [{ value: { a: 1 }, partition: 0 }, { value: { b: 2 }, partition: 1 }] });
    expect(produced.status).toBe(200);
    const dir = path.join(srv.dataDir, 'objects', 'topics', name);
    const id = (await describeTopic(name)).topic_id;
    // The eager flush writes the partitions' segments, under the name and this incarnation's id.
    await waitFor(() => fs.existsSync(path.join(dir, id, '0', '00000000000000000000.log')), 10_000, `segments of ${name} never appeared`);

    const del = await call('DELETE', `/v1/topics/${name}`);
    expect(del.status).toBe(204);
    expect(del.raw.length).toBe(0);

    expectError(await get(`/v1/topics/${name}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await call('DELETE', `/v1/topics/${name}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await post(`/v1/topics/${name}/records`, { records: [{ value: 1 }] }), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await get(`/v1/topics/${name}/partitions/0/records?offset=0`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await get(`/v1/topics/${name}/partitions/0/offsets?timestamp=earliest`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expect((await get('/v1/topics')).body.topics.map((t: any) => t.name)).not.toContain(name);

    await waitFor(() => !fs.existsSync(dir) || fs.readdirSync(dir, { recursive: true }).filter((f) => /\.(log|index|timeindex)$/.test(String(f))).length === 0, 30_000, `data of deleted topic ${name} still on disk: ${dir}`);

    // Once its data is gone the name can be used again, for a fresh, empty topic.
    await waitFor(async () => (await post('/v1/topics', { name, partitions: 1 })).status === 201, 15_000, 'topic could not be re-created');
    const d = await describeTopic(name);
    expect(d.partitions).toEqual([{ partition: 0, log_start_offset: 0, high_watermark: 0, leader_epoch: expect.any(Number) }]);
    expect(await fetchAll(name, 0)).toEqual([]);
  }, 60_000);
});

describe('topic validation', () => {
  it('invalid names → 400 INVALID_TOPIC_EXCEPTION; 249 characters is fine', async () => {
    const before = (await get('/v1/topics')).body;
    for (const name of ['', 'a b', 'a/b', 'a*b', 'tópico', 'x'.repeat(250), '.', '..', 'a\nb']) {
      expectError(await post('/v1/topics', { name, partitions: 1 }), 400, 'INVALID_TOPIC_EXCEPTION');
    }
    expect((await get('/v1/topics')).body).toEqual(before);
    const long = `${uniq('l')}-`.padEnd(249, 'x');
    expect((await post('/v1/topics', { name: long, partitions: 1 })).status).toBe(201);
    const dots = uniq('a.b_c-D');
    expect((await post('/v1/topics', { name: dots, partitions: 1 })).status).toBe(201);
  });

  it('bad config → 400 INVALID_CONFIG; bad partition counts → 400 INVALID_PARTITIONS; nothing is created', async () => {
    const name = uniq('badcfg');
    const bad: Array<[unknown, string]> = [
      [{ 'no.such.key': 1 }, 'INVALID_CONFIG'],
      [{ 'retention.ms': 'abc' }, 'INVALID_CONFIG'],
      [{ 'retention.ms': -2 }, 'INVALID_CONFIG'],
      [{ 'segment.bytes': 1073741825 }, 'INVALID_CONFIG'],
      [{ 'segment.bytes': 2147483647 }, 'INVALID_CONFIG'],
      [{ 'segment.bytes': 0 }, 'INVALID_CONFIG'],
      [{ 'cleanup.policy': 'compact' }, 'INVALID_CONFIG'],
      [{ 'max.message.bytes': 1.5 }, 'INVALID_CONFIG'],
    ];
    for (const [config] of bad) expectError(await post('/v1/topics', { name, partitions: 1, config }), 400, 'INVALID_CONFIG');
    for (const partitions of [0, -1, 'x', 1.5, null]) {
      expectError(await post('/v1/topics', { name, partitions }), 400, 'INVALID_PARTITIONS');
    }
    expect((await post('/v1/topics', { name })).status).toBe(400);
    expectError(await get(`/v1/topics/${name}`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    // segment.bytes at exactly 1 GiB is allowed.
    expect((await post('/v1/topics', { name, partitions: 1, config: { 'segment.bytes': 1073741824 } })).status).toBe(201);
  });
});

// --- produce and fetch ----------------------------------------------------------------------

describe('keyed records land where Kafka’s partitioner puts them', () => {
  it('KafkaJS murmur2 agrees with the Java client’s vectors (sanity of the reference)', () => {
    for (const [k, h] of JAVA_MURMUR2_VECTORS) expect(kafkajsMurmur2(Buffer.from(k)) | 0).toBe(h);
  });

  it('string, json and base64 keys go to (murmur2(key bytes) & 0x7fffffff) % partitions, and are stored there', async () => {
    for (const partitions of [7, 12]) {
      const name = uniq('keyed');
      await createTopic(name, partitions);
      const strKeys = Array.from({ length: 60 }, (_, i) => (i % 5 === 0 ? `ключ-${i}-🔑` : `user-${i * 7919}`));
      const r1 = await post(`/v1/topics/${name}/records`, { records: strKeys.map((key, i) => ({ key, value: { i } })) });
      expect(r1.status).toBe(200);
      const jsonKeys = [{ id: 1 }, [1, 2, 3], 42, 'quoted', { nested: { a: [true, null] } }];
      const r2 = await post(`/v1/topics/${name}/records`, { key_format: 'json', records: jsonKeys.map((key, i) => ({ key, value: { j: i } })) });
      expect(r2.status).toBe(200);
      const binKeys = Array.from({ length: 20 }, (_, i) => Buffer.from(Array.from({ length: i + 1 }, (_, j) => (j * 37 + i * 101) & 0xff)));
      const r3 = await post(`/v1/topics/${name}/records`, { key_format: 'base64', records: binKeys.map((key, i) => ({ key: key.toString('base64'), value: { b: i } })) });
      expect(r3.status).toBe(200);

      const expected = [
        ...strKeys.map((k) => kafkaPartition(Buffer.from(k, 'utf8'), partitions)),
        ...jsonKeys.map((k) => kafkaPartition(Buffer.from(JSON.stringify(k), 'utf8'), partitions)),
        ...binKeys.map((k) => kafkaPartition(k, partitions)),
      ];
      const acks = [...r1.body.offsets, ...r2.body.offsets, ...r3.body.offsets];
      expect(acks.map((a: any) => a.partition)).toEqual(expected);
      expect(new Set(expected).size).toBeGreaterThan(3);

      // Each record is stored in the partition and at the offset it was acknowledged with.
      const values = [...strKeys.map((_, i) => ({ i })), ...jsonKeys.map((_, i) => ({ j: i })), ...binKeys.map((_, i) => ({ b: i }))];
      const keysB64 = [...strKeys.map((k) => b64(k)), ...jsonKeys.map((k) => b64(JSON.stringify(k))), ...binKeys.map((k) => k.toString('base64'))];
      const byPartition = new Map<number, JsonRecord[]>();
      for (let p = 0; p < partitions; p++) byPartition.set(p, await fetchAll(name, p, 0, '&key_format=base64'));
      acks.forEach((a: any, i: number) => {
        const rec = byPartition.get(a.partition)!.find((r) => r.offset === a.offset);
        expect(rec, `record ${i}`).toBeDefined();
        expect(rec!.key).toBe(keysB64[i]);
        expect(rec!.value).toEqual(values[i]);
      });
      expect([...byPartition.values()].reduce((n, rs) => n + rs.length, 0)).toBe(acks.length);
    }
  });

  it('explicit partition wins over the key; null keys are spread over partitions', async () => {
    const name = uniq('spread');
    await createTopic(name, 4);
    const key = 'some-key';
    const natural = kafkaPartition(Buffer.from(key), 4);
    const other = (natural + 1) % 4;
    const r = await post(`/v1/topics/${name}/records`, { records: [{ key, value: 1, partition: other }] });
    expect(r.body.offsets[0].partition).toBe(other);

    const used = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const n = await post(`/v1/topics/${name}/records`, { records: [{ value: i }, { key: null, value: i }] });
      expect(n.status).toBe(200);
      for (const o of n.body.offsets) {
        expect(o.partition).toBeGreaterThanOrEqual(0);
        expect(o.partition).toBeLessThan(4);
        used.add(o.partition);
      }
    }
    expect(used.size).toBeGreaterThan(1);
  });
});

describe('concurrent produce: unique, contiguous offsets', () => {
  const valueFor = (req: number, j: number, pad: number) => ({ req, j, pad: 'x'.repeat(pad) });

  it('40 concurrent requests of varied sizes to one partition', async () => {
    const name = uniq('conc1');
    await createTopic(name, 1);
    const sizes = Array.from({ length: 40 }, (_, i) => (i === 7 || i === 23 ? 150_000 : [10, 300, 2000, 9000][i % 4]!));
    const counts = Array.from({ length: 40 }, (_, i) => (i === 7 || i === 23 ? 2 : (i % 9) + 1));
    const responses = await Promise.all(
      sizes.map((pad, req) =>
        post(`/v1/topics/${name}/records`, { records: Array.from({ length: counts[req]! }, (_, j) => ({ value: valueFor(req, j, pad), partition: 0 })) }),
      ),
    );
    const byOffset = new Map<number, unknown>();
    responses.forEach((r, req) => {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const offs = r.body.offsets as Array<{ partition: number; offset: number }>;
      expect(offs).toHaveLength(counts[req]!);
      offs.forEach((o, j) => {
        expect(o.partition).toBe(0);
        // Records of one request get consecutive offsets.
        expect(o.offset).toBe(offs[0]!.offset + j);
        expect(byOffset.has(o.offset), `offset ${o.offset} acknowledged twice`).toBe(false);
        byOffset.set(o.offset, valueFor(req, j, sizes[req]!));
      });
    });
    const total = counts.reduce((a, b) => a + b, 0);
    expect([...byOffset.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(await hws(name)).toEqual([total]);
    const fetched = await fetchAll(name, 0);
    expect(fetched.map((r) => r.offset)).toEqual(Array.from({ length: total }, (_, i) => i));
    for (const r of fetched) expect(r.value).toEqual(byOffset.get(r.offset));
  });

  it('40 concurrent requests across partitions (explicit and keyed)', async () => {
    const name = uniq('concN');
    const P = 4;
    await createTopic(name, P);
    const requests = Array.from({ length: 40 }, (_, req) =>
      Array.from({ length: (req % 6) + 1 }, (_, j) =>
        (req + j) % 3 === 0 ? { key: `k${req}-${j}`, value: { req, j } } : { partition: (req * 3 + j) % P, value: { req, j, pad: 'y'.repeat((req * 97) % 3000) } },
      ),
    );
    const responses = await Promise.all(requests.map((records) => post(`/v1/topics/${name}/records`, { records })));
    const acked = new Map<number, Map<number, unknown>>();
    for (let p = 0; p < P; p++) acked.set(p, new Map());
    responses.forEach((r, req) => {
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const offs = r.body.offsets as Array<{ partition: number; offset: number }>;
      expect(offs).toHaveLength(requests[req]!.length);
      const lastPer = new Map<number, number>();
      offs.forEach((o, j) => {
        const rec = requests[req]![j]!;
        const want = 'key' in rec ? kafkaPartition(Buffer.from(rec.key!), P) : rec.partition;
        expect(o.partition).toBe(want);
        if (lastPer.has(o.partition)) expect(o.offset).toBe(lastPer.get(o.partition)! + 1);
        lastPer.set(o.partition, o.offset);
        const m = acked.get(o.partition)!;
        expect(m.has(o.offset), `offset ${o.partition}/${o.offset} acknowledged twice`).toBe(false);
        m.set(o.offset, rec.value);
      });
    });
    const hw = await hws(name);
    for (let p = 0; p < P; p++) {
      const m = acked.get(p)!;
      expect([...m.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: m.size }, (_, i) => i));
      expect(hw[p]).toBe(m.size);
      const fetched = await fetchAll(name, p);
      expect(fetched.map((r) => r.offset)).toEqual([...m.keys()].sort((a, b) => a - b));
      for (const r of fetched) expect(r.value).toEqual(m.get(r.offset));
    }
  });
});

describe('fetched records equal what was produced', () => {
  it('keys, values, headers and timestamps round-trip exactly', async () => {
    const name = uniq('rt');
    await createTopic(name, 1);
    const t0 = Date.now();
    const records = [
      { key: 'k1', value: { a: 1, b: [1, 2, { c: null }], s: 'ünïcødé ✓ 🚀' }, headers: [{ key: 'h1', value: 'v1' }, { key: 'h1', value: 'v1-again' }, { key: 'empty', value: '' }, { key: 'nul', value: null }], timestamp: 1_600_000_000_123 },
      { value: 'just a string', timestamp: 1 },
      { key: '', value: 0, headers: [] },
      { key: 'tomb', value: null },
      { value: [true, false, null, 1.5, -2e10] },
      { key: 'k6', value: { deep: { deeper: { deepest: 'x'.repeat(5000) } } }, headers: [{ key: 'ünï', value: 'çødé' }] },
    ];
    const r = await post(`/v1/topics/${name}/records`, { records });
    const t1 = Date.now();
    expect(r.status).toBe(200);
    expect(r.body.offsets.map((o: any) => o.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.body.offsets[0].timestamp).toBe(1_600_000_000_123);
    expect(r.body.offsets[1].timestamp).toBe(1);
    for (const i of [2, 3, 4, 5]) {
      expect(r.body.offsets[i].timestamp).toBeGreaterThanOrEqual(t0 - 1000);
      expect(r.body.offsets[i].timestamp).toBeLessThanOrEqual(t1 + 1000);
    }
    const f = await get(`/v1/topics/${name}/partitions/0/records?offset=0`);
    expect(f.status).toBe(200);
    expect(f.body).toMatchObject({ next_offset: 6, high_watermark: 6, log_start_offset: 0 });
    expect(f.body.records).toEqual(
      records.map((rec, i) => ({
        offset: i,
        timestamp: r.body.offsets[i].timestamp,
        key: rec.key ?? null,
        value: rec.value,
        headers: rec.headers ?? [],
      })),
    );
    // The same bytes as KafkaJS sees them.
    const bin = await get(`/v1/topics/${name}/partitions/0/records?offset=0`, { accept: RECORD_BATCH });
    const decoded = await decodeAll(bin.raw);
    expect(decoded.map((d) => d.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    decoded.forEach((d, i) => {
      const rec = records[i]!;
      expect(d.key === null ? null : d.key.toString('utf8')).toBe(rec.key ?? null);
      expect(d.value === null ? null : d.value.toString('utf8')).toBe(rec.value === null ? null : JSON.stringify(rec.value));
      expect(d.timestamp).toBe(r.body.offsets[i].timestamp);
    });
    expect(decoded[0]!.headers.h1.map((b: Buffer) => b.toString())).toEqual(['v1', 'v1-again']);
  });

  it('fetch respects offset, max_records and max_bytes, and never goes past the high watermark', async () => {
    const name = uniq('bounds');
    await createTopic(name, 1);
    for (let i = 0; i < 5; i++) {
      await post(`/v1/topics/${name}/records`, { records: Array.from({ length: 4 }, (_, j) => ({ value: { n: i * 4 + j, pad: 'p'.repeat(500) } })) });
    }
    const mid = await get(`/v1/topics/${name}/partitions/0/records?offset=6&max_records=5`);
    expect(mid.body.records.map((r: any) => r.offset)).toEqual([6, 7, 8, 9, 10]);
    expect(mid.body.records.map((r: any) => r.value.n)).toEqual([6, 7, 8, 9, 10]);
    expect(mid.body.next_offset).toBe(11);
    expect(mid.body.high_watermark).toBe(20);
    const small = await get(`/v1/topics/${name}/partitions/0/records?offset=3&max_bytes=1`);
    expect(small.status).toBe(200);
    expect(small.body.records.length).toBeGreaterThanOrEqual(1);
    expect(small.body.records[0].offset).toBe(3);
    expect(small.body.next_offset).toBe(small.body.records[small.body.records.length - 1].offset + 1);
    const tail = await get(`/v1/topics/${name}/partitions/0/records?offset=18`);
    expect(tail.body.records.map((r: any) => r.offset)).toEqual([18, 19]);
    expect(tail.body.next_offset).toBe(20);
    const atHw = await get(`/v1/topics/${name}/partitions/0/records?offset=20`);
    expect(atHw.status).toBe(200);
    expect(atHw.body).toEqual({ records: [], next_offset: 20, high_watermark: 20, log_start_offset: 0 });
    const dflt = await get(`/v1/topics/${name}/partitions/0/records`);
    expect(dflt.body.records[0].offset).toBe(0);
  });
});

describe('value and key formats', () => {
  it('string / json / base64 on produce and fetch; values invalid in the requested format come back base64', async () => {
    const name = uniq('fmt');
    await createTopic(name, 1);
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x7f]);
    const r1 = await post(`/v1/topics/${name}/records`, { key_format: 'string', value_format: 'string', records: [{ key: 'sk', value: 'hello world' }, { key: 'n', value: '123' }] });
    const r2 = await post(`/v1/topics/${name}/records`, { key_format: 'json', value_format: 'json', records: [{ key: { id: 7 }, value: { x: [1, 'two'] } }] });
    const r3 = await post(`/v1/topics/${name}/records`, { key_format: 'base64', value_format: 'base64', records: [{ key: binary.toString('base64'), value: binary.toString('base64') }, { key: b64('{"k":1}'), value: b64('"str"') }] });
    for (const r of [r1, r2, r3]) expect(r.status, JSON.stringify(r.body)).toBe(200);
    // Defaults: key string, value json.
    const r4 = await post(`/v1/topics/${name}/records`, { records: [{ key: 'plain', value: { d: true } }] });
    expect(r4.status).toBe(200);

    const bytes = [
      { key: Buffer.from('sk'), value: Buffer.from('hello world') },
      { key: Buffer.from('n'), value: Buffer.from('123') },
      { key: Buffer.from('{"id":7}'), value: Buffer.from('{"x":[1,"two"]}') },
      { key: binary, value: binary },
      { key: Buffer.from('{"k":1}'), value: Buffer.from('"str"') },
      { key: Buffer.from('plain'), value: Buffer.from('{"d":true}') },
    ];

    // base64 shows the exact stored bytes.
    const asB64 = await fetchAll(name, 0, 0, '&key_format=base64&value_format=base64');
    expect(asB64.map((r) => [r.key, r.value])).toEqual(bytes.map((b) => [b.key.toString('base64'), b.value.toString('base64')]));
    expect(asB64.every((r) => r.key_encoding === undefined && r.value_encoding === undefined)).toBe(true);

    // string: UTF-8 text; the binary record falls back to base64, marked.
    const asStr = await fetchAll(name, 0, 0, '&key_format=string&value_format=string');
    expect(asStr.map((r) => [r.key, r.value])).toEqual([
      ['sk', 'hello world'],
      ['n', '123'],
      ['{"id":7}', '{"x":[1,"two"]}'],
      [binary.toString('base64'), binary.toString('base64')],
      ['{"k":1}', '"str"'],
      ['plain', '{"d":true}'],
    ]);
    expect(asStr.map((r) => [r.key_encoding ?? null, r.value_encoding ?? null])).toEqual([
      [null, null], [null, null], [null, null], ['base64', 'base64'], [null, null], [null, null],
    ]);

    // json (the default value format): non-JSON values come back base64, marked.
    const asJson = await fetchAll(name, 0, 0, '&key_format=json&value_format=json');
    expect(asJson.map((r) => [r.key, r.value])).toEqual([
      [b64('sk'), b64('hello world')],
      [b64('n'), 123],
      [{ id: 7 }, { x: [1, 'two'] }],
      [binary.toString('base64'), binary.toString('base64')],
      [{ k: 1 }, 'str'],
      [b64('plain'), { d: true }],
    ]);
    expect(asJson.map((r) => [r.key_encoding ?? null, r.value_encoding ?? null])).toEqual([
      ['base64', 'base64'], ['base64', null], [null, null], ['base64', 'base64'], [null, null], ['base64', null],
    ]);

    // Default fetch formats: key string, value json.
    const dflt = await fetchAll(name, 0);
    expect(dflt.map((r) => r.value)).toEqual([b64('hello world'), 123, { x: [1, 'two'] }, binary.toString('base64'), 'str', { d: true }]);
    expect(dflt[0]!.value_encoding).toBe('base64');
    expect(dflt[1]!.value_encoding).toBeUndefined();
  });

  it('values that do not match value_format/key_format → 400 INVALID_REQUEST, nothing stored', async () => {
    const name = uniq('fmtbad');
    await createTopic(name, 1);
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'seed' }] });
    const before = await snapshot(name);
    const bad = [
      { value_format: 'string', records: [{ value: 'ok' }, { value: 42 }] },
      { value_format: 'string', records: [{ value: { a: 1 } }] },
      { value_format: 'base64', records: [{ value: 'not base64!!' }] },
      { value_format: 'base64', records: [{ value: 'abc' }] },
      { key_format: 'base64', records: [{ key: '***', value: 1 }] },
      { key_format: 'string', records: [{ key: 5, value: 1 }] },
      { value_format: 'xml', records: [{ value: '<a/>' }] },
      { key_format: 'yaml', records: [{ key: 'a', value: 1 }] },
    ];
    for (const body of bad) expectError(await post(`/v1/topics/${name}/records`, body), 400, 'INVALID_REQUEST');
    for (const q of ['value_format=xml', 'key_format=yaml']) {
      expectError(await get(`/v1/topics/${name}/partitions/0/records?offset=0&${q}`), 400, 'INVALID_REQUEST');
    }
    expect(await snapshot(name)).toEqual(before);
  });
});

describe('ListOffsets', () => {
  it('earliest, latest and by timestamp (first offset whose timestamp ≥ ms), before and after the flush', async () => {
    const name = uniq('lo');
    await createTopic(name, 2);
    const empty = await get(`/v1/topics/${name}/partitions/1/offsets?timestamp=latest`);
    expect(empty.status).toBe(200);
    expect(empty.body.offset).toBe(0);
    expect(await get(`/v1/topics/${name}/partitions/1/offsets?timestamp=1000`).then((r) => r.body)).toEqual({ offset: 0, timestamp: null });

    // Separate requests (separate batches), timestamps out of order as Kafka allows.
    const ts = [[5000], [1000, 2000, 2000], [3000], [4000, 2500]];
    for (const group of ts) {
      const r = await post(`/v1/topics/${name}/records`, { records: group.map((t) => ({ value: t, timestamp: t, partition: 0 })) });
      expect(r.status).toBe(200);
    }
    // offsets: 0:5000 1:1000 2:2000 3:2000 4:3000 5:4000 6:2500
    const check = async (): Promise<void> => {
      const q = async (t: string) => {
        const r = await get(`/v1/topics/${name}/partitions/0/offsets?timestamp=${t}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body;
      };
      expect((await q('earliest')).offset).toBe(0);
      expect((await q('latest')).offset).toBe(7);
      expect(await q('0')).toEqual({ offset: 0, timestamp: 5000 });
      expect(await q('5000')).toEqual({ offset: 0, timestamp: 5000 });
      expect(await q('5001')).toEqual({ offset: 7, timestamp: null });
      // Offset 0's timestamp (5000) is already ≥ these: the first such offset is 0, not the
      // first record carrying the timestamp.
      expect(await q('1000')).toEqual({ offset: 0, timestamp: 5000 });
      expect(await q('2500')).toEqual({ offset: 0, timestamp: 5000 });
    };
    await check();

    // An in-order partition, so "first offset ≥ ms" differs from "max timestamp".
    const ordered = [1000, 2000, 2000, 3000, 5000];
    for (const t of ordered) await post(`/v1/topics/${name}/records`, { records: [{ value: t, timestamp: t, partition: 1 }] });
    const q1 = async (t: string) => (await get(`/v1/topics/${name}/partitions/1/offsets?timestamp=${t}`)).body;
    const checkOrdered = async (): Promise<void> => {
      expect(await q1('earliest')).toMatchObject({ offset: 0 });
      expect(await q1('latest')).toMatchObject({ offset: 5 });
      expect(await q1('999')).toEqual({ offset: 0, timestamp: 1000 });
      expect(await q1('1000')).toEqual({ offset: 0, timestamp: 1000 });
      expect(await q1('1001')).toEqual({ offset: 1, timestamp: 2000 });
      expect(await q1('2000')).toEqual({ offset: 1, timestamp: 2000 });
      expect(await q1('2500')).toEqual({ offset: 3, timestamp: 3000 });
      expect(await q1('4999')).toEqual({ offset: 4, timestamp: 5000 });
      expect(await q1('6000')).toEqual({ offset: 5, timestamp: null });
    };
    await checkOrdered();

    // After the flush the answers come from segments and their time index: unchanged.
    await waitForFlushed(name, 0, 7);
    await waitForFlushed(name, 1, 5);
    await check();
    await checkOrdered();

    expectError(await get(`/v1/topics/${name}/partitions/0/offsets?timestamp=yesterday`), 400, 'INVALID_REQUEST');
    expectError(await get(`/v1/topics/${name}/partitions/0/offsets?timestamp=-5`), 400, 'INVALID_REQUEST');
    expectError(await get(`/v1/topics/${name}/partitions/2/offsets?timestamp=earliest`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await get(`/v1/topics/${uniq('nope')}/partitions/0/offsets?timestamp=earliest`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
  });
});

describe('producer timestamps (issue 11 item 8)', () => {
  /** `batch` with its maxTimestamp (and, when asked, the LogAppendTime flag) set to a lie, CRC made valid again. */
  function lie(batch: Uint8Array, maxTimestamp: number, logAppendTime = false): Uint8Array {
    const out = new Uint8Array(batch);
    const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
    dv.setBigInt64(35, BigInt(maxTimestamp));
    if (logAppendTime) dv.setInt16(21, dv.getInt16(21) | 0x08);
    dv.setUint32(17, kafkajsCrc32C(Buffer.from(out.buffer, out.byteOffset + 21, out.byteLength - 21)));
    return out;
  }

  it('a batch maxTimestamp is recomputed from its records (as Kafka\'s LogValidator does), so ListOffsets and the stored bytes do not take the producer\'s word', async () => {
    const name = uniq('ts');
    await createTopic(name, 1);
    const rec = (v: string, timestamp: number): KjsRecord => ({ key: null, value: Buffer.from(v), headers: [], timestamp });
    // Understated: records up to 9000 in a batch that claims 1000 (ListOffsets would skip it).
    const low = lie(await kafkajsEncode([rec('a', 1000), rec('b', 9000), rec('c', 4000)]), 1000);
    // Overstated and flagged LogAppendTime: readers would take every record's time from the
    // far-future maxTimestamp, which would also pin retention.
    const high = lie(await kafkajsEncode([rec('d', 2000)]), 9_000_000_000_000, true);
    for (const b of [low, high]) {
      const r = await post(`/v1/topics/${name}/partitions/0/records`, b, { 'content-type': RECORD_BATCH });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const q = async (t: string) => (await get(`/v1/topics/${name}/partitions/0/offsets?timestamp=${t}`)).body;
    const check = async (): Promise<void> => {
      expect(await q('5000')).toEqual({ offset: 1, timestamp: 9000 });
      expect(await q('9001')).toEqual({ offset: 4, timestamp: null });
      const bin = await get(`/v1/topics/${name}/partitions/0/records?offset=0`, { accept: RECORD_BATCH });
      const batches = splitBatches(bin.raw);
      expect(batches.length).toBe(2);
      batches.forEach(expectValidCrc);
      const [d0, d1] = [await kafkajsDecode(batches[0]!), await kafkajsDecode(batches[1]!)];
      expect([Number(d0.maxTimestamp), Number(d1.maxTimestamp)]).toEqual([9000, 2000]);
      expect(new DataView(batches[1]!.buffer, batches[1]!.byteOffset).getInt16(21) & 0x08, 'timestamp type').toBe(0);
      const json = await get(`/v1/topics/${name}/partitions/0/records?offset=0`);
      expect(json.body.records.map((r: { timestamp: number }) => r.timestamp)).toEqual([1000, 9000, 4000, 2000]);
    };
    await check();
    // Segments and their time index are built from the same (corrected) batches.
    await waitForFlushed(name, 0, 4);
    await check();
  });
});

describe('error codes and bounds', () => {
  it('fetch: unknown topic/partition → 404; offset past the high watermark → 416 with bounds; bad parameters → 400', async () => {
    const name = uniq('err');
    await createTopic(name, 2);
    await post(`/v1/topics/${name}/records`, { records: [{ value: 1, partition: 0 }, { value: 2, partition: 0 }, { value: 3, partition: 0 }] });
    expectError(await get(`/v1/topics/${uniq('nope')}/partitions/0/records?offset=0`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await get(`/v1/topics/${name}/partitions/2/records?offset=0`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await get(`/v1/topics/${name}/partitions/99/offsets?timestamp=latest`), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    const oor = await get(`/v1/topics/${name}/partitions/0/records?offset=4`);
    expectError(oor, 416, 'OFFSET_OUT_OF_RANGE');
    expect(oor.body).toMatchObject({ log_start_offset: 0, high_watermark: 3 });
    const oor2 = await get(`/v1/topics/${name}/partitions/1/records?offset=1&wait_ms=100`);
    expectError(oor2, 416, 'OFFSET_OUT_OF_RANGE');
    expect(oor2.body).toMatchObject({ log_start_offset: 0, high_watermark: 0 });
    for (const q of ['offset=-1', 'offset=abc', 'offset=1.5', 'max_records=0', 'max_records=x', 'max_bytes=0', 'wait_ms=-1', 'wait_ms=600001']) {
      expectError(await get(`/v1/topics/${name}/partitions/0/records?${q}`), 400, 'INVALID_REQUEST');
    }
    expectError(await get(`/v1/topics/${name}/partitions/x/records?offset=0`), 400, 'INVALID_REQUEST');
    expectError(await get(`/v1/topics/${name}/partitions/-1/records?offset=0`), 400, 'INVALID_REQUEST');
  });

  it('offset below the log start (after retention) → 416 with log_start_offset and high_watermark', async () => {
    const name = uniq('ret');
    await createTopic(name, 1, { 'segment.bytes': 1024, 'retention.bytes': 2048 });
    for (let i = 0; i < 10; i++) {
      const r = await post(`/v1/topics/${name}/records`, { records: Array.from({ length: 3 }, (_, j) => ({ value: { i, j, pad: 'r'.repeat(200) } })) });
      expect(r.status).toBe(200);
    }
    let d: any;
    await waitFor(async () => (d = await describeTopic(name)).partitions[0].log_start_offset > 0, 20_000, 'retention never advanced the log start');
    const { log_start_offset: lso, high_watermark: hw } = d.partitions[0];
    expect(hw).toBe(30);
    const r = await get(`/v1/topics/${name}/partitions/0/records?offset=0`);
    expectError(r, 416, 'OFFSET_OUT_OF_RANGE');
    expect(r.body.log_start_offset).toBeGreaterThanOrEqual(lso);
    expect(r.body.high_watermark).toBe(30);
    const now = await describeTopic(name);
    const lso2 = now.partitions[0].log_start_offset;
    expect((await get(`/v1/topics/${name}/partitions/0/offsets?timestamp=earliest`)).body.offset).toBe(lso2);
    const rest = await fetchAll(name, 0, lso2);
    expect(rest.map((x) => x.offset)).toEqual(Array.from({ length: 30 - lso2 }, (_, i) => lso2 + i));
    expect(rest.map((x) => x.value.i * 3 + x.value.j)).toEqual(rest.map((x) => x.offset));
  }, 40_000);

  it('produce: unknown topic or partition → 404, and a request with one bad record stores nothing', async () => {
    const name = uniq('perr');
    await createTopic(name, 2);
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'seed', partition: 1 }] });
    const before = await snapshot(name);
    expectError(await post(`/v1/topics/${uniq('nope')}/records`, { records: [{ value: 1 }] }), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await post(`/v1/topics/${name}/records`, { records: [{ value: 1, partition: 0 }, { value: 2, partition: 2 }] }), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expect(await snapshot(name)).toEqual(before);
  });
});

describe('long poll', () => {
  it('a fetch at the high watermark returns promptly once another request produces', async () => {
    const name = uniq('lp');
    await createTopic(name, 1);
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'first' }] });
    const t0 = Date.now();
    const pending = get(`/v1/topics/${name}/partitions/0/records?offset=1&wait_ms=5000`);
    await new Promise((r) => setTimeout(r, 300));
    const produced = await post(`/v1/topics/${name}/records`, { records: [{ value: 'second' }] });
    expect(produced.status).toBe(200);
    const r = await pending;
    const elapsed = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(r.body.records.map((x: any) => [x.offset, x.value])).toEqual([[1, 'second']]);
    expect(r.body.high_watermark).toBe(2);
    expect(r.body.next_offset).toBe(2);
    expect(elapsed).toBeLessThan(2500);
  });

  it('without a produce it waits about wait_ms and returns no records', async () => {
    const name = uniq('lpidle');
    await createTopic(name, 1);
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'only' }] });
    const t0 = Date.now();
    const r = await get(`/v1/topics/${name}/partitions/0/records?offset=1&wait_ms=1200`);
    const elapsed = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ records: [], next_offset: 1, high_watermark: 1, log_start_offset: 0 });
    expect(elapsed).toBeGreaterThanOrEqual(1100);
    expect(elapsed).toBeLessThan(4000);
    // wait_ms=0 answers at once.
    const t1 = Date.now();
    const now = await get(`/v1/topics/${name}/partitions/0/records?offset=1&wait_ms=0`);
    expect(now.body.records).toEqual([]);
    expect(Date.now() - t1).toBeLessThan(1000);
  });

  it('a long poll on an empty partition is woken by a binary produce', async () => {
    const name = uniq('lpbin');
    await createTopic(name, 1);
    const pending = get(`/v1/topics/${name}/partitions/0/records?offset=0&wait_ms=5000&value_format=string`);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 200));
    const batch = await kafkajsEncode([{ key: null, value: Buffer.from('bin'), headers: [], timestamp: Date.now() }]);
    expect((await post(`/v1/topics/${name}/partitions/0/records`, batch, { 'content-type': RECORD_BATCH })).status).toBe(200);
    const r = await pending;
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(r.body.records.map((x: any) => x.value)).toEqual(['bin']);
  });
});

// --- binary ---------------------------------------------------------------------------------

function kjsRecords(tag: string, n: number, t0: number): KjsRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 3 === 0 ? null : Buffer.from(`${tag}-key-${i}`),
    value: i % 4 === 3 ? null : Buffer.from(JSON.stringify({ tag, i, pad: 'z'.repeat(i * 13) })),
    // (KafkaJS's encoder cannot write null header values.)
    headers: i % 2 === 0 ? [{ key: 'trace', value: Buffer.from(`${tag}-${i}`) }, { key: 'ünï', value: Buffer.from('çødé') }] : [],
    timestamp: t0 + i * 7,
  }));
}

describe('binary RecordBatch produce and fetch (KafkaJS interop)', () => {
  it('KafkaJS batches (plain and gzip) come back decodable by KafkaJS, CRCs valid, offsets as assigned, bytes kept', async () => {
    const name = uniq('bin');
    await createTopic(name, 2);
    const t0 = 1_700_000_000_000;
    const recsA = kjsRecords('a', 5, t0);
    const recsB = kjsRecords('b', 8, t0 + 1000);
    const recsC = kjsRecords('c', 3, t0 + 2000);
    // KafkaJS producers send arbitrary base offsets; the server assigns its own.
    const a = await kafkajsEncode(recsA, { baseOffset: 1234 });
    const b = await kafkajsEncode(recsB, { compression: GZIP });
    const c = await kafkajsEncode(recsC, { compression: GZIP, baseOffset: 99 });

    // JSON records first, so binary offsets do not start at 0.
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'j0', partition: 1 }, { value: 'j1', partition: 1 }] });
    const ra = await post(`/v1/topics/${name}/partitions/1/records`, a, { 'content-type': RECORD_BATCH });
    expect(ra.status, JSON.stringify(ra.body)).toBe(200);
    expect(ra.body).toEqual({ partition: 1, base_offset: 2, last_offset: 6 });
    // Two batches in one request.
    const bc = new Uint8Array([...b, ...c]);
    const rbc = await post(`/v1/topics/${name}/partitions/1/records`, bc, { 'content-type': RECORD_BATCH });
    expect(rbc.status, JSON.stringify(rbc.body)).toBe(200);
    expect(rbc.body).toEqual({ partition: 1, base_offset: 7, last_offset: 17 });
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'j18', partition: 1 }] });

    const verify = async (): Promise<void> => {
      const f = await get(`/v1/topics/${name}/partitions/1/records?offset=0`, { accept: RECORD_BATCH });
      expect(f.status).toBe(200);
      expect(f.headers.get('content-type')).toContain(RECORD_BATCH);
      expect(f.headers.get('x-high-watermark')).toBe('19');
      expect(f.headers.get('x-log-start-offset')).toBe('0');
      expect(f.headers.get('x-next-offset')).toBe('19');
      const batches = splitBatches(f.raw);
      const bases = batches.map((x) => Number(Buffer.from(x.buffer, x.byteOffset, 8).readBigInt64BE(0)));
      expect(bases).toContain(2);
      expect(bases).toContain(7);
      expect(bases).toContain(15);
      // The produced batches are kept byte for byte (from the magic byte on; the base offset is
      // assigned by the server, the partition leader epoch is the broker's to set).
      for (const [orig, base] of [[a, 2], [b, 7], [c, 15]] as const) {
        const stored = batches[bases.indexOf(base)]!;
        expect(stored.length).toBe(orig.length);
        expect(Buffer.from(stored.subarray(16)).equals(Buffer.from(orig.subarray(16)))).toBe(true);
        expect(Buffer.from(stored.subarray(8, 12)).equals(Buffer.from(orig.subarray(8, 12)))).toBe(true);
      }
      const decoded = await decodeAll(f.raw);
      expect(decoded.map((d) => d.offset)).toEqual(Array.from({ length: 19 }, (_, i) => i));
      const expectedRecs = [...recsA, ...recsB, ...recsC];
      expectedRecs.forEach((rec, i) => {
        const d = decoded[i + 2]!;
        expect(d.key).toEqual(rec.key === null ? null : Buffer.from(rec.key));
        expect(d.value).toEqual(rec.value === null ? null : Buffer.from(rec.value));
        expect(d.timestamp).toBe(rec.timestamp);
        const hdrs = Object.fromEntries(rec.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value)]));
        expect(d.headers).toEqual(hdrs);
      });
      expect(decoded[0]!.value!.toString()).toBe('"j0"');
      expect(decoded[18]!.value!.toString()).toBe('"j18"');

      // The same records through the JSON API.
      const json = await fetchAll(name, 1, 0, '&value_format=base64');
      expect(json.map((r) => r.offset)).toEqual(Array.from({ length: 19 }, (_, i) => i));
      expectedRecs.forEach((rec, i) => {
        const r = json[i + 2]!;
        expect(r.key).toBe(rec.key === null ? null : Buffer.from(rec.key).toString('utf8'));
        expect(r.value).toBe(rec.value === null ? null : Buffer.from(rec.value).toString('base64'));
        expect(r.timestamp).toBe(rec.timestamp);
        expect(r.headers).toEqual(rec.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value).toString('utf8') })));
      });

      // From the middle of a compressed batch: whole batches, the first may start before offset.
      const mid = await get(`/v1/topics/${name}/partitions/1/records?offset=10`, { accept: RECORD_BATCH });
      const midDecoded = await decodeAll(mid.raw);
      expect(midDecoded[0]!.offset).toBeLessThanOrEqual(10);
      expect(midDecoded.map((d) => d.offset)).toContain(10);
      expect(midDecoded[midDecoded.length - 1]!.offset).toBe(18);
      expect(mid.headers.get('x-next-offset')).toBe('19');
      // Paging with small max_bytes: whole batches, always from the one holding the requested
      // offset, so a consumer following x-next-offset / next_offset sees every offset once.
      for (const maxBytes of [1, 200, 700, 1500]) {
        const paged: number[] = [];
        for (let o = 0; o < 19; ) {
          const pg = await get(`/v1/topics/${name}/partitions/1/records?offset=${o}&max_bytes=${maxBytes}`, { accept: RECORD_BATCH });
          const recs = (await decodeAll(pg.raw)).filter((d) => d.offset >= o);
          expect(recs.length, `binary fetch at ${o} with max_bytes=${maxBytes}`).toBeGreaterThan(0);
          expect(recs[0]!.offset).toBe(o);
          paged.push(...recs.map((d) => d.offset));
          expect(Number(pg.headers.get('x-next-offset'))).toBe(recs[recs.length - 1]!.offset + 1);
          o = Number(pg.headers.get('x-next-offset'));
        }
        expect(paged, `binary pages with max_bytes=${maxBytes}`).toEqual(Array.from({ length: 19 }, (_, i) => i));
        const pagedJson: number[] = [];
        for (let o = 0; o < 19; ) {
          const pg = await get(`/v1/topics/${name}/partitions/1/records?offset=${o}&max_bytes=${maxBytes}`);
          expect(pg.body.records[0]?.offset, `JSON fetch at ${o} with max_bytes=${maxBytes}`).toBe(o);
          pagedJson.push(...pg.body.records.map((r: any) => r.offset));
          expect(pg.body.next_offset).toBe(pg.body.records[pg.body.records.length - 1].offset + 1);
          o = pg.body.next_offset;
        }
        expect(pagedJson, `JSON pages with max_bytes=${maxBytes}`).toEqual(Array.from({ length: 19 }, (_, i) => i));
      }
      // At the high watermark: an empty body with the headers.
      const end = await get(`/v1/topics/${name}/partitions/1/records?offset=19`, { accept: RECORD_BATCH });
      expect(end.status).toBe(200);
      expect(end.raw.length).toBe(0);
      expect(end.headers.get('x-high-watermark')).toBe('19');
      expect(end.headers.get('x-next-offset')).toBe('19');
    };
    await verify();
    await waitForFlushed(name, 1, 19);
    await verify();
  });

  it('corrupt CRC, truncated batches, garbage, empty bodies and wrong content types → 400/415, nothing stored', async () => {
    const name = uniq('binbad');
    await createTopic(name, 1);
    const good = await kafkajsEncode(kjsRecords('g', 4, Date.now()));
    expect((await post(`/v1/topics/${name}/partitions/0/records`, good, { 'content-type': RECORD_BATCH })).status).toBe(200);
    const before = await snapshot(name);

    const flipped = new Uint8Array(good);
    flipped[flipped.length - 3]! ^= 0x01;
    const badCrc = new Uint8Array(good);
    badCrc[18]! ^= 0xff;
    const gz = await kafkajsEncode(kjsRecords('gz', 6, Date.now()), { compression: GZIP });
    const gzFlipped = new Uint8Array(gz);
    gzFlipped[gzFlipped.length - 10]! ^= 0x40;
    const cases: Array<[string, Uint8Array, string]> = [
      ['payload bit flip', flipped, 'CORRUPT_MESSAGE'],
      ['crc field changed', badCrc, 'CORRUPT_MESSAGE'],
      ['gzip payload bit flip', gzFlipped, 'CORRUPT_MESSAGE'],
      ['truncated', good.subarray(0, good.length - 5), 'CORRUPT_MESSAGE'],
      ['header only', good.subarray(0, 30), 'CORRUPT_MESSAGE'],
      ['good then truncated', new Uint8Array([...good, ...good.subarray(0, 40)]), 'CORRUPT_MESSAGE'],
      ['good then corrupt', new Uint8Array([...good, ...flipped]), 'CORRUPT_MESSAGE'],
      ['garbage', new Uint8Array(Array.from({ length: 100 }, (_, i) => (i * 31) & 0xff)), 'CORRUPT_MESSAGE'],
      ['empty', new Uint8Array(0), 'CORRUPT_MESSAGE'],
    ];
    for (const [what, body, code] of cases) {
      const r = await post(`/v1/topics/${name}/partitions/0/records`, body, { 'content-type': RECORD_BATCH });
      expect({ what, status: r.status, code: r.body?.error_code }).toEqual({ what, status: 400, code });
    }
    const tx = await kafkajsEncode(kjsRecords('tx', 2, Date.now()), { transactional: true, producerId: 5, producerEpoch: 0, baseSequence: 0 });
    expect((await post(`/v1/topics/${name}/partitions/0/records`, tx, { 'content-type': RECORD_BATCH })).status).toBe(400);

    for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
      expectError(await post(`/v1/topics/${name}/partitions/0/records`, good, { 'content-type': type }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    // And JSON routes refuse batch bytes.
    expectError(await post(`/v1/topics/${name}/records`, good, { 'content-type': RECORD_BATCH }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // Binary route errors for unknown topic / partition.
    expectError(await post(`/v1/topics/${name}/partitions/1/records`, good, { 'content-type': RECORD_BATCH }), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expectError(await post(`/v1/topics/${uniq('nope')}/partitions/0/records`, good, { 'content-type': RECORD_BATCH }), 404, 'UNKNOWN_TOPIC_OR_PARTITION');
    expect(await snapshot(name)).toEqual(before);
  });
});

describe('size limits', () => {
  it('max.message.bytes → 413 RECORD_TOO_LARGE (JSON and binary), nothing stored; many small records are split into batches', async () => {
    const name = uniq('mmb');
    await createTopic(name, 1, { 'max.message.bytes': 1000 });
    await post(`/v1/topics/${name}/records`, { records: [{ value: 'seed' }] });
    const before = await snapshot(name);
    expectError(await post(`/v1/topics/${name}/records`, { records: [{ value: 'small' }, { value: 'L'.repeat(2000) }] }), 413, 'RECORD_TOO_LARGE');
    const big = await kafkajsEncode([{ key: null, value: Buffer.alloc(1500, 7), headers: [], timestamp: Date.now() }]);
    expectError(await post(`/v1/topics/${name}/partitions/0/records`, big, { 'content-type': RECORD_BATCH }), 413, 'RECORD_TOO_LARGE');
    expect(await snapshot(name)).toEqual(before);

    // 30 records of 100 bytes: more than one batch's worth, all accepted, in order.
    const many = await post(`/v1/topics/${name}/records`, { records: Array.from({ length: 30 }, (_, i) => ({ value: `${i}`.padEnd(100, '.') })) });
    expect(many.status).toBe(200);
    expect(many.body.offsets.map((o: any) => o.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const bin = await get(`/v1/topics/${name}/partitions/0/records?offset=1`, { accept: RECORD_BATCH });
    for (const batch of splitBatches(bin.raw)) expect(batch.length).toBeLessThanOrEqual(1000);
    expect((await decodeAll(bin.raw)).map((d) => d.offset)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));

    // Paging through several batches of one request and the next request with a max_bytes
    // that cuts inside the first request's batches: every offset, once, in order.
    expect((await post(`/v1/topics/${name}/records`, { records: [{ value: 'last' }] })).status).toBe(200);
    for (const maxBytes of [1, 1500, 2500]) {
      const seen: number[] = [];
      for (let o = 0; o < 32; ) {
        const pg = await get(`/v1/topics/${name}/partitions/0/records?offset=${o}&max_bytes=${maxBytes}`);
        expect(pg.body.records.length, `fetch at ${o} with max_bytes=${maxBytes}`).toBeGreaterThan(0);
        seen.push(...pg.body.records.map((r: any) => r.offset));
        o = pg.body.next_offset;
      }
      expect(seen, `pages with max_bytes=${maxBytes}`).toEqual(Array.from({ length: 32 }, (_, i) => i));
    }
  });

  it('a body over SAMSA_MAX_REQUEST_BYTES → 413, nothing stored', async () => {
    const name = uniq('mrb');
    await createTopic(name, 1, { 'max.message.bytes': 8 * 1024 * 1024 });
    const before = await snapshot(name);
    const huge = 'H'.repeat(MAX_REQUEST_BYTES + 1000);
    const r = await post(`/v1/topics/${name}/records`, { records: [{ value: huge }] });
    expectError(r, 413, 'RECORD_TOO_LARGE');
    const batch = await kafkajsEncode([{ key: null, value: Buffer.alloc(MAX_REQUEST_BYTES + 10, 1), headers: [], timestamp: Date.now() }]);
    expect((await post(`/v1/topics/${name}/partitions/0/records`, batch, { 'content-type': RECORD_BATCH })).status).toBe(413);
    expect(await snapshot(name)).toEqual(before);
    // Just under the limit is fine.
    const ok = await post(`/v1/topics/${name}/records`, { records: [{ value: 'h'.repeat(MAX_REQUEST_BYTES - 1000) }] });
    expect(ok.status).toBe(200);
  });

  it('a client still sending an oversized body gets the 413, not a reset connection', async () => {
    // The server decides from Content-Length before the body has arrived. Answering and closing
    // at once made fetch fail with EPIPE now and then (a few times in 40 on this machine); the
    // race is timing-dependent, so it is run many times.
    const name = uniq('slow');
    await createTopic(name, 1);
    const failures: string[] = [];
    for (let i = 0; i < 60; i++) {
      try {
        const res = await fetch(`${srv.url}/v1/topics/${name}/partitions/0/records`, {
          method: 'POST',
          headers: { 'content-type': RECORD_BATCH },
          body: Buffer.alloc(MAX_REQUEST_BYTES + 10 + (i % 3) * 3_000_000, 1),
        });
        const body = (await res.json()) as { error_code?: string };
        if (res.status !== 413 || body.error_code !== 'RECORD_TOO_LARGE') failures.push(`${res.status} ${JSON.stringify(body)}`);
      } catch (err) {
        failures.push(String((err as Error).cause ?? err));
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('bad inputs get 4xx and change nothing', () => {
  it('malformed bodies and invalid fields', async () => {
    const name = uniq('bad');
    await createTopic(name, 2);
    await post(`/v1/topics/${name}/records`, { records: [{ key: 'a', value: 1 }, { value: 2, partition: 1 }] });
    const before = await snapshot(name);
    const topicsBefore = (await get('/v1/topics')).body;
    const p = `/v1/topics/${name}/records`;
    const json = { 'content-type': 'application/json' };
    const cases: Array<[string, Promise<Res>, number, string]> = [
      ['not JSON', post(p, '{"records": [', json), 400, 'INVALID_REQUEST'],
      ['JSON but not an object', post(p, '[1,2]', json), 400, 'INVALID_REQUEST'],
      ['empty body', post(p, '', json), 400, 'INVALID_REQUEST'],
      ['no records', post(p, {}), 400, 'INVALID_REQUEST'],
      ['empty records', post(p, { records: [] }), 400, 'INVALID_REQUEST'],
      ['records not an array', post(p, { records: { value: 1 } }), 400, 'INVALID_REQUEST'],
      ['missing value', post(p, { records: [{ value: 1 }, { key: 'k' }] }), 400, 'INVALID_REQUEST'],
      ['negative partition', post(p, { records: [{ value: 1, partition: -1 }] }), 400, 'INVALID_REQUEST'],
      ['fractional partition', post(p, { records: [{ value: 1, partition: 0.5 }] }), 400, 'INVALID_REQUEST'],
      ['string timestamp', post(p, { records: [{ value: 1, timestamp: 'now' }] }), 400, 'INVALID_REQUEST'],
      ['negative timestamp', post(p, { records: [{ value: 1, timestamp: -5 }] }), 400, 'INVALID_REQUEST'],
      ['headers not an array', post(p, { records: [{ value: 1, headers: { a: 'b' } }] }), 400, 'INVALID_REQUEST'],
      ['header value a number', post(p, { records: [{ value: 1, headers: [{ key: 'a', value: 1 }] }] }), 400, 'INVALID_REQUEST'],
      ['header without key', post(p, { records: [{ value: 1, headers: [{ value: 'x' }] }] }), 400, 'INVALID_REQUEST'],
      ['producer incomplete', post(p, { producer: { id: 0 }, records: [{ value: 1 }] }), 400, 'INVALID_REQUEST'],
      ['topic create not JSON', post('/v1/topics', 'name=x', json), 400, 'INVALID_REQUEST'],
      ['patch not JSON', call('PATCH', `/v1/topics/${name}`, '{', json), 400, 'INVALID_REQUEST'],
    ];
    for (const [what, pr, status, code] of cases) {
      const r = await pr;
      expect({ what, status: r.status, code: r.body?.error_code }).toEqual({ what, status, code });
    }
    expect(await snapshot(name)).toEqual(before);
    expect((await get('/v1/topics')).body).toEqual(topicsBefore);
  });
});

// --- idempotent produce -----------------------------------------------------------------------

describe('idempotent produce', () => {
  it('a retried (id, epoch, sequence) returns the original offsets and writes nothing; gaps and old epochs → 409', async () => {
    const name = uniq('idem');
    await createTopic(name, 3);
    const prod = await post('/v1/producers', {});
    expect(prod.status).toBe(200);
    expect(prod.body).toEqual({ id: expect.any(Number), epoch: 0 });
    const other = await post('/v1/producers');
    expect(other.status).toBe(200);
    expect(other.body.id).not.toBe(prod.body.id);
    const { id } = prod.body;
    const body0 = {
      producer: { id, epoch: 0, sequence: 0 },
      records: [{ key: 'a', value: 1 }, { key: 'b', value: 2 }, { value: 3, partition: 2 }, { key: 'zz', value: 4 }],
    };
    const first = await post(`/v1/topics/${name}/records`, body0);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const hw1 = await hws(name);
    expect(hw1.reduce((a, b) => a + b, 0)).toBe(4);
    const snap1 = await snapshot(name);

    const retry = await post(`/v1/topics/${name}/records`, body0);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    // Concurrent retries too.
    const burst = await Promise.all(Array.from({ length: 5 }, () => post(`/v1/topics/${name}/records`, body0)));
    for (const r of burst) expect(r.body).toEqual(first.body);
    expect(await snapshot(name)).toEqual(snap1);

    const next = await post(`/v1/topics/${name}/records`, { producer: { id, epoch: 0, sequence: 1 }, records: [{ value: 'n', partition: 0 }] });
    expect(next.status).toBe(200);
    expect(next.body.offsets[0].offset).toBe(hw1[0]);
    const snap2 = await snapshot(name);

    const gap = await post(`/v1/topics/${name}/records`, { producer: { id, epoch: 0, sequence: 3 }, records: [{ value: 'gap', partition: 0 }] });
    expectError(gap, 409, 'OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(await snapshot(name)).toEqual(snap2);

    const bumped = await post('/v1/producers', { id });
    expect(bumped.status).toBe(200);
    expect(bumped.body).toEqual({ id, epoch: 1 });
    const fenced = await post(`/v1/topics/${name}/records`, { producer: { id, epoch: 0, sequence: 2 }, records: [{ value: 'old', partition: 0 }] });
    expectError(fenced, 409, 'INVALID_PRODUCER_EPOCH');
    expect(await snapshot(name)).toEqual(snap2);
    const fresh = await post(`/v1/topics/${name}/records`, { producer: { id, epoch: 1, sequence: 0 }, records: [{ value: 'new', partition: 0 }] });
    expect(fresh.status).toBe(200);
    expect(fresh.body.offsets[0].offset).toBe(hw1[0]! + 1);

    const unknown = await post(`/v1/topics/${name}/records`, { producer: { id: 987654321, epoch: 0, sequence: 0 }, records: [{ value: 'x', partition: 0 }] });
    expect(unknown.status).toBeGreaterThanOrEqual(400);
    expect(unknown.status).toBeLessThan(500);
  });

  it('a sequence reused on another topic is refused with 409 and writes nothing there', async () => {
    const [xa, xb] = [uniq('xa'), uniq('xb')];
    await createTopic(xa, 1);
    await createTopic(xb, 1);
    const { id, epoch } = (await post('/v1/producers', {})).body;
    const a = await post(`/v1/topics/${xa}/records`, { producer: { id, epoch, sequence: 0 }, records: [{ value: 'a' }] });
    expect(a.status).toBe(200);
    expectError(await post(`/v1/topics/${xb}/records`, { producer: { id, epoch, sequence: 0 }, records: [{ value: 'b' }] }), 409, 'OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(await hws(xb)).toEqual([0]);
    expect((await post(`/v1/topics/${xb}/records`, { producer: { id, epoch, sequence: 1 }, records: [{ value: 'b' }] })).body.offsets[0].offset).toBe(0);
  });

  it('binary batches with a producer id: a retried batch returns its original offsets', async () => {
    const name = uniq('idembin');
    await createTopic(name, 1);
    const { id, epoch } = (await post('/v1/producers', {})).body;
    const b0 = await kafkajsEncode(kjsRecords('p0', 3, Date.now()), { producerId: id, producerEpoch: epoch, baseSequence: 0 });
    const b1 = await kafkajsEncode(kjsRecords('p1', 2, Date.now()), { producerId: id, producerEpoch: epoch, baseSequence: 3, compression: GZIP });
    const h = { 'content-type': RECORD_BATCH };
    const r0 = await post(`/v1/topics/${name}/partitions/0/records`, b0, h);
    expect(r0.body).toEqual({ partition: 0, base_offset: 0, last_offset: 2 });
    expect((await post(`/v1/topics/${name}/partitions/0/records`, b0, h)).body).toEqual(r0.body);
    const r1 = await post(`/v1/topics/${name}/partitions/0/records`, b1, h);
    expect(r1.body).toEqual({ partition: 0, base_offset: 3, last_offset: 4 });
    expect((await post(`/v1/topics/${name}/partitions/0/records`, b1, h)).body).toEqual(r1.body);
    expect(await hws(name)).toEqual([5]);
    const gap = await kafkajsEncode(kjsRecords('p2', 1, Date.now()), { producerId: id, producerEpoch: epoch, baseSequence: 9 });
    expectError(await post(`/v1/topics/${name}/partitions/0/records`, gap, h), 409, 'OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(await hws(name)).toEqual([5]);
    expect((await decodeAll((await get(`/v1/topics/${name}/partitions/0/records?offset=0`, { accept: RECORD_BATCH })).raw)).map((d) => d.offset)).toEqual([0, 1, 2, 3, 4]);
  });
});

// --- helpers ----------------------------------------------------------------------------------

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${message} (after ${timeoutMs} ms)`);
}

/** Waits until the partition's segment files on disk hold `hw` offsets' worth of batches. */
async function waitForFlushed(topic: string, partition: number, hw: number): Promise<void> {
  const dir = path.join(srv.dataDir, 'objects', 'topics', topic, (await describeTopic(topic)).topic_id, String(partition));
  await waitFor(
    () => {
      if (!fs.existsSync(dir)) return false;
      let last = -1;
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.log')).sort()) {
        const bytes = fs.readFileSync(path.join(dir, f));
        let p = 0;
        while (p + 61 <= bytes.length) {
          const base = Number(bytes.readBigInt64BE(p));
          const len = bytes.readInt32BE(p + 8);
          if (p + 12 + len > bytes.length) break;
          last = Math.max(last, base + bytes.readInt32BE(p + 23));
          p += 12 + len;
        }
      }
      return last + 1 >= hw;
    },
    10_000,
    `${topic}/${partition} was not flushed to segment files`,
  );
  // The flush commits its metadata right after writing the bytes.
  await new Promise((r) => setTimeout(r, 300));
}
