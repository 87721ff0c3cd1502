// A client consumer across its topic's deletion and re-creation. The client sends its position
// for every partition with each poll (`from`, so that an idle poll need not read the committed
// offsets); after a re-create that position is one in the old log. The server ignores it (the
// poll carries the generation the positions follow) and the member reads the new log from its
// beginning: no record of the new topic is skipped.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchPartition, Samsa } from '../../lib/client';
import { type ServerHandle, startServer } from '../helpers/server';
import { until as waitUntil } from '../helpers/wait';

let server: ServerHandle;
let samsa: Samsa;
beforeAll(async () => {
  // A deleted incarnation's data goes in the background job (after a 5 s grace): run the jobs often.
  server = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '300' } });
  samsa = new Samsa({ url: server.url });
});
afterAll(async () => {
  await server?.stop();
});

const until = (what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> => waitUntil(what, ms, ok, () => server.output().slice(-2000));

it('a consumer reads a re-created topic from its beginning, not from its position in the old one', async () => {
  const topic = `rc-${Date.now().toString(36)}`;
  const admin = samsa.admin();
  await admin.createTopic({ topic, numPartitions: 1 });
  const producer = samsa.producer({ lingerMs: 0 });
  await producer.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ value: `old${i}` })) });

  const seen: string[] = [];
  const consumer = samsa.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 300 });
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(`${message.offset}:${message.value!.toString()}`) });
  try {
    await until('the old records', 20_000, () => seen.length === 5);
    await admin.deleteTopic(topic);
    await admin.createTopic({ topic, numPartitions: 1 }); // the name is free at once
    // A new producer (the old one would resend its first refused batch: the test below).
    const again = samsa.producer({ lingerMs: 0 });
    await again.send({ topic, messages: Array.from({ length: 3 }, (_, i) => ({ value: `new${i}` })) });
    await again.disconnect?.();
    await until('the new records', 20_000, () => seen.length >= 8);
    await new Promise((r) => setTimeout(r, 1000)); // nothing more comes
    expect(seen).toEqual(['0:old0', '1:old1', '2:old2', '3:old3', '4:old4', '0:new0', '1:new1', '2:new2']);
  } finally {
    await consumer.disconnect();
    await producer.disconnect?.();
  }
});

// The idempotent producer's sequences belong to the incarnation it wrote: the re-created
// topic's heads know no producer state, so its next batch (sequence ≠ 0) is refused with
// OUT_OF_ORDER_SEQUENCE_NUMBER. A refusal is final (nothing was written): the producer bumps its
// epoch (sequences restart at 0) and resends the batch itself, so no send() fails.
it('an idempotent producer keeps sending across its topic re-creation: every send resolves, each record once', async () => {
  const topic = `rp-${Date.now().toString(36)}`;
  const admin = samsa.admin();
  await admin.createTopic({ topic, numPartitions: 2 });
  const producer = samsa.producer({ lingerMs: 0, batchSize: 1 });
  try {
    // Keys spread over both partitions, so both advance their sequences in the old incarnation.
    const keys = Array.from({ length: 6 }, (_, i) => `k${i}`);
    await producer.send({ topic, messages: keys.map((key) => ({ key, value: `old-${key}` })) });
    await producer.send({ topic, messages: keys.map((key) => ({ key, value: `old2-${key}` })) });
    await admin.deleteTopic(topic);
    await admin.createTopic({ topic, numPartitions: 2 }); // the name is free at once
    // Sends that touch both partitions (both refused at once: one bump serves both). One record
    // per batch (batchSize 1), so the refused batch has batches queued behind it on its
    // partition, which must not overtake its resend: each partition reads in the order sent.
    const expected: string[][] = [[], []];
    const offsets: number[][] = [[], []];
    for (let round = 0; round < 3; round++) {
      const values = keys.map((key) => `new${round}-${key}`);
      const meta = await producer.send({ topic, messages: keys.map((key, i) => ({ key, value: values[i]! })) });
      expect(meta).toHaveLength(keys.length);
      meta.forEach((m, i) => {
        expected[m.partition]!.push(values[i]!);
        offsets[m.partition]!.push(m.offset);
      });
    }
    for (const partition of [0, 1]) {
      const f = await fetchPartition(samsa.http, topic, partition, 0);
      expect(f.messages.map((m) => m.value!.toString())).toEqual(expected[partition]);
      expect(f.messages.map((m) => m.offset)).toEqual(offsets[partition]); // the offsets send() reported
    }
  } finally {
    await producer.disconnect();
  }
});
