// The fault proxy's faults mean what the history says they mean: a lost response reached the
// server, a duplicated request reached it twice (and is reported with its op id), an error
// before forwarding never reached it, and a disabled proxy passes everything through.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy } from './proxy';

let hits: string[] = [];
let upstream: http.Server;
let target = '';

beforeAll(async () => {
  upstream = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      hits.push(`${req.method} ${req.url} ${body}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ n: hits.length }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  target = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

const always = (): number => 0; // every roll hits the first fault with a non-zero rate

describe('fault proxy', () => {
  it('loses the response of a request the server received', async () => {
    hits = [];
    const p = await startProxy(target, always, { dropResponse: 1 }, { kind: 'samsa' });
    await expect(fetch(`${p.url}/x`, { method: 'POST', body: 'a' })).rejects.toThrow();
    expect(hits).toEqual(['POST /x a']);
    expect(p.counts['drop-response']).toBe(1);
    await p.close();
  });

  it('forwards a duplicated request twice, answers with the second response and reports the op', async () => {
    hits = [];
    const dups: number[] = [];
    const p = await startProxy(target, always, { duplicate: 1 }, { kind: 'samsa', onDuplicate: (op) => dups.push(op) });
    const res = await fetch(`${p.url}/y`, { method: 'POST', body: 'b', headers: { 'x-history-op': '42' } });
    expect(await res.json()).toEqual({ n: 2 });
    expect(hits).toEqual(['POST /y b', 'POST /y b']);
    expect(dups).toEqual([42]);
    await p.close();
  });

  it.each([
    { fault: 'errorBefore', s3: [500, 'InternalError'], ddb: [500, 'InternalServerError'] },
    { fault: 'throttle', s3: [503, 'SlowDown'], ddb: [400, 'ProvisionedThroughputExceededException'] },
  ] as const)('$fault: answers before forwarding in the shape of the storage service', async ({ fault, s3: [s3Status, s3Code], ddb: [ddbStatus, ddbType] }) => {
    hits = [];
    const p = await startProxy(target, always, { [fault]: 1 }, { kind: 'storage' });
    const s3 = await fetch(`${p.url}/bucket/key`, { method: 'PUT', body: 'c' });
    expect(s3.status).toBe(s3Status);
    expect(await s3.text()).toContain(`<Code>${s3Code}</Code>`);
    const ddb = await fetch(`${p.url}/`, { method: 'POST', body: '{}', headers: { 'x-amz-target': 'DynamoDB_20120810.PutItem' } });
    expect(ddb.status).toBe(ddbStatus);
    expect(((await ddb.json()) as { __type: string }).__type).toContain(ddbType);
    expect(hits).toEqual([]);
    expect(p.counts[fault === 'errorBefore' ? 'error-before' : 'throttle']).toBe(2);
    await p.close();
  });

  // S3's HeadObject answers an object's size in Content-Length with no body; the SDK reads
  // ContentLength from it. Seed 482 (AWS): every HEAD through the storage proxy said 0 bytes,
  // so compose's source check refused a 2,452-byte first chunk for good ('object holds 0 bytes').
  it.each([
    { pass: 'a pass-through', setup: (p: { enabled: boolean }) => void p },
    { pass: 'disabled', setup: (p: { enabled: boolean }) => void (p.enabled = false) },
  ])('answers a HEAD with the upstream Content-Length ($pass)', async ({ setup }) => {
    const s3 = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': '2452', etag: '"e"' });
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(2452));
    });
    await new Promise<void>((r) => s3.listen(0, '127.0.0.1', () => r()));
    const p = await startProxy(`http://127.0.0.1:${(s3.address() as AddressInfo).port}`, () => 0.99, {}, { kind: 'storage' });
    setup(p);
    try {
      const head = await fetch(`${p.url}/bucket/key`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe('2452');
      expect(head.headers.get('etag')).toBe('"e"');
      const get = await fetch(`${p.url}/bucket/key`);
      expect((await get.arrayBuffer()).byteLength).toBe(2452);
    } finally {
      await p.close();
      await new Promise<void>((r) => s3.close(() => r()));
    }
  });

  it('passes everything through when disabled', async () => {
    hits = [];
    const p = await startProxy(target, always, { dropResponse: 1 }, { kind: 'samsa' });
    p.enabled = false;
    const res = await fetch(`${p.url}/z`);
    expect(res.status).toBe(200);
    expect(hits).toEqual(['GET /z ']);
    await p.close();
  });
});
