// What the binary single-record produce route answers, as a client of the real server sees it:
// the hot route's trimmed HTTP path (issue 18: hand-checked params, a response built with its
// headers as a plain object, the access log and metrics fed without per-request objects) must
// answer exactly as the documented route always did — status, headers, body, request id,
// runtime header, access-log fields and the request-duration series — and leave everything it
// does not accept to the validated route, whose error bodies are pinned here byte for byte.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRecordBatch } from '../../lib/records';
import { type ServerHandle, startServer } from '../helpers/server';

const RB = 'application/vnd.kafka.record-batch';
const ONE = encodeRecordBatch([{ key: null, value: Buffer.alloc(1024, 'x') }]);
let server: ServerHandle;

beforeAll(async () => {
  server = await startServer({ env: { SAMSA_LOG_LEVEL: 'info' } });
  const res = await fetch(`${server.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'fast', partitions: 2 }) });
  expect(res.status).toBe(201);
});
afterAll(async () => {
  await server?.stop();
});

/** One request over node:http, so the raw header lines are visible (fetch folds and sorts them). */
function raw(method: string, path: string, body: Uint8Array | string | undefined, headers: Record<string, string>): Promise<{ status: number; headers: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(server.url);
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body as string)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.rawHeaders, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Header names and values, lower-cased names, without the ones that vary per response. */
function headerMap(rawHeaders: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) out[rawHeaders[i]!.toLowerCase()] = rawHeaders[i + 1]!;
  return out;
}

async function waitForLine(id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const line = server.logLines().find((l) => l.request_id === id && l.msg === 'request');
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no access-log line for ${id}`);
}

describe('binary single-record produce over HTTP', () => {
  it('answers 200 with the offsets, the request id, the runtime and an exact length', async () => {
    const r = await raw('POST', '/v1/topics/fast/partitions/1/records', ONE, { 'content-type': RB, 'x-request-id': 'fast-1' });
    expect(r.status).toBe(200);
    const h = headerMap(r.headers);
    expect(JSON.parse(r.body)).toEqual({ partition: 1, base_offset: 0, last_offset: 0 });
    expect(h['content-type']).toBe('application/json');
    expect(h['content-length']).toBe(String(Buffer.byteLength(r.body)));
    expect(h['x-request-id']).toBe('fast-1');
    expect(h['x-samsa-runtime']).toBe('node');
    expect(h['connection']).toBe('keep-alive');
    expect(h['transfer-encoding']).toBeUndefined();
    // Nothing else: the same set of headers as the documented route always sent.
    expect(Object.keys(h).sort()).toEqual(['connection', 'content-length', 'content-type', 'date', 'keep-alive', 'x-request-id', 'x-samsa-runtime']);

    const line = await waitForLine('fast-1');
    expect(line).toMatchObject({ level: 'info', msg: 'request', method: 'POST', route: '/v1/topics/:topic/partitions/:partition/records', topic: 'fast', partition: '1', status: 200, request_id: 'fast-1', service: 'samsa' });
    expect(typeof line.duration_ms).toBe('number');
    expect(line.error_code).toBeUndefined();
  });

  it('answers the JSON produce route with the same headers', async () => {
    const r = await raw('POST', '/v1/topics/fast/records', JSON.stringify({ records: [{ value: { a: 1 }, partition: 1 }] }), { 'content-type': 'application/json', 'x-request-id': 'fast-json-1' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ offsets: [{ partition: 1, offset: 1, timestamp: expect.any(Number) }] });
    const h = headerMap(r.headers);
    expect(Object.keys(h).sort()).toEqual(['connection', 'content-length', 'content-type', 'date', 'keep-alive', 'x-request-id', 'x-samsa-runtime']);
    expect(h).toMatchObject({ 'content-type': 'application/json', 'x-request-id': 'fast-json-1', 'x-samsa-runtime': 'node', 'content-length': String(Buffer.byteLength(r.body)) });
  });

  it('gives a request without a sane id a fresh UUID, and offsets go on', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await raw('POST', '/v1/topics/fast/partitions/0/records', ONE, { 'content-type': `${RB}; charset=binary`, 'x-request-id': 'not sane!' });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ partition: 0, base_offset: i, last_offset: i });
      const id = headerMap(r.headers)['x-request-id']!;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(3);
    // The bytes stored are the bytes sent (a body that came with its headers: taken from the buffer).
    for (let i = 0; i < 3; i++) expect(await valueAt(0, i)).toBe('x'.repeat(1024));
  });

  it('counts every answer in the request-duration series of the route pattern, by status', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const count = (status: number) => Number(text.match(new RegExp(`^samsa_request_duration_seconds_count\\{route="POST /v1/topics/:topic/partitions/:partition/records",status="${status}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);
    expect(count(200)).toBeGreaterThanOrEqual(4);
    const before = count(404);
    const miss = await raw('POST', '/v1/topics/nope/partitions/0/records', ONE, { 'content-type': RB });
    expect(miss.status).toBe(404);
    const after = await (await fetch(`${server.url}/metrics`)).text();
    expect(Number(after.match(/^samsa_request_duration_seconds_count\{route="POST \/v1\/topics\/:topic\/partitions\/:partition\/records",status="404"\} (\d+)$/m)?.[1])).toBe(before + 1);
    expect(after).toMatch(/^samsa_errors_total\{error_code="UNKNOWN_TOPIC_OR_PARTITION"\} \d+$/m);
  });

  // What the hand check does not accept goes to the documented route: its answers, pinned.
  const cases: Array<[string, string, Record<string, string>, number, Record<string, unknown>]> = [
    ['a partition that is not a number', '/v1/topics/fast/partitions/x1/records', { 'content-type': RB }, 400, { error_code: 'INVALID_REQUEST', message: 'partition: partition must be a non-negative integer', field: 'partition' }],
    ['a signed partition', '/v1/topics/fast/partitions/+1/records', { 'content-type': RB }, 400, { error_code: 'INVALID_REQUEST', message: 'partition: partition must be a non-negative integer', field: 'partition' }],
    ['a topic name with a bad character', '/v1/topics/fa$t/partitions/0/records', { 'content-type': RB }, 400, { error_code: 'INVALID_TOPIC_EXCEPTION', message: "topic: a topic name may contain only ASCII letters, digits, '.', '_' and '-'", field: 'topic' }],
    ['an encoded slash in the topic name', '/v1/topics/a%2Fb/partitions/0/records', { 'content-type': RB }, 400, { error_code: 'INVALID_TOPIC_EXCEPTION', message: "topic: a topic name may contain only ASCII letters, digits, '.', '_' and '-'", field: 'topic' }],
    ['an empty partition', '/v1/topics/fast/partitions/%20/records', { 'content-type': RB }, 400, { error_code: 'INVALID_REQUEST', message: 'partition: partition must be a non-negative integer', field: 'partition' }],
    ['a partition the topic lacks', '/v1/topics/fast/partitions/7/records', { 'content-type': RB }, 404, { error_code: 'UNKNOWN_TOPIC_OR_PARTITION' }],
    ['a JSON content type', '/v1/topics/fast/partitions/0/records', { 'content-type': 'application/json' }, 415, { error_code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send record batches as application/vnd.kafka.record-batch, not application/json' }],
    ['no content type', '/v1/topics/fast/partitions/0/records', {}, 415, { error_code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send record batches as application/vnd.kafka.record-batch' }],
  ];
  for (const [what, path, headers, status, body] of cases) {
    it(`answers ${what} as the documented route does (${status})`, async () => {
      const id = `case-${status}-${Math.random().toString(36).slice(2, 8)}`;
      const r = await raw('POST', path, ONE, { ...headers, 'x-request-id': id });
      expect(r.status).toBe(status);
      const got = JSON.parse(r.body) as Record<string, unknown>;
      if (status === 404) expect(got).toMatchObject(body);
      else expect(got).toEqual(body);
      const h = headerMap(r.headers);
      expect(h['x-request-id']).toBe(id);
      expect(h['x-samsa-runtime']).toBe('node');
      expect(h['content-type']).toBe('application/json');
      const line = await waitForLine(id);
      expect(line).toMatchObject({ status, error_code: body.error_code, route: '/v1/topics/:topic/partitions/:partition/records', method: 'POST' });
    });
  }

  it('takes an octet-stream body as a batch, and a percent-encoded topic name as its decoded self', async () => {
    const r = await raw('POST', '/v1/topics/f%61st/partitions/0/records', ONE, { 'content-type': 'application/octet-stream' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ partition: 0 });
  });
  // The body is taken from the request stream when it arrived whole with the headers; every other
  // way a body can arrive still reads through the adapter. Each stores exactly the bytes sent.
  const valueAt = async (partition: number, offset: number): Promise<string> => {
    const res = await fetch(`${server.url}/v1/topics/fast/partitions/${partition}/records?offset=${offset}&max_records=1&value_format=string`);
    return ((await res.json()) as { records: Array<{ value: string }> }).records[0]!.value;
  };
  const batchOf = (value: string) => encodeRecordBatch([{ key: null, value: Buffer.from(value) }]);

  /** Raw bytes on a socket, in parts with pauses between them; the response's status line and body. */
  function sendInParts(parts: Array<Buffer | string>, pauseMs: number): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(server.url);
      const sock = net.connect(Number(u.port), u.hostname);
      let got = '';
      sock.on('data', (d) => {
        got += d.toString('latin1');
        const head = got.indexOf('\r\n\r\n');
        const len = /content-length: (\d+)/i.exec(got)?.[1];
        if (head >= 0 && len !== undefined && got.length >= head + 4 + Number(len)) {
          sock.destroy();
          resolve({ status: Number(got.slice(9, 12)), body: got.slice(head + 4, head + 4 + Number(len)) });
        }
      });
      sock.on('error', reject);
      sock.on('connect', async () => {
        for (const p of parts) {
          sock.write(p);
          await new Promise((r) => setTimeout(r, pauseMs));
        }
      });
    });
  }

  it('stores a body that arrives after its headers, in pieces', async () => {
    const batch = batchOf('arrived-late-' + 'y'.repeat(500));
    const head = `POST /v1/topics/fast/partitions/0/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${RB}\r\nContent-Length: ${batch.length}\r\nConnection: close\r\n\r\n`;
    const r = await sendInParts([head, Buffer.from(batch.subarray(0, 100)), Buffer.from(batch.subarray(100, 300)), Buffer.from(batch.subarray(300))], 30);
    expect(r.status).toBe(200);
    const { base_offset } = JSON.parse(r.body) as { base_offset: number };
    expect(await valueAt(0, base_offset)).toBe('arrived-late-' + 'y'.repeat(500));
  });

  it('stores a small body that came in two packets before the handler ran, and a chunked one', async () => {
    const batch = batchOf('two-packets');
    const head = `POST /v1/topics/fast/partitions/0/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${RB}\r\nContent-Length: ${batch.length}\r\nConnection: close\r\n\r\n`;
    const two = await sendInParts([Buffer.concat([Buffer.from(head), Buffer.from(batch.subarray(0, 20))]), Buffer.from(batch.subarray(20))], 5);
    expect(two.status).toBe(200);
    expect(await valueAt(0, (JSON.parse(two.body) as { base_offset: number }).base_offset)).toBe('two-packets');

    const chunked = batchOf('chunked-body');
    const r = await sendInParts(
      [`POST /v1/topics/fast/partitions/0/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${RB}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, `${chunked.length.toString(16)}\r\n`, Buffer.from(chunked), '\r\n0\r\n\r\n'],
      10,
    );
    expect(r.status).toBe(200);
    expect(await valueAt(0, (JSON.parse(r.body) as { base_offset: number }).base_offset)).toBe('chunked-body');
  });

  it('stores a batch larger than one socket read, and answers an empty body as before', async () => {
    const big = 'z'.repeat(300_000);
    const r = await raw('POST', '/v1/topics/fast/partitions/1/records', batchOf(big), { 'content-type': RB });
    expect(r.status).toBe(200);
    expect(await valueAt(1, (JSON.parse(r.body) as { base_offset: number }).base_offset)).toBe(big);
    const empty = await raw('POST', '/v1/topics/fast/partitions/1/records', '', { 'content-type': RB });
    expect(empty.status).toBe(400);
    expect(JSON.parse(empty.body)).toMatchObject({ error_code: 'CORRUPT_MESSAGE' });
  });
});

describe('binary produce under a quota, with authentication off', () => {
  let quoted: ServerHandle;
  beforeAll(async () => {
    quoted = await startServer({});
    const post = (path: string, method: string, body: unknown) => fetch(`${quoted.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/v1/topics', 'POST', { name: 'q', partitions: 1 })).status).toBe(201);
    expect((await post('/v1/quotas', 'PUT', { principal: 'User:ANONYMOUS', request_rate: 2 })).status).toBe(200);
  });
  afterAll(async () => {
    await quoted?.stop();
  });

  it('still throttles every request of the anonymous principal (429 with Retry-After)', async () => {
    const statuses: number[] = [];
    let throttled: Response | undefined;
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${quoted.url}/v1/topics/q/partitions/0/records`, { method: 'POST', headers: { 'content-type': RB }, body: ONE });
      statuses.push(res.status);
      if (res.status === 429) throttled ??= res;
      else await res.arrayBuffer();
    }
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBeLessThan(6);
    expect(throttled).toBeDefined();
    expect(await throttled!.json()).toMatchObject({ error_code: 'THROTTLING_QUOTA_EXCEEDED' });
    expect(Number(throttled!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(throttled!.headers.get('x-samsa-runtime')).toBe('node');
    expect(throttled!.headers.get('x-request-id')).toBeTruthy();
  });
});
