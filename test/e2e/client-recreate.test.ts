// A client consumer across its topic's deletion and re-creation. The client sends its position
// for every partition with each poll (`from`, so that an idle poll need not read the committed
// offsets); after a re-create that position is one in the old log. The server ignores it (the
// poll carries the generation the positions follow) and the member reads the new log from its
// beginning: no record of the new topic is skipped.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Samsa } from '../../lib/client';
import { type ServerHandle, startServer } from '../helpers/server';
import { until as waitUntil } from '../helpers/wait';

let server: ServerHandle;
let samsa: Samsa;
beforeAll(async () => {
  // Deletion finishes in the background job (5 s grace): run the jobs often.
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
    await until('the topic re-created', 30_000, async () => {
      try {
        await admin.createTopic({ topic, numPartitions: 1 });
        return true;
      } catch {
        return false; // 409 while the deletion is still finishing
      }
    });
    // A new producer: an idempotent one's sequences belong to the old incarnation.
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
