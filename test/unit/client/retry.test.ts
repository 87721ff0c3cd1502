// Retry policy: jittered exponential backoff; retried only when retriable — network errors,
// 429 THROTTLING and 5xx — never other 4xx; a produce retry resends the same bytes (same
// sequence) so the server can deduplicate it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoff, HttpClient, Producer, SamsaClientError, SamsaConnectionError, withRetry } from '../../../lib/client';
import { freePort } from '../../helpers/server';

describe('backoff', () => {
  it('grows by the multiplier, stays within ±factor, and is capped', () => {
    const o = { initialRetryTime: 100, factor: 0.2, multiplier: 2, maxRetryTime: 1000 };
    for (let a = 0; a < 6; a++) {
      const base = 100 * 2 ** a;
      expect(backoff(o, a, () => 0)).toBe(Math.min(1000, Math.round(base * 0.8)));
      expect(backoff(o, a, () => 1)).toBe(Math.min(1000, Math.round(base * 1.2)));
    }
  });

  it('withRetry retries retriable errors only, up to `retries` times', async () => {
    const waits: number[] = [];
    const hooks = { sleep: async (ms: number) => void waits.push(ms), random: () => 0.5 };
    let calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new SamsaClientError('THROTTLING', 'slow down', { retriable: true });
      }, { retries: 3, initialRetryTime: 10 }, hooks),
    ).rejects.toMatchObject({ code: 'THROTTLING' });
    expect(calls).toBe(4);
    expect(waits).toEqual([10, 20, 40]);
    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new SamsaClientError('INVALID_CONFIG', 'no');
      }, { retries: 3 }, hooks),
    ).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    expect(calls).toBe(1);
  });
});

describe('HttpClient retry policy against a scripted server', () => {
  let server: http.Server;
  let url = '';
  let script: Array<{ status: number; body: unknown }> = [];
  const bodies: Buffer[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        if (req.url === '/v1/producers') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 1, epoch: 0 }));
        if (req.url === '/v1/topics/t') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ partitions: [{ partition: 0 }] }));
        const next = script.shift() ?? { status: 200, body: { partition: 0, base_offset: 0, last_offset: 0 } };
        res.writeHead(next.status, { 'content-type': 'application/json' }).end(JSON.stringify(next.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = () => {
    const c = new HttpClient({ url, retry: { retries: 3, initialRetryTime: 1 } });
    return c;
  };

  it('retries 429 and 5xx, then succeeds', async () => {
    script = [
      { status: 429, body: { error_code: 'THROTTLING', message: 'slow down' } },
      { status: 503, body: { error_code: 'REQUEST_TIMED_OUT', message: 'busy' } },
      { status: 200, body: { ok: true } },
    ];
    expect(await client().json('GET', '/x')).toEqual({ ok: true });
    expect(script).toHaveLength(0);
  });

  it('does not retry other 4xx, and keeps the Kafka-style code and details', async () => {
    script = [
      { status: 416, body: { error_code: 'OFFSET_OUT_OF_RANGE', message: 'offset 9 is beyond', high_watermark: 3 } },
      { status: 200, body: { ok: true } },
    ];
    const err = await client().json('GET', '/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SamsaClientError);
    expect(err).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', status: 416, retriable: false, details: { high_watermark: 3 } });
    expect(script).toHaveLength(1);
    script = [];
  });

  it('a produce retried after a 5xx resends identical bytes (same sequence)', async () => {
    script = [{ status: 500, body: { error_code: 'UNKNOWN_SERVER_ERROR', message: 'internal error' } }];
    bodies.length = 0;
    const p = new Producer(client(), { lingerMs: 0 });
    const [m] = await p.send({ topic: 't', messages: [{ key: 'k', value: 'v' }] });
    expect(m).toMatchObject({ partition: 0, offset: 0 });
    const batches = bodies.filter((b) => b.length > 61);
    expect(batches).toHaveLength(2);
    expect(batches[0]!.equals(batches[1]!)).toBe(true);
  });

  it('an unreachable server is a retriable SamsaConnectionError after the retries', async () => {
    const port = await freePort();
    const c = new HttpClient({ url: `http://127.0.0.1:${port}`, retry: { retries: 1, initialRetryTime: 1 } });
    const err = await c.json('GET', '/healthz').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SamsaConnectionError);
    expect((err as SamsaConnectionError).retriable).toBe(true);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
  });
});
