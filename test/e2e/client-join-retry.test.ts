// A join whose response is lost after the server acted. The consumer retries the call (the
// network error is retriable); a join without a member id is not idempotent, so the retry made
// a second member. That ghost holds its share of the partitions until its session expires
// (30 s by default) and nothing is read from them meanwhile — and with auto_offset_reset=latest
// the records produced to them before the ghost expired are never delivered at all.
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { Samsa } from '../../lib/client';
import { jsonRequest, type ServerHandle, startServer } from '../helpers/server';
import { until } from '../helpers/wait';

let server: ServerHandle;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(() => vi.restoreAllMocks());

it('a join retried after its response was lost makes one member, and every partition is read', async () => {
  const samsa = new Samsa({ url: server.url });
  const admin = samsa.admin();
  await admin.createTopic({ topic: 'jr', numPartitions: 4 });

  // The first join reaches the server, which adds the member; the connection then drops.
  const real = globalThis.fetch;
  let dropped = false;
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const res = await real(input, init);
    if (!dropped && init?.method === 'POST' && String(input).endsWith('/v1/groups/jr-g/members')) {
      dropped = true;
      await res.arrayBuffer();
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    }
    return res;
  });

  const seen = new Set<string>();
  const consumer = samsa.consumer({ groupId: 'jr-g', maxWaitTimeInMs: 200 });
  await consumer.subscribe({ topic: 'jr', fromBeginning: true });
  await consumer.run({ eachMessage: async ({ partition, message }) => void seen.add(`${partition}:${message.offset}`) });
  try {
    await until('the join to be dropped', 10_000, () => dropped);
    const producer = samsa.producer({ lingerMs: 0 });
    await producer.send({ topic: 'jr', messages: Array.from({ length: 4 }, (_, p) => ({ partition: p, value: `v${p}` })) });
    await producer.disconnect?.();
    // Well inside the 30 s session a ghost member would hold its partitions for.
    await until('every partition read', 8_000, () => seen.size === 4).catch(() => undefined);
    const group = await jsonRequest<{ members: Array<{ member_id: string }> }>(server.url, 'GET', '/v1/groups/jr-g');
    expect({ members: group.members.length, delivered: [...seen].sort() }).toEqual({ members: 1, delivered: ['0:0', '1:0', '2:0', '3:0'] });
  } finally {
    await consumer.disconnect();
  }
}, 60_000);
