// A live tail whose connection goes silently dead (no FIN, no reset: test/helpers/tcp-proxy.ts
// freezes it) must not hang: the server writes keep-alive comments at the interval the client
// asks for (keepalive_ms, said back in X-Keepalive-Ms), and the client gives a connection up
// after that interval plus its request timeout without a byte, then resumes from the last
// offset it delivered — no record twice, none missing.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPartition, Samsa } from '../../lib/client';
import { REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

let server: ServerHandle;
let direct: Samsa;
const proxies: TcpProxy[] = [];
beforeAll(async () => {
  server = await startServer();
  direct = new Samsa({ url: server.url });
}, 60_000);
afterAll(async () => {
  for (const p of proxies) await p.close();
  await server?.stop();
});

async function proxy(): Promise<TcpProxy> {
  const p = await startTcpProxy(server.url);
  proxies.push(p);
  return p;
}

async function produce(topic: string, from: number, n: number): Promise<void> {
  const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value_format: 'string', records: Array.from({ length: n }, (_, i) => ({ value: `v${from + i}`, partition: 0 })) }),
  });
  expect(res.status).toBe(200);
}

describe('keepalive_ms on the live tail', () => {
  it('the server writes a keep-alive comment at the interval asked for and says it in X-Keepalive-Ms', async () => {
    await direct.admin().createTopic({ topic: 'keepalive' });
    const ac = new AbortController();
    const res = await fetch(`${server.url}/v1/topics/keepalive/partitions/0/records?follow=true&keepalive_ms=100`, { headers: { accept: 'text/event-stream' }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-keepalive-ms')).toBe('100');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const started = Date.now();
    while (Date.now() - started < 1000) text += (await reader.read()).value ?? '';
    ac.abort();
    // About ten in the second (the first wait of the log is 15 s: without them, one comment).
    expect(text.match(/^: keep-alive$/gm)?.length ?? 0).toBeGreaterThanOrEqual(5);

    const plain = await fetch(`${server.url}/v1/topics/keepalive/partitions/0/records?follow=true`, { headers: { accept: 'text/event-stream' } });
    expect(plain.headers.get('x-keepalive-ms')).toBe('15000');
    await plain.body!.cancel();

    for (const bad of ['0', '15001', 'soon', '-5']) {
      for (const accept of ['text/event-stream', 'application/json']) {
        const r = await fetch(`${server.url}/v1/topics/keepalive/partitions/0/records?follow=true&keepalive_ms=${bad}`, { headers: { accept } });
        expect(r.status, `${bad} ${accept}`).toBe(400);
        expect(await r.json()).toMatchObject({ error_code: 'INVALID_REQUEST' });
      }
    }
  });
});

describe('a tail on a half-open connection', () => {
  it('readPartition gives the dead connection up and goes on from where it was, without duplicates or gaps', async () => {
    await direct.admin().createTopic({ topic: 'half-open' });
    await produce('half-open', 0, 5);
    const p = await proxy();
    const client = new Samsa({ url: p.url, requestTimeout: 500, retry: { retries: 10, initialRetryTime: 20 } });
    const ac = new AbortController();
    const seen: number[] = [];
    let frozen = 0;
    let scheduled = false;
    const read = (async () => {
      for await (const chunk of readPartition(client.http, 'half-open', 0, 0, { follow: true, followWith: 'tail', keepAliveMs: 200, signal: ac.signal })) {
        seen.push(...chunk.messages.map((m) => m.offset));
        if (seen.length >= 10) return;
        if (seen.length === 5 && !scheduled) {
          scheduled = true;
          // Caught up: once the tail has opened, every connection dies silently, and records follow.
          setTimeout(() => {
            frozen = p.freeze();
            void produce('half-open', 5, 5);
          }, 500);
        }
      }
    })();
    const timeout = new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000).unref());
    const outcome = await Promise.race([read.then(() => 'done' as const), timeout]);
    ac.abort();
    await read.catch(() => undefined);
    expect(outcome).toBe('done');
    expect(frozen).toBeGreaterThan(0);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }, 30_000);

  it('samsa consume --follow --request-timeout-ms survives a connection that went silent', async () => {
    await direct.admin().createTopic({ topic: 'half-open-cli' });
    await produce('half-open-cli', 0, 3);
    const p = await proxy();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO_ROOT, 'bin/samsa.ts'), '--request-timeout-ms', '500', 'consume', 'half-open-cli', '--follow', '--from-beginning', '--print-offset', '--max-messages', '6'],
      { cwd: REPO_ROOT, env: { ...process.env, SAMSA_URL: p.url }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let froze = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!froze && stdout.split('\n').length > 3) {
        froze = true;
        // The tail opens once the reader caught up: give it a moment, then kill its connection silently.
        setTimeout(() => {
          p.freeze();
          void produce('half-open-cli', 3, 3);
        }, 1000);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const code = await new Promise<number | null>((r) => child.on('close', r));
    clearTimeout(timer);
    expect(stderr).toMatch(/Processed a total of 6 messages/);
    expect(code).toBe(0);
    expect(stdout).toBe(['0:0\tv0', '0:1\tv1', '0:2\tv2', '0:3\tv3', '0:4\tv4', '0:5\tv5', ''].join('\n'));
  }, 40_000);
});
