// What a user of the client sees under faults and odd input: sends refused as a whole, quotas'
// Retry-After honoured, aborts that end waits, tails that resume, consumers that stop cleanly.
// Each case was a bug, reproduced against the real embedded server.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchPartition, HttpClient, readPartition, type ReadChunk, Samsa } from '../../lib/client';
import { type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
let samsa: Samsa;
beforeAll(async () => {
  server = await startServer();
  samsa = new Samsa({ url: server.url });
});
afterAll(async () => {
  await server?.stop();
});

const name = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

it('a send() that rejects over an invalid message writes none of its messages', async () => {
  const topic = name('atomic-send');
  await samsa.admin().createTopic({ topic, numPartitions: 1 });
  const producer = samsa.producer({ lingerMs: 0 });
  // messages[1] names a partition the topic does not have: the send is refused.
  await expect(producer.send({ topic, messages: [{ value: 'first' }, { value: 'second', partition: 7 }] })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  await expect(producer.send({ topic, messages: [{ value: 'ok' }, { value: 'bad-ts', timestamp: 'yesterday' }] })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  // A later, valid send.
  await producer.send({ topic, messages: [{ value: 'later' }] });
  await producer.disconnect();
  const r = await fetchPartition(samsa.http, topic, 0, 0);
  expect(r.messages.map((m) => m.value?.toString())).toEqual(['later']);
});

it("a send with a malformed value fails alone: other sends batched with it are written", async () => {
  const topic = name('poison');
  await samsa.admin().createTopic({ topic, numPartitions: 1 });
  const producer = samsa.producer({ lingerMs: 20 });
  const good = producer.send({ topic, messages: [{ value: 'good' }] });
  // A JavaScript caller (no type checks) passes a number, as KafkaJS users sometimes do.
  const bad = producer.send({ topic, messages: [{ value: 42 as unknown as string }] });
  const [g, b] = await Promise.allSettled([good, bad]);
  expect(b).toMatchObject({ status: 'rejected', reason: { code: 'INVALID_REQUEST' } });
  expect(g.status).toBe('fulfilled');
  await producer.disconnect();
  const r = await fetchPartition(samsa.http, topic, 0, 0);
  expect(r.messages.map((m) => m.value?.toString())).toEqual(['good']);
});

it('a producer over its producer_byte_rate waits as long as Retry-After says instead of failing the send', async () => {
  const KEYS = { admin: 'admin-secret-0123456789', writer: 'writer-secret-abcdef0123' };
  const quoted = await startServer({ env: { SAMSA_AUTH: 'keys', SAMSA_API_KEYS: `User:admin=${KEYS.admin},User:writer=${KEYS.writer}`, SAMSA_SUPER_USERS: 'User:admin' } });
  try {
    const admin = new Samsa({ url: quoted.url, auth: { mode: 'bearer', token: KEYS.admin } });
    const topic = name('quota');
    await admin.admin().createTopic({ topic, numPartitions: 1 });
    const put = (p: string, body: unknown) => admin.http.json('PUT', p, { json: body });
    await admin.http.json('POST', '/v1/acls', { json: { principal: 'User:writer', resource_type: 'topic', resource_name: topic, operation: 'write' } });
    await admin.http.json('POST', '/v1/acls', { json: { principal: 'User:writer', resource_type: 'topic', resource_name: topic, operation: 'describe' } });
    // 20 KB/s: each 120 KB send is six seconds of quota.
    await put('/v1/quotas', { principal: 'User:writer', producer_byte_rate: 20_000 });
    const writer = new Samsa({ url: quoted.url, auth: { mode: 'bearer', token: KEYS.writer } });
    const producer = writer.producer({ lingerMs: 0, idempotent: false });
    const value = 'x'.repeat(120_000);
    await producer.send({ topic, messages: [{ value }] });
    // The server answers 429 with Retry-After: 6; the client's own backoff (0.1 + 0.2 + 0.4 + 0.8 + 1.6 s) gives up first.
    await expect(producer.send({ topic, messages: [{ value }] })).resolves.toHaveLength(1);
    await producer.disconnect();
  } finally {
    await quoted.stop();
  }
}, 30_000);

/** A TCP pass-through to `port` whose open connections can be cut (a proxy or NAT dropping an idle stream). */
async function cuttable(port: number): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((c) => {
    const up = net.connect(port, '127.0.0.1');
    sockets.add(c).add(up);
    c.pipe(up).pipe(c);
    const done = () => (c.destroy(), up.destroy(), sockets.delete(c), sockets.delete(up));
    c.on('error', done).on('close', done);
    up.on('error', done).on('close', done);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    cut: () => sockets.forEach((s) => s.destroy()),
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), srv.close(() => r()))),
  };
}

it('readPartition with follow: a live tail whose connection drops resumes where it was, neither failing nor repeating records', async () => {
  const topic = name('tail-drop');
  await samsa.admin().createTopic({ topic, numPartitions: 1 });
  const producer = samsa.producer({ lingerMs: 0 });
  await producer.send({ topic, messages: [{ value: 'v0' }] });
  const proxy = await cuttable(server.port);
  const abort = new AbortController();
  const got: string[] = [];
  let failure: unknown;
  const reading = (async () => {
    for await (const c of readPartition(new HttpClient({ url: proxy.url }), topic, 0, 0, { follow: true, signal: abort.signal }) as AsyncGenerator<ReadChunk>) {
      for (const m of c.messages) got.push(`${m.offset}:${m.value}`);
    }
  })().catch((e: unknown) => (failure = e));
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok() && failure === undefined; i++) await new Promise((r) => setTimeout(r, 50));
  };
  try {
    await until(() => got.length === 1);
    await new Promise((r) => setTimeout(r, 300)); // the tail is open
    await producer.send({ topic, messages: [{ value: 'v1' }] });
    await until(() => got.length === 2);
    proxy.cut(); // the stream's connection drops (an idle timeout, a NAT, a restarting proxy)
    await new Promise((r) => setTimeout(r, 100));
    await producer.send({ topic, messages: [{ value: 'v2' }] });
    await until(() => got.length >= 3);
    expect(failure).toBeUndefined();
    expect(got).toEqual(['0:v0', '1:v1', '2:v2']);
  } finally {
    abort.abort();
    await reading;
    await proxy.close();
    await producer.disconnect();
  }
}, 20_000);

it('a consumer stopped and run again reads every partition at once (it does not leave a ghost of itself holding some)', async () => {
  const topic = name('restart');
  await samsa.admin().createTopic({ topic, numPartitions: 4 });
  const producer = samsa.producer({ lingerMs: 0 });
  const consumer = samsa.consumer({ groupId: `g-${topic}`, sessionTimeout: 30_000, maxWaitTimeInMs: 200 });
  await consumer.subscribe({ topic, fromBeginning: true });
  const seen = new Set<string>();
  const eachMessage = async ({ message }: { message: { value: Buffer | null } }) => void seen.add(message.value!.toString());
  await consumer.run({ eachMessage });
  await producer.send({ topic, messages: [0, 1, 2, 3].map((p) => ({ value: `a${p}`, partition: p })) });
  for (let i = 0; i < 100 && seen.size < 4; i++) await new Promise((r) => setTimeout(r, 50));
  expect(seen.size).toBe(4);
  await consumer.stop();
  // KafkaJS: a stopped consumer can be run again.
  await consumer.run({ eachMessage });
  await producer.send({ topic, messages: [0, 1, 2, 3].map((p) => ({ value: `b${p}`, partition: p })) });
  for (let i = 0; i < 160 && seen.size < 8; i++) await new Promise((r) => setTimeout(r, 50));
  const described = await samsa.admin().describeGroup(`g-${topic}`);
  try {
    expect([...seen].filter((v) => v.startsWith('b')).sort()).toEqual(['b0', 'b1', 'b2', 'b3']);
    expect(described.members).toHaveLength(1);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}, 30_000);

it('a request packing several batches, one of them over max.message.bytes, fails only that batch’s sends', async () => {
  const topic = name('packed');
  await samsa.admin().createTopic({ topic, numPartitions: 1, config: { 'max.message.bytes': 4096 } });
  const producer = samsa.producer({ lingerMs: 30, batchSize: 2048 });
  // Queued together: three small records, then one too large for the topic; the producer packs
  // them into one request of two batches.
  const small = (i: number) => producer.send({ topic, messages: [{ value: `s${i}`.padEnd(600, '.') }] });
  const settled = await Promise.allSettled([small(0), small(1), small(2), producer.send({ topic, messages: [{ value: 'x'.repeat(10_000) }] })]);
  await producer.disconnect();
  // As with Kafka's producer (one batch per partition per request): the large record's send
  // fails, and the small ones, valid on their own, are written.
  expect(settled[3]).toMatchObject({ status: 'rejected', reason: { code: 'RECORD_TOO_LARGE' } });
  expect(settled.slice(0, 3).map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  const r = await fetchPartition(samsa.http, topic, 0, 0);
  expect(r.messages.map((m) => m.value!.toString().slice(0, 2))).toEqual(['s0', 's1', 's2']);
});

it('disconnect() while the consumer backs off after failed polls returns at once, not after the backoff', async () => {
  const topic = name('outage');
  await samsa.admin().createTopic({ topic, numPartitions: 1 });
  // A proxy that fails every poll with 503 once `down` (the rest of the API works).
  let down = false;
  let polls = 0;
  const proxy = (await import('node:http')).createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (down && req.method === 'GET' && /\/members\/[^/]+\/records/.test(req.url ?? '')) {
          polls++;
          res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 'UNKNOWN_SERVER_ERROR', message: 'down' }));
          return;
        }
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<string, string>;
        const r = await fetch(server.url + req.url, { method: req.method, headers, ...(body ? { body } : {}) });
        const out = Buffer.from(await r.arrayBuffer());
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(out);
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const client = new Samsa({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, retry: { retries: 0 } });
  // The loop's backoff after a failed poll: 5 s (as it reaches after a few failures with the defaults, up to 25.6 s).
  const consumer = client.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 100, retry: { initialRetryTime: 5000, factor: 0 } });
  consumer.on('error', () => undefined);
  await consumer.subscribe({ topic });
  await consumer.run({ eachMessage: async () => undefined });
  try {
    down = true;
    for (let i = 0; i < 100 && polls === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(polls).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100)); // the loop is in its backoff
    down = false;
    const started = Date.now();
    await consumer.disconnect();
    expect(Date.now() - started).toBeLessThan(1500);
  } finally {
    await new Promise<void>((r) => (proxy.closeAllConnections(), proxy.close(() => r())));
  }
}, 20_000);

it('a request whose caller aborts it while it waits to retry ends at the abort, not after the wait', async () => {
  // A server answering 503 with Retry-After: 10 (a throttle, an overloaded deployment).
  const busy = (await import('node:http')).createServer((_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '10' }).end(JSON.stringify({ error_code: 'UNKNOWN_SERVER_ERROR', message: 'busy' }));
  });
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  try {
    const http = new HttpClient({ url: `http://127.0.0.1:${(busy.address() as AddressInfo).port}` });
    const abort = new AbortController();
    const started = Date.now();
    const read = fetchPartition(http, 't', 0, 0, { signal: abort.signal });
    setTimeout(() => abort.abort(), 300);
    await expect(read).rejects.toBeDefined();
    expect(Date.now() - started).toBeLessThan(1500);
  } finally {
    await new Promise<void>((r) => (busy.closeAllConnections(), busy.close(() => r())));
  }
}, 20_000);

it('a stopped consumer does not hold up its group: another member gets the partitions and reads them', async () => {
  const topic = name('stopped');
  await samsa.admin().createTopic({ topic, numPartitions: 2 });
  const groupId = `g-${topic}`;
  const a = samsa.consumer({ groupId, sessionTimeout: 30_000, maxWaitTimeInMs: 200 });
  await a.subscribe({ topic, fromBeginning: true });
  await a.run({ eachMessage: async () => undefined });
  for (let i = 0; i < 100 && a.assignment().length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  expect(a.assignment()).toHaveLength(2);
  await a.stop(); // not disconnected: KafkaJS's stop() leaves the group
  const b = samsa.consumer({ groupId, sessionTimeout: 30_000, maxWaitTimeInMs: 200 });
  await b.subscribe({ topic, fromBeginning: true });
  const seen = new Set<number>();
  await b.run({ eachMessage: async ({ partition }) => void seen.add(partition) });
  const producer = samsa.producer({ lingerMs: 0 });
  await producer.send({ topic, messages: [{ value: 'p0', partition: 0 }, { value: 'p1', partition: 1 }] });
  try {
    for (let i = 0; i < 160 && seen.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect([...seen].sort()).toEqual([0, 1]);
  } finally {
    await b.disconnect();
    await a.disconnect();
    await producer.disconnect();
  }
}, 30_000);
