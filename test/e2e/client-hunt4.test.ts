// Client bugs found by review (wt-hunt4), each reproduced against the real embedded server.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchPartition, Samsa } from '../../lib/client';
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
