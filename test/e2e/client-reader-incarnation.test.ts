// A reader across its topic's deletion and re-creation. A deleted name is free at once (design
// note 0007), so between two fetches of one reader the name can come to hold another topic, whose
// offsets are another log's: the reader's position means nothing there. Like Kafka's fetch by
// topic id (KIP-516), a fetch names the incarnation it continues (`topic_id`, from the
// `x-samsa-topic-id` of an earlier answer) and another incarnation is 404 — never the new topic's
// records from the old topic's position, which silently skips the new topic's first records.
// Against a real `bin/serve.ts` (embedded), over real HTTP.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HttpClient, readPartition, type ReadChunk } from '../../lib/client';
import { jsonRequest, type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
let http: HttpClient;
beforeAll(async () => {
  server = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '300' } });
  http = new HttpClient({ url: server.url });
});
afterAll(async () => {
  await server?.stop();
});

const api = <T = Record<string, unknown>>(method: string, p: string, body?: unknown): Promise<T> => jsonRequest<T>(server.url, method, p, body);
const produce = (topic: string, prefix: string, n: number) => api('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: n }, (_, i) => ({ partition: 0, value: `${prefix}${i}` })) });
const text = (c: ReadChunk): string[] => c.messages.map((m) => m.value!.toString().replace(/^"|"$/g, ''));

async function recreate(topic: string, records: number): Promise<void> {
  await api('DELETE', `/v1/topics/${topic}`);
  await api('POST', '/v1/topics', { name: topic, partitions: 1 });
  await produce(topic, 'new', records);
}

it('fetch answers name their incarnation, and a fetch naming a deleted one is 404 with its topic_id', async () => {
  const topic = `inc-a-${Date.now().toString(36)}`;
  await api('POST', '/v1/topics', { name: topic, partitions: 1 });
  await produce(topic, 'old', 3);
  const { topic_id: oldId } = await api<{ topic_id: string }>('GET', `/v1/topics/${topic}`);
  for (const accept of ['application/json', 'application/vnd.kafka.record-batch']) {
    const res = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0&topic_id=${oldId}`, { headers: { accept } });
    expect(res.status, accept).toBe(200);
    expect(res.headers.get('x-samsa-topic-id'), accept).toBe(oldId);
  }
  await recreate(topic, 5);
  const { topic_id: newId } = await api<{ topic_id: string }>('GET', `/v1/topics/${topic}`);
  expect(newId).not.toBe(oldId);
  for (const path of [`partitions/0/records?offset=1&topic_id=${oldId}`, `partitions/0/segments?offset=1&topic_id=${oldId}`]) {
    const res = await fetch(`${server.url}/v1/topics/${topic}/${path}`);
    expect(res.status, path).toBe(404);
    expect(await res.json(), path).toMatchObject({ error_code: 'UNKNOWN_TOPIC_OR_PARTITION', topic_id: oldId, message: expect.stringContaining('deleted') });
  }
  const tail = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=1&follow=true&topic_id=${oldId}`, { headers: { accept: 'text/event-stream' } });
  expect(tail.status).toBe(404);
  // Without topic_id, and with the new one, the name's topic as always.
  const ok = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0&topic_id=${newId}`);
  expect(ok.status).toBe(200);
  expect(ok.headers.get('x-samsa-topic-id')).toBe(newId);
});

it('a reader whose topic is deleted and created again between two fetches fails, instead of reading the new topic from the old position', async () => {
  const topic = `inc-b-${Date.now().toString(36)}`;
  await api('POST', '/v1/topics', { name: topic, partitions: 1 });
  for (let i = 0; i < 4; i++) await produce(topic, `old${i}-`, 1);
  const reader = readPartition(http, topic, 0, 0, { maxBytes: 1, bulkThresholdRecords: Infinity });
  const first = await reader.next();
  expect(text(first.value as ReadChunk)).toEqual(['old0-0']);
  await recreate(topic, 10);
  const seen: string[] = [];
  const err = await (async () => {
    try {
      for (let n = await reader.next(); !n.done; n = await reader.next()) seen.push(...text(n.value));
    } catch (e) {
      return e as { code?: string; message?: string };
    }
    return undefined;
  })();
  expect(seen.filter((v) => v.startsWith('new'))).toEqual([]);
  expect(err?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  expect(err?.message).toMatch(/deleted/);
});

it('a follower on the live tail fails the same way when its topic is re-created under it', async () => {
  const topic = `inc-c-${Date.now().toString(36)}`;
  await api('POST', '/v1/topics', { name: topic, partitions: 1 });
  await produce(topic, 'old', 3);
  const ac = new AbortController();
  const seen: string[] = [];
  const reading = (async () => {
    try {
      for await (const c of readPartition(http, topic, 0, 0, { follow: true, tailSessionMs: 60_000, signal: ac.signal })) seen.push(...text(c));
    } catch (e) {
      return e as { code?: string; message?: string };
    }
    return undefined;
  })();
  const deadline = Date.now() + 10_000;
  while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(seen).toEqual(['old0', 'old1', 'old2']);
  await new Promise((r) => setTimeout(r, 300)); // the tail is open at offset 3
  await recreate(topic, 8);
  const timer = setTimeout(() => ac.abort(), 15_000);
  const err = await reading;
  clearTimeout(timer);
  expect(seen.filter((v) => v.startsWith('new'))).toEqual([]);
  expect(err?.code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
});

it('an empty or over-long topic_id is a 400 naming topic_id on every route that takes it, and deletes nothing', async () => {
  const topic = `inc-e-${Date.now().toString(36)}`;
  await api('POST', '/v1/topics', { name: topic, partitions: 1 });
  await produce(topic, 'v', 2);
  const { topic_id: id } = await api<{ topic_id: string }>('GET', `/v1/topics/${topic}`);
  for (const bad of ['', 'x'.repeat(65)]) {
    const q = `topic_id=${bad}`;
    const reads: Array<[string, RequestInit]> = [
      [`partitions/0/records?offset=0&${q}`, {}],
      [`partitions/0/records?offset=0&follow=true&${q}`, { headers: { accept: 'text/event-stream' } }],
      [`partitions/0/segments?offset=0&${q}`, {}],
      [`partitions/0/segments/0/log?${q}`, {}],
      [`?${q}`, { method: 'DELETE' }],
    ];
    for (const [path, init] of reads) {
      const res = await fetch(`${server.url}/v1/topics/${topic}${path.startsWith('?') ? '' : '/'}${path}`, init);
      const label = `${init.method ?? 'GET'} ${path.slice(0, 60)}`;
      expect(res.status, label).toBe(400);
      const body = (await res.json()) as { error_code: string; message: string };
      expect(body.error_code, label).toBe('INVALID_REQUEST');
      expect(body.message, label).toContain('topic_id');
    }
  }
  // The topic and its records are untouched.
  const after = await api<{ topic_id: string }>('GET', `/v1/topics/${topic}`);
  expect(after.topic_id).toBe(id);
  const res = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0`);
  expect(((await res.json()) as { records: unknown[] }).records).toHaveLength(2);
});
