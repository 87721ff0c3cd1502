// The live tail over Server-Sent Events, against the real server: records produced after the
// tail opened arrive as events whose id is the next offset, a reconnect with Last-Event-ID
// resumes exactly there, a session ends with an `end` event at its limit, and the client's
// follower outlives a server killed and restarted under it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, readPartition } from '../../lib/client';
import { jsonRequest, type ServerHandle, startServer } from '../helpers/server';
import { until } from '../helpers/wait';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
  await post('/v1/topics', { name: 'tail', partitions: 1 });
});
afterAll(async () => {
  await server?.stop();
});

async function post(p: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBeLessThan(300);
  return res.json();
}

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/** Reads SSE events off a response body as they come. */
function events(res: Response): { next(timeoutMs?: number): Promise<SseEvent> } {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  return {
    async next(timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const cut = buf.indexOf('\n\n');
        if (cut >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const ev: SseEvent = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const k = line.slice(0, i) as keyof SseEvent;
            ev[k] = (ev[k] ? `${ev[k]}\n` : '') + line.slice(i + 1).replace(/^ /, '');
          }
          if (Object.keys(ev).length > 0) return ev;
          continue;
        }
        if (Date.now() > until) throw new Error('no event in time');
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += dec.decode(value, { stream: true });
      }
    },
  };
}

const values = (ev: SseEvent) => (JSON.parse(ev.data!) as { records: Array<{ offset: number; value: unknown }> }).records.map((r) => [r.offset, r.value]);

describe('live tail (SSE)', () => {
  it('streams records produced after it opened, with id = next offset, and resumes from Last-Event-ID', async () => {
    await post('/v1/topics/tail/records', { records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }].map((r) => ({ ...r, partition: 0 })) });
    const ctl = new AbortController();
    const res = await fetch(`${server.url}/v1/topics/tail/partitions/0/records?offset=0&follow=true`, { headers: { accept: 'text/event-stream' }, signal: ctl.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const it = events(res);
    const first = await it.next();
    expect(first).toMatchObject({ event: 'records', id: '3' });
    expect(values(first)).toEqual([[0, 'a'], [1, 'b'], [2, 'c']]);

    // Produced while the tail waits: delivered as the next event.
    await post('/v1/topics/tail/records', { records: [{ value: 'd', partition: 0 }, { value: 'e', partition: 0 }] });
    const second = await it.next();
    expect(second.id).toBe('5');
    expect(values(second)).toEqual([[3, 'd'], [4, 'e']]);
    ctl.abort();

    // A reconnect that says it saw up to 4 gets offset 4 on, whatever the URL's offset says.
    const again = await fetch(`${server.url}/v1/topics/tail/partitions/0/records?offset=0&follow=true&max_session_ms=2000`, {
      headers: { accept: 'text/event-stream', 'last-event-id': '4' },
    });
    const it2 = events(again);
    const resumed = await it2.next();
    expect(values(resumed)).toEqual([[4, 'e']]);
    // The session ends cleanly at its limit, telling where to continue.
    const end = await it2.next(10_000);
    expect(end.event).toBe('end');
    expect(JSON.parse(end.data!)).toMatchObject({ next_offset: 5 });
  });

  it('answers an offset outside the log with the usual 416 before any stream opens', async () => {
    const res = await fetch(`${server.url}/v1/topics/tail/partitions/0/records?offset=999&follow=true`, { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(416);
    expect(await res.json()).toMatchObject({ error_code: 'OFFSET_OUT_OF_RANGE' });
    const bad = await fetch(`${server.url}/v1/topics/tail/partitions/0/records?follow=true`, { headers: { accept: 'text/event-stream', 'last-event-id': 'x' } });
    expect(bad.status).toBe(400);
  });

  // The fetch, segments and DELETE routes refuse a topic_id longer than any id (64 characters)
  // with 400 INVALID_REQUEST naming the field; the tail read it past its schema and answered 404
  // "was deleted" with the whole value echoed back in the message.
  it('refuses a topic_id that cannot be one with 400 naming the field, as the fetch route does', async () => {
    const long = 'x'.repeat(5000);
    for (const follow of [false, true]) {
      const res = await fetch(`${server.url}/v1/topics/tail/partitions/0/records?${follow ? 'follow=true&' : ''}topic_id=${long}`, { headers: { accept: 'text/event-stream' } });
      expect(res.status, `follow=${follow}`).toBe(400);
      expect(await res.json()).toMatchObject({ error_code: 'INVALID_REQUEST', field: 'topic_id' });
    }
  });
});

describe('a follower across a server restart', () => {
  it('the client follows on after kill -9 and a restart that takes seconds: every record once, in order', async () => {
    const own = await startServer();
    const call = (p: string, body: unknown) => jsonRequest(own.url, 'POST', p, body);
    await call('/v1/topics', { name: 'restart', partitions: 1 });
    await call('/v1/topics/restart/records', { records: [0, 1, 2].map((i) => ({ value: i, partition: 0 })) });
    const http = new HttpClient({ url: own.url });
    const seen: number[] = [];
    const abort = new AbortController();
    let failed: unknown;
    const reading = (async () => {
      for await (const chunk of readPartition(http, 'restart', 0, 0, { follow: true, signal: abort.signal })) for (const m of chunk.messages) seen.push(m.offset);
    })().catch((err: unknown) => void (failed = err));
    let again: ServerHandle | undefined;
    try {
      await until('the first records', 10_000, () => seen.length === 3);
      await own.kill('SIGKILL');
      // Down for a few seconds (a restart, a deploy): longer than one request's retries.
      await new Promise((r) => setTimeout(r, 4000));
      again = await startServer({ dataDir: own.dataDir, port: own.port });
      await jsonRequest(again.url, 'POST', '/v1/topics/restart/records', { records: [3, 4].map((i) => ({ value: i, partition: 0 })) });
      await until('the records after the restart', 30_000, () => seen.length >= 5 || failed !== undefined);
      expect(failed).toBeUndefined();
      expect(seen).toEqual([0, 1, 2, 3, 4]);
    } finally {
      abort.abort();
      await reading;
      await again?.stop();
    }
  }, 90_000);
});
