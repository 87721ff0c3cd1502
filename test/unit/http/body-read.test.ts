// A request body of declared length is checked against the limit from its Content-Length and
// read straight off the socket (lib/http/app.ts, limitBody): Hono's bodyLimit first touched
// `c.req.raw.body`, which on @hono/node-server builds a fetch Request around web streams, and
// the handler then read the body through them — a third of a single-record produce's
// allocations (issue 18). The limits answer as before: over the limit declared or chunked, a
// 413 RECORD_TOO_LARGE naming max_request_bytes.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { LogEngine } from '../../../lib/log/engine';
import { encodeRecordBatch } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { silentLogger } from '../../../lib/obs/logger';

const LIMIT = 64 * 1024;
let server: ServerType;
let port: number;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-body-'));

beforeAll(async () => {
  const engine = new LogEngine(new SqliteMetaStore({ path: ':memory:' }), new LocalObjectStore({ root: dir, fsync: false }));
  await engine.createTopic('t', 1);
  const app = createApp({ engine, maxRequestBytes: LIMIT, logger: silentLogger });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function send(body: Uint8Array, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/topics/t/partitions/0/records', headers: { 'content-type': 'application/vnd.kafka.record-batch', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('request bodies of declared length', () => {
  it('a produce builds no web stream around the socket', async () => {
    const batch = encodeRecordBatch([{ value: new Uint8Array(1024).fill(7) }]);
    const Original = globalThis.ReadableStream;
    let made = 0;
    globalThis.ReadableStream = new Proxy(Original, {
      construct(target, args, newTarget) {
        made++;
        return Reflect.construct(target, args, newTarget) as object;
      },
    });
    try {
      const r = await send(batch, { 'content-length': String(batch.length) });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ partition: 0, base_offset: 0, last_offset: 0 });
    } finally {
      globalThis.ReadableStream = Original;
    }
    expect(made).toBe(0);
  });

  it('over the limit, declared or chunked, is a 413 naming max_request_bytes', async () => {
    const big = new Uint8Array(LIMIT + 1);
    const declared = await send(big, { 'content-length': String(big.length) });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ error_code: 'RECORD_TOO_LARGE', max_request_bytes: LIMIT });
    const chunked = await send(big, { 'transfer-encoding': 'chunked' });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ error_code: 'RECORD_TOO_LARGE', max_request_bytes: LIMIT });
    // A chunked body within the limit is still read and stored.
    const batch = encodeRecordBatch([{ value: new Uint8Array(10) }]);
    const ok = await send(batch, { 'transfer-encoding': 'chunked' });
    expect(ok.status).toBe(200);
  });
});
