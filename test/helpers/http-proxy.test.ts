// The lost-response proxy forwards what it does not drop as the server answered it: status,
// headers and body — a HEAD's Content-Length included, which says the size of what a GET would
// send (S3's HeadObject: the object's size), not the length of the HEAD's empty body.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { startHttpProxy } from './http-proxy';

it('answers a HEAD with the upstream Content-Length, and a GET with the whole body', async () => {
  const upstream = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': '2452', etag: '"e"' });
    res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(2452, 7));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const proxy = await startHttpProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  try {
    const head = await fetch(`${proxy.url}/bucket/key`, { method: 'HEAD' });
    expect({ status: head.status, length: head.headers.get('content-length'), etag: head.headers.get('etag') }).toEqual({ status: 200, length: '2452', etag: '"e"' });
    const get = await fetch(`${proxy.url}/bucket/key`);
    expect({ length: get.headers.get('content-length'), bytes: (await get.arrayBuffer()).byteLength }).toEqual({ length: '2452', bytes: 2452 });
    expect(proxy.requests.map((r) => `${r.method} ${r.status} ${r.dropped}`)).toEqual(['HEAD 200 false', 'GET 200 false']);
  } finally {
    await proxy.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  }
});
