// samsa produce stopped by a bad line: what was read before it is still sent, and counted.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fetchPartition, Samsa } from '../../lib/client';
import { runSamsa } from '../helpers/cli';
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

it('produce: a bad line stops the run, but the lines read before it are stored and counted, not dropped at exit', async () => {
  const topic = `cli-bad-line-${Date.now().toString(36)}`;
  await samsa.admin().createTopic({ topic, numPartitions: 1 });
  const good = Array.from({ length: 50 }, (_, i) => JSON.stringify({ n: i }));
  const r = await runSamsa(['produce', topic, '--value-format', 'json'], { url: server.url, input: `${good.join('\n')}\n{not json\n` });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('line 51 is not valid JSON');
  const stored = await fetchPartition(samsa.http, topic, 0, 0);
  // Kafka's console producer closes (flushes) its producer on the way out: what it read is sent.
  expect(stored.messages.length).toBe(50);
  expect(r.stderr).toContain('50 stored');
});
