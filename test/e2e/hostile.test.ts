// Hostile input against the real server process (bin/serve.ts) over real HTTP: each input of
// issue 12 gets a clear 4xx naming the limit, the server stays up, and nothing is stored.
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../lib/records';
import { zigzag } from '../helpers/records';
import { type ServerHandle, startServer } from '../helpers/server';

const RECORD_BATCH = 'application/vnd.kafka.record-batch';
let srv: ServerHandle;
let seq = 0;
const uniq = (p: string): string => `${p}-${Date.now().toString(36)}-${(seq++).toString(36)}`;

beforeAll(async () => {
  srv = await startServer({ env: { SAMSA_ALLOWED_HOSTS: 'samsa.test', SAMSA_ALLOWED_ORIGINS: 'https://console.example' } });
});
afterAll(async () => {
  if (srv && !srv.exited) await srv.stop();
});

interface Res {
  status: number;
  body: any;
}

/** A raw request through node:http, so Host, Origin and Content-Type are exactly as given. */
function raw(method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? Buffer.from(body) : body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined;
    const req = http.request(
      { host: '127.0.0.1', port: srv.port, method, path, headers: { ...(data ? { 'content-length': String(data.length) } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode!, body: parsed });
        });
      },
    );
    // A 413 may be answered before the whole body is sent, and the socket then closed: the
    // write fails (EPIPE) but the answer still arrives, and it is what the test checks.
    req.on('error', (err) => setTimeout(() => reject(err), 500));
    if (data) req.write(data);
    req.end();
  });
}

const json = (method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Res> =>
  raw(method, path, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json', ...headers });

function expectError(res: Res, status: number, code: string, message?: RegExp): void {
  expect({ status: res.status, code: res.body?.error_code }, JSON.stringify(res.body).slice(0, 500)).toEqual({ status, code });
  if (message) expect(res.body.message).toMatch(message);
}

async function createTopic(name: string, partitions = 1): Promise<void> {
  const r = await json('POST', '/v1/topics', { name, partitions });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

async function hws(name: string): Promise<number[]> {
  const r = await raw('GET', `/v1/topics/${name}`);
  expect(r.status).toBe(200);
  return r.body.partitions.map((p: { high_watermark: number }) => p.high_watermark);
}

async function topicNames(): Promise<string[]> {
  return (await raw('GET', '/v1/topics')).body.topics.map((t: { name: string }) => t.name).sort();
}

/** A gzip RecordBatch v2 holding one record with `headers` empty headers, CRC correct. */
function headerFlood(headers: number): Uint8Array {
  const body = [0, 0, 0, 1, 1, ...zigzag(headers)];
  const len = body.length + headers * 2;
  const rec = Buffer.alloc(zigzag(len).length + len);
  Buffer.from([...zigzag(len), ...body]).copy(rec);
  for (let i = zigzag(len).length + body.length; i < rec.length; i += 2) rec[i + 1] = 1;
  const blob = zlib.gzipSync(rec, { level: 9 });
  const out = Buffer.alloc(61 + blob.length);
  out.writeBigInt64BE(0n, 0);
  out.writeInt32BE(out.length - 12, 8);
  out.writeInt32BE(-1, 12);
  out[16] = 2;
  out.writeInt16BE(1, 21);
  out.writeInt32BE(0, 23);
  out.writeBigInt64BE(1_700_000_000_000n, 27);
  out.writeBigInt64BE(1_700_000_000_000n, 35);
  out.writeBigInt64BE(-1n, 43);
  out.writeInt16BE(-1, 51);
  out.writeInt32BE(-1, 53);
  out.writeInt32BE(1, 57);
  blob.copy(out, 61);
  out.writeUInt32BE(crc32c(out, 21, out.length), 17);
  return out;
}

describe('hostile input → 4xx, nothing stored', () => {
  // Node's parser refuses these before any route runs; they used to get a bare 431/400.
  it.each([
    ['headers over 16 KiB', `GET /v1/topics HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['a malformed request line', 'GARBAGE\r\n\r\n', 400],
  ])('%s get a JSON error with an error_code, and the server stays up', async (_what, request, status) => {
    const text = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(srv.port, '127.0.0.1', () => sock.write(request));
      let out = '';
      sock.on('data', (c: Buffer) => (out += c.toString('utf8')));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
    expect(text.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}`);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    expect(body).toMatchObject({ error_code: 'INVALID_REQUEST', message: expect.stringMatching(status === 431 ? /16 KiB/ : /malformed/) });
    expect((await raw('GET', '/healthz')).status).toBe(200);
  });

  it('header floods in a few KiB of gzip are refused (2 million and 30 million headers)', async () => {
    const name = uniq('flood');
    await createTopic(name);
    const few = await raw('POST', `/v1/topics/${name}/partitions/0/records`, headerFlood(2_000_000), { 'content-type': RECORD_BATCH });
    expectError(few, 413, 'RECORD_TOO_LARGE', /2000000 headers; the limit is 1000 per record/);
    // 30 million headers are 60 MB decompressed: over the decompression limit before any count.
    const many = headerFlood(30_000_000);
    expect(many.length).toBeLessThan(128 * 1024);
    const r = await raw('POST', `/v1/topics/${name}/partitions/0/records`, many, { 'content-type': RECORD_BATCH });
    expectError(r, 413, 'RECORD_TOO_LARGE', /max_decompressed_bytes/);
    expect(await hws(name)).toEqual([0]);
    expect((await raw('GET', '/healthz')).status).toBe(200);
  });

  it('a JSON produce is bounded in records and in bytes before it is encoded', async () => {
    const name = uniq('json');
    await createTopic(name);
    const many = { records: Array.from({ length: 10_001 }, () => ({ value: 1 })) };
    expectError(await json('POST', `/v1/topics/${name}/records`, many), 400, 'INVALID_REQUEST', /at most 10000 records per request/);
    // 16.8 MB of tiny records took 1.4 GB before; now the body limit stops it unread.
    const big = `{"records":[${Array.from({ length: 950_000 }, () => '{"value":1234567}').join(',')}]}`;
    expect(big.length).toBeGreaterThan(16 * 1024 * 1024);
    const res = await fetch(`${srv.url}/v1/topics/${name}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    expectError({ status: res.status, body: await res.json() }, 413, 'RECORD_TOO_LARGE', /max_json_request_bytes/);
    // Values that grow when re-encoded (1e20 is 21 digits) are bounded by the same limit.
    const grow = `{"value_format":"json","records":[${Array.from({ length: 9_000 }, () => `{"value":[${Array(60).fill('1e20').join(',')}]}`).join(',')}]}`;
    expect(grow.length).toBeLessThan(6 * 1024 * 1024);
    expectError(await json('POST', `/v1/topics/${name}/records`, grow), 413, 'RECORD_TOO_LARGE', /encode to more than/);
    expect(await hws(name)).toEqual([0]);
  });

  it('deep JSON is a 400 naming the depth limit, in any body; a stored deep value is served as base64', async () => {
    const name = uniq('deep');
    await createTopic(name);
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    expectError(await json('POST', `/v1/topics/${name}/records`, `{"records":[{"value":${deep}}]}`), 400, 'INVALID_REQUEST', /deeper than 64 levels/);
    expectError(await json('POST', '/v1/topics', `{"name":"x","partitions":1,"config":${deep}}`), 400, 'INVALID_REQUEST', /max_json_depth/);
    // Brackets inside strings are data, not nesting.
    const ok = await json('POST', `/v1/topics/${name}/records`, { records: [{ value: '['.repeat(5000) }] });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    // A binary producer can store any bytes; reading them back as JSON must not overflow.
    const value = Buffer.from(deep);
    const batch = (await import('../../lib/records')).encodeRecordBatch([{ value }]);
    expect((await raw('POST', `/v1/topics/${name}/partitions/0/records`, batch, { 'content-type': RECORD_BATCH })).status).toBe(200);
    const f = await raw('GET', `/v1/topics/${name}/partitions/0/records?offset=1`);
    expect(f.status, JSON.stringify(f.body).slice(0, 300)).toBe(200);
    expect(f.body.records[0]).toMatchObject({ value: value.toString('base64'), value_encoding: 'base64' });
    expect(await hws(name)).toEqual([2]);
  });

  it('long and illegal topic names in paths and bodies are INVALID_TOPIC_EXCEPTION, never 500', async () => {
    const name = uniq('names');
    await createTopic(name);
    const before = await topicNames();
    // ("." and ".." never arrive as path segments: URL parsing resolves them, encoded or not.)
    for (const bad of ['x'.repeat(2000), 'a%20b', '%E2%98%83', 'a%00b', 'a:b', "a'b"]) {
      expectError(await raw('GET', `/v1/topics/${bad}`), 400, 'INVALID_TOPIC_EXCEPTION', /./);
      expectError(await raw('DELETE', `/v1/topics/${bad}`), 400, 'INVALID_TOPIC_EXCEPTION');
      expectError(await json('PATCH', `/v1/topics/${bad}`, { partitions: 2 }), 400, 'INVALID_TOPIC_EXCEPTION');
      expectError(await json('POST', `/v1/topics/${bad}/records`, { records: [{ value: 1 }] }), 400, 'INVALID_TOPIC_EXCEPTION');
      expectError(await raw('GET', `/v1/topics/${bad}/partitions/0/records`), 400, 'INVALID_TOPIC_EXCEPTION');
      expectError(await raw('GET', `/v1/topics/${bad}/partitions/0/offsets`), 400, 'INVALID_TOPIC_EXCEPTION');
      const b = await raw('POST', `/v1/topics/${bad}/partitions/0/records`, headerFlood(1), { 'content-type': RECORD_BATCH });
      expectError(b, 400, 'INVALID_TOPIC_EXCEPTION');
    }
    const long = 'x'.repeat(2000);
    const commit = await json('POST', `/v1/groups/${uniq('g')}/offsets`, { offsets: [{ topic: long, partition: 0, offset: 0 }] });
    expectError(commit, 400, 'INVALID_TOPIC_EXCEPTION');
    const reset = await json('POST', `/v1/groups/${uniq('g')}/offsets/reset`, { topic: long, to: 'earliest' });
    expectError(reset, 400, 'INVALID_TOPIC_EXCEPTION');
    // Group ids are bounded too (they become storage keys).
    expectError(await json('POST', `/v1/groups/${'g'.repeat(2000)}/offsets`, { offsets: [{ topic: name, partition: 0, offset: 0 }] }), 400, 'INVALID_REQUEST', /group must be 1-249/);
    expectError(await raw('GET', `/v1/groups/${'g'.repeat(2000)}`), 400, 'INVALID_REQUEST');
    expectError(await json('POST', `/v1/groups/${uniq('g')}/members/${'m'.repeat(2000)}/heartbeat`, {}), 400, 'INVALID_REQUEST', /member_id must be 1-128/);
    // One rule for group ids on every route (the coordinator has only ever taken these characters).
    expectError(await raw('GET', `/v1/groups/team%3Aprod`), 400, 'INVALID_REQUEST', /group must be 1-249 characters of \[A-Za-z0-9._-\]/);
    expectError(await raw('DELETE', `/v1/groups/${uniq('g')}/members/a%01b`), 400, 'INVALID_REQUEST', /member_id/);
    expect(await topicNames()).toEqual(before);
  });

  it('JSON routes answer 415 to every other body type, so simple cross-site POSTs cannot reach them', async () => {
    const before = await topicNames();
    const name = uniq('ct');
    const body = JSON.stringify({ name, partitions: 1 });
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
      expectError(await raw('POST', '/v1/topics', body, { 'content-type': type }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    expectError(await raw('POST', '/v1/topics', body), 415, 'UNSUPPORTED_MEDIA_TYPE', /no Content-Type/);
    expect(await topicNames()).toEqual(before);
    await createTopic(name);
    expectError(await raw('POST', `/v1/topics/${name}/records`, '{"records":[{"value":1}]}', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await raw('POST', `/v1/groups/${uniq('g')}/offsets/reset`, `{"topic":"${name}","to":"latest"}`, { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    expectError(await raw('POST', '/v1/producers', '{}', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    // An empty POST without a type still works where the body is optional.
    expect((await raw('POST', '/v1/producers')).status).toBe(200);
    expect(await hws(name)).toEqual([0]);
  });

  it('refuses Hosts outside the allow-list (DNS rebinding) and cross-site Origins', async () => {
    const before = await topicNames();
    const name = uniq('csrf');
    const create = (headers: Record<string, string>) => json('POST', '/v1/topics', { name, partitions: 1 }, headers);
    expectError(await create({ host: 'rebind.attacker.example' }), 403, 'NOT_AUTHORIZED', /SAMSA_ALLOWED_HOSTS/);
    expectError(await raw('GET', '/v1/topics', undefined, { host: `rebind.attacker.example:${srv.port}` }), 403, 'NOT_AUTHORIZED');
    expectError(await create({ origin: 'https://attacker.example' }), 403, 'NOT_AUTHORIZED', /SAMSA_ALLOWED_ORIGINS/);
    expectError(await create({ origin: 'null' }), 403, 'NOT_AUTHORIZED');
    // Another port on localhost is another origin.
    expectError(await create({ origin: `http://localhost:${srv.port + 1}`, host: `localhost:${srv.port}` }), 403, 'NOT_AUTHORIZED');
    expect(await topicNames()).toEqual(before);
    // Allowed: loopback names, configured hosts, same origin, configured origins, no Origin.
    expect((await raw('GET', '/v1/topics', undefined, { host: `localhost:${srv.port}` })).status).toBe(200);
    expect((await raw('GET', '/v1/topics', undefined, { host: `[::1]:${srv.port}` })).status).toBe(200);
    expect((await raw('GET', '/v1/topics', undefined, { host: 'samsa.test' })).status).toBe(200);
    expect((await raw('GET', '/v1/topics', undefined, { origin: `http://127.0.0.1:${srv.port}` })).status).toBe(200);
    expect((await create({ origin: 'https://console.example' })).status).toBe(201);
  });
});
