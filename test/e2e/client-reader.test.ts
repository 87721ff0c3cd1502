// The client reads a partition the cheapest way the server allows (issue 15), over real HTTP
// against the real app: bulk reads through the segments route's URLs when far behind (served by
// the embedded server, or presigned S3 GETs on the emulator), the fetch route for the unsealed
// tail, and, once caught up and following, the live tail (SSE) — or fetches with wait_ms where
// the deployment cannot stream (a buffered Lambda's limits).
import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient, readPartition, type ReadChunk, Samsa } from '../../lib/client';
import { createApp } from '../../lib/http/app';
import { mountGroupRoutes } from '../../lib/http/groups';
import { lambdaLimits, type RuntimeLimits } from '../../lib/http/limits';
import { LogEngine } from '../../lib/log/engine';
import { silentLogger } from '../../lib/obs/logger';
import { codecsReady } from '../../lib/records';
import { describeAws } from '../helpers/aws';
import { runSamsa } from '../helpers/cli';
import { awsStores, localStores, type TestStores } from '../helpers/stores';
import { startTcpProxy } from '../helpers/tcp-proxy';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

interface Harness {
  engine: LogEngine;
  http: HttpClient;
  /** Requests the server saw, by route kind. */
  seen: string[];
  close(): Promise<void>;
}

async function start(stores: TestStores, limits?: RuntimeLimits): Promise<Harness> {
  await codecsReady();
  const engine = new LogEngine(stores.meta, stores.objects, undefined, { inlineMaxBytes: 256, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } });
  const app = createApp({ engine, logger: silentLogger, ...(limits ? { limits } : {}), extend: (a) => void mountGroupRoutes(a, { engine }) });
  const seen: string[] = [];
  const server: ServerType = await new Promise((resolve) => {
    const s = serve(
      {
        fetch: (req) => {
          const u = new URL(req.url);
          if (/^\/v1\/groups\/[^/]+\/members\/[^/]+\/records$/.test(u.pathname)) seen.push(`poll wait_ms=${u.searchParams.get('wait_ms')}`);
          else seen.push(`${u.pathname.replace(/^\/v1\/topics\/[^/]+\/partitions\/\d+\//, '')}${u.searchParams.get('follow') === 'true' ? '?follow' : ''}`);
          return app.fetch(req);
        },
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s),
    );
  });
  const http = new HttpClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  return {
    engine,
    http,
    seen,
    close: async () => {
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      await new Promise((r) => server.close(r));
      await engine.close();
      await stores.cleanup();
    },
  };
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function fill(engine: LogEngine, n: number): Promise<void> {
  await engine.createTopic('t', 1, { 'segment.bytes': 4096 });
  for (let i = 0; i < n; i += 10) await engine.produce('t', Array.from({ length: 10 }, (_, j) => ({ key: null, value: enc(`v${i + j}`), headers: [{ key: 'h', value: enc(String(i + j)) }], partition: 0 })));
  await engine.flushAll();
  // Records after the flush stay in the unsealed tail: the fetch route's part.
  await engine.produce('t', [{ key: enc('k'), value: enc(`v${n}`), headers: [], partition: 0 }]);
}

async function collect(gen: AsyncGenerator<ReadChunk>, stopAt?: number): Promise<{ values: string[]; sources: Set<string>; offsets: number[] }> {
  const values: string[] = [];
  const offsets: number[] = [];
  const sources = new Set<string>();
  for await (const c of gen) {
    if (c.messages.length > 0) sources.add(c.source);
    for (const m of c.messages) {
      values.push(m.value!.toString());
      offsets.push(m.offset);
    }
    if (stopAt !== undefined && values.length >= stopAt) break;
  }
  return { values, sources, offsets };
}

function bulkSuite(open: () => Promise<TestStores>, presigned: boolean): void {
  it('far behind: bulk reads of the sealed segments, then fetches of the unsealed tail — exactly the log, in order', async () => {
    h = await start(await open());
    const N = 600;
    await fill(h.engine, N);
    const got = await collect(readPartition(h.http, 't', 0, 7, { bulkThresholdRecords: 100, maxBytes: 512 }));
    expect(got.offsets).toEqual(Array.from({ length: N + 1 - 7 }, (_, i) => i + 7));
    expect(got.values).toEqual(Array.from({ length: N + 1 - 7 }, (_, i) => `v${i + 7}`));
    expect(got.sources).toEqual(new Set(['fetch', 'bulk']));
    expect(h.seen.filter((s) => s === 'segments').length).toBeGreaterThan(0);
    // Presigned ranges go to the object store, not through the server; embedded ones do.
    expect(h.seen.some((s) => /^segments\/\d+\/log$/.test(s))).toBe(!presigned);
  });

  it('not far behind (or bulk off): the fetch route only', async () => {
    h = await start(await open());
    await fill(h.engine, 200);
    const got = await collect(readPartition(h.http, 't', 0, 150, { bulkThresholdRecords: 100 }));
    expect(got.offsets[0]).toBe(150);
    expect(got.values.at(-1)).toBe('v200');
    expect(got.sources).toEqual(new Set(['fetch']));
    expect(h.seen.filter((s) => s === 'segments')).toEqual([]);
  });
}

describe('client reads, embedded server', () => {
  bulkSuite(() => localStores('samsa-reader-'), false);

  it('following: records produced after the tail opened arrive over SSE, and the tail resumes where it stopped', async () => {
    h = await start(await localStores('samsa-reader-'));
    await h.engine.createTopic('t', 1);
    const abort = new AbortController();
    const gen = readPartition(h.http, 't', 0, 0, { follow: true, tailSessionMs: 1000, signal: abort.signal });
    const produced = (async () => {
      // Wait until the tail is open, then produce across several 1 s sessions.
      while (!h!.seen.includes('records?follow')) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 3; i++) {
        await h!.engine.produce('t', [{ key: null, value: enc(`live-${i}`), headers: [], partition: 0 }]);
        await new Promise((r) => setTimeout(r, 700));
      }
    })();
    const got = await collect(gen, 3);
    abort.abort();
    await produced;
    expect(got.values).toEqual(['live-0', 'live-1', 'live-2']);
    expect(got.offsets).toEqual([0, 1, 2]);
    expect(got.sources).toEqual(new Set(['tail']));
    // More than one session: each reconnect resumed from the last event id, nothing twice.
    expect(h.seen.filter((s) => s === 'records?follow').length).toBeGreaterThan(1);
  });

  it('following on a deployment that cannot stream (buffered Lambda limits): falls back to short polls', async () => {
    h = await start(await localStores('samsa-reader-'), lambdaLimits('function-url-buffered', { maxRequestBytes: 64 << 20, maxJsonRequestBytes: 6 << 20 }, 70_000));
    await h.engine.createTopic('t', 1);
    const abort = new AbortController();
    const gen = readPartition(h.http, 't', 0, 0, { follow: true, signal: abort.signal });
    setTimeout(() => void h!.engine.produce('t', [{ key: null, value: enc('late'), headers: [], partition: 0 }]), 300);
    const got = await collect(gen, 1);
    abort.abort();
    expect(got.values).toEqual(['late']);
    expect(got.sources).toEqual(new Set(['fetch']));
    expect(h.seen.filter((s) => s === 'records?follow')).toHaveLength(1);
  });
});

describe('group consumer: how an idle member waits follows the runtime', () => {
  const BUFFERED = lambdaLimits('function-url-buffered', { maxRequestBytes: 64 << 20, maxJsonRequestBytes: 6 << 20 }, 70_000);
  for (const [name, limits, expectWait] of [['Lambda (x-samsa-runtime: function-url-buffered): short polls, wait_ms=0 once a second', BUFFERED, '0'], ['Node server: long polls at the server', undefined, '1000']] as const) {
    it(name, async () => {
      h = await start(await localStores('samsa-reader-'), limits);
      await h.engine.createTopic('t', 6);
      const consumer = new Samsa({ url: h.http.base.origin }).consumer({ groupId: 'g' });
      await consumer.subscribe({ topic: 't' });
      const got: Array<{ value: string; at: number }> = [];
      await consumer.run({ eachMessage: async ({ message }) => void got.push({ value: message.value!.toString(), at: Date.now() }) });
      try {
        // Idle: let the member settle, then count its polls over 3 s.
        await new Promise((r) => setTimeout(r, 1500));
        const before = h.seen.length;
        await new Promise((r) => setTimeout(r, 3000));
        const polls = h.seen.slice(before).filter((x) => x.startsWith('poll '));
        expect(new Set(polls)).toEqual(new Set([`poll wait_ms=${expectWait}`]));
        // Short polls: about one a second (not a busy loop); long polls: about one a wait.
        expect(polls.length).toBeGreaterThanOrEqual(2);
        expect(polls.length).toBeLessThanOrEqual(5);
        // A record produced at idle is delivered within about a second either way.
        const producedAt = Date.now();
        await h.engine.produce('t', [{ key: null, value: enc('hello'), headers: [], partition: 4 }]);
        while (got.length === 0 && Date.now() - producedAt < 5000) await new Promise((r) => setTimeout(r, 20));
        expect(got.map((g) => g.value)).toEqual(['hello']);
        expect(got[0]!.at - producedAt).toBeLessThan(1500);
      } finally {
        await consumer.disconnect();
      }
    }, 30_000);
  }
});

describe('group consumer far behind: bulk reads between polls', () => {
  for (const [name, open, presigned] of [['embedded', () => localStores('samsa-reader-'), false], ['emulator, presigned S3 URLs', awsStores, true]] as const) {
    it(`${name}: every record once, in order, most of them from the segments`, async (ctx) => {
      if (presigned && !process.env.AWS_ENDPOINT_URL) return ctx.skip();
      h = await start(await open());
      const N = 600;
      await fill(h.engine, N);
      const consumer = new Samsa({ url: h.http.base.origin }).consumer({ groupId: 'bulk', bulkThresholdRecords: 100, maxBytesPerPartition: 512 });
      await consumer.subscribe({ topic: 't', fromBeginning: true });
      const offsets: number[] = [];
      const values: string[] = [];
      await consumer.run({
        eachMessage: async ({ message }) => {
          offsets.push(Number(message.offset));
          values.push(message.value!.toString());
        },
      });
      try {
        const until = Date.now() + 20_000;
        while (offsets.length < N + 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      } finally {
        await consumer.disconnect();
      }
      expect(offsets).toEqual(Array.from({ length: N + 1 }, (_, i) => i));
      expect(values.at(-1)).toBe(`v${N}`);
      const segmentCalls = h.seen.filter((x) => x === 'segments').length;
      const polls = h.seen.filter((x) => x.startsWith('poll ')).length;
      expect(segmentCalls).toBeGreaterThan(0);
      // 600 records at 512 bytes a poll would take dozens of polls; bulk reads take a few.
      expect(polls).toBeLessThan(20);
      expect(h.seen.some((x) => /^segments\/\d+\/log$/.test(x))).toBe(!presigned);
    }, 40_000);
  }
});

describe('a bulk read on a half-open connection', () => {
  it('is given up after the request timeout without a byte, and the read goes on: every record once, in order', async () => {
    h = await start(await localStores('samsa-reader-'));
    const N = 600;
    await fill(h.engine, N);
    const proxy = await startTcpProxy(h.http.base.origin);
    try {
      // The first GET of a segment's bytes goes out, and nothing ever comes back (no FIN, no reset).
      proxy.freezeOn(/^GET \/v1\/topics\/t\/partitions\/0\/segments\/\d+\/log/);
      const client = new HttpClient({ url: proxy.url, requestTimeout: 500, retry: { retries: 5, initialRetryTime: 20 } });
      const ac = new AbortController();
      const reading = collect(readPartition(client, 't', 0, 0, { bulkThresholdRecords: 100, maxBytes: 512, signal: ac.signal }));
      reading.catch(() => undefined);
      const got = await Promise.race([reading, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000).unref())]);
      ac.abort();
      expect(proxy.trapped).toBe(1);
      expect(got).not.toBe('hung');
      if (got === 'hung') return;
      expect(got.offsets).toEqual(Array.from({ length: N + 1 }, (_, i) => i));
      expect(got.sources.has('bulk')).toBe(true);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});

describe('samsa consume --follow', () => {
  it('prints records produced after it started, received over the live tail', async () => {
    h = await start(await localStores('samsa-reader-'));
    await h.engine.createTopic('t', 2);
    const run = runSamsa(['consume', 't', '--follow', '--max-messages', '2', '--print-offset'], { url: h.http.base.origin });
    // Both partitions' tails open (the CLI starts at the end, as Kafka's console consumer).
    while (h.seen.filter((x) => x === 'records?follow').length < 2) await new Promise((r) => setTimeout(r, 50));
    await h.engine.produce('t', [{ key: null, value: enc('a'), headers: [], partition: 0 }]);
    await h.engine.produce('t', [{ key: null, value: enc('b'), headers: [], partition: 1 }]);
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual(['0:0\ta', '1:0\tb']);
    expect(r.stderr).toContain('Processed a total of 2 messages');
  }, 45_000);
});

describeAws('client reads, emulator (presigned S3 URLs)', () => {
  bulkSuite(awsStores, true);
});
