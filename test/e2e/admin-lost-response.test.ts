// Admin calls whose response is lost after the server acted (test/helpers/http-proxy.ts drops it):
// the client tries again and must then tell the user what happened, not what the retry saw —
// a created topic is created (if it is the topic asked for), a deleted topic or group is gone,
// and a delete reports what it deleted, not the nothing its retry found.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, SamsaClientError } from '../../lib/client';
import { runSamsa } from '../helpers/cli';
import { type HttpProxy, startHttpProxy } from '../helpers/http-proxy';
import { type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
let proxy: HttpProxy;
/** Through the proxy, with quick retries. */
let client: Samsa;
/** Straight to the server, to set up and check. */
let direct: Samsa;
beforeAll(async () => {
  server = await startServer();
  proxy = await startHttpProxy(server.url);
  client = new Samsa({ url: proxy.url, retry: { retries: 3, initialRetryTime: 20 } });
  direct = new Samsa({ url: server.url });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

const dropped = (method: string, path: RegExp) => proxy.requests.filter((r) => r.dropped && r.method === method && path.test(r.path));

describe('admin calls after a lost response', () => {
  it('createTopic: the retry finds the topic it created and succeeds', async () => {
    proxy.dropResponses('POST', /^\/v1\/topics$/);
    const t = await client.admin().createTopic({ topic: 'lost-create', numPartitions: 3, config: { 'retention.ms': 3_600_000 } });
    expect(t).toMatchObject({ name: 'lost-create', partitions: 3 });
    expect(t.config['retention.ms']).toBe(3_600_000);
    expect(dropped('POST', /^\/v1\/topics$/).map((r) => r.status)).toEqual([201]);
    expect((await direct.admin().describeTopic('lost-create')).partitions).toHaveLength(3);
  });

  it('createTopic: a topic that existed before and differs from what was asked is TOPIC_ALREADY_EXISTS', async () => {
    await direct.admin().createTopic({ topic: 'lost-create-other', numPartitions: 1 });
    proxy.dropResponses('POST', /^\/v1\/topics$/);
    const partitions = await client.admin().createTopic({ topic: 'lost-create-other', numPartitions: 4 }).catch((e: unknown) => e);
    expect(partitions).toBeInstanceOf(SamsaClientError);
    expect((partitions as SamsaClientError).code).toBe('TOPIC_ALREADY_EXISTS');
    proxy.dropResponses('POST', /^\/v1\/topics$/);
    const config = await client.admin().createTopic({ topic: 'lost-create-other', numPartitions: 1, config: { 'retention.ms': 60_000 } }).catch((e: unknown) => e);
    expect((config as SamsaClientError).code).toBe('TOPIC_ALREADY_EXISTS');
    // Heard at once (nothing lost), an existing topic is TOPIC_ALREADY_EXISTS even when it matches.
    const again = await client.admin().createTopic({ topic: 'lost-create-other', numPartitions: 1 }).catch((e: unknown) => e);
    expect((again as SamsaClientError).code).toBe('TOPIC_ALREADY_EXISTS');
  });

  it('samsa topics create through a connection that drops the answer still says it created the topic', async () => {
    proxy.dropResponses('POST', /^\/v1\/topics$/);
    const r = await runSamsa(['topics', 'create', 'lost-cli', '--partitions', '2'], { url: proxy.url });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Created topic "lost-cli" with 2 partitions.\n');
  });

  it('deleteTopic: the retry finds it gone and succeeds', async () => {
    await direct.admin().createTopic({ topic: 'lost-delete' });
    proxy.dropResponses('DELETE', /^\/v1\/topics\/lost-delete(\?|$)/);
    await expect(client.admin().deleteTopic('lost-delete')).resolves.toBeUndefined();
    expect(dropped('DELETE', /lost-delete/).map((r) => r.status)).toEqual([204]);
    expect(await direct.admin().listTopics()).not.toContain('lost-delete');
    // A topic that never existed is still an error.
    await expect(client.admin().deleteTopic('never-was')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });

  // The name of a deleted topic is free at once: between the lost answer and the retry, another
  // client may create the topic again and write to it. The retry is of the deletion of the topic
  // this call found, not of whatever holds the name by then (Kafka's DeleteTopics by topic id).
  it('deleteTopic: the retry after a lost answer leaves a topic created under the name meanwhile, and its records, alone', async () => {
    const topic = 'lost-delete-recreated';
    await direct.admin().createTopic({ topic });
    proxy.dropResponses('DELETE', new RegExp(`^/v1/topics/${topic}(\\?|$)`), 1, async () => {
      await direct.admin().createTopic({ topic, numPartitions: 2 });
      const producer = direct.producer({ lingerMs: 0 });
      await producer.send({ topic, messages: [{ value: 'kept', partition: 1 }] });
      await producer.disconnect();
    });
    await expect(client.admin().deleteTopic(topic)).resolves.toBeUndefined();
    expect(dropped('DELETE', new RegExp(topic)).map((r) => r.status)).toEqual([204]);
    const now = await direct.admin().describeTopic(topic);
    expect(now.partitions.map((p) => p.highWatermark)).toEqual([0, 1]);
  });

  it('DELETE ?topic_id= of an earlier incarnation is 404 and leaves the topic now under the name', async () => {
    const topic = 'delete-by-id';
    await direct.admin().createTopic({ topic });
    const first = (await direct.admin().describeTopic(topic)).topicId;
    await direct.admin().deleteTopic(topic);
    await direct.admin().createTopic({ topic });
    const res = await fetch(`${server.url}/v1/topics/${topic}?topic_id=${first}`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error_code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    const second = (await direct.admin().describeTopic(topic)).topicId;
    expect(second).not.toBe(first);
    const bad = await fetch(`${server.url}/v1/topics/${topic}?topic_id=${'x'.repeat(100)}`, { method: 'DELETE' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error_code: 'INVALID_REQUEST' });
    expect((await direct.admin().describeTopic(topic)).topicId).toBe(second);
    expect((await fetch(`${server.url}/v1/topics/${topic}?topic_id=${second}`, { method: 'DELETE' })).status).toBe(204);
    expect(await direct.admin().listTopics()).not.toContain(topic);
  });

  it('deleteGroup: the retry finds it gone and succeeds', async () => {
    await direct.admin().createTopic({ topic: 'lost-group-topic' });
    await direct.admin().setOffsets({ groupId: 'lost-group', topic: 'lost-group-topic', partitions: [{ partition: 0, offset: 0 }] });
    proxy.dropResponses('DELETE', /^\/v1\/groups\/lost-group$/);
    await expect(client.admin().deleteGroup('lost-group')).resolves.toBeUndefined();
    expect(dropped('DELETE', /^\/v1\/groups\/lost-group$/).map((r) => r.status)).toEqual([204]);
    expect((await direct.admin().listGroups()).map((g) => g.group)).not.toContain('lost-group');
  });

  it('deleteAcls: reports the bindings the lost attempt deleted, not the 0 its retry found', async () => {
    for (const operation of ['read', 'write'] as const) await direct.admin().createAcls([{ principal: 'User:lost', resource_type: 'topic', resource_name: 'x', operation }]);
    await direct.admin().createAcls([{ principal: 'User:kept', resource_type: 'topic', resource_name: 'x', operation: 'read' }]);
    proxy.dropResponses('DELETE', /^\/v1\/acls$/);
    expect(await client.admin().deleteAcls({ principal: 'User:lost' })).toBe(2);
    expect(dropped('DELETE', /^\/v1\/acls$/).map((r) => r.status)).toEqual([200]);
    expect(await direct.admin().describeAcls({ resource_name: 'x' })).toHaveLength(1);
    // Nothing lost: the server's own count.
    expect(await client.admin().deleteAcls({ principal: 'User:kept' })).toBe(1);
  });

  it('deleteOffsets: reports the partitions the lost attempt deleted, not the none its retry found', async () => {
    await direct.admin().createTopic({ topic: 'lost-offsets', numPartitions: 3 });
    await direct.admin().setOffsets({ groupId: 'lost-offsets-group', topic: 'lost-offsets', partitions: [0, 2].map((partition) => ({ partition, offset: 0 })) });
    proxy.dropResponses('DELETE', /^\/v1\/groups\/lost-offsets-group\/offsets$/);
    expect(await client.admin().deleteOffsets({ groupId: 'lost-offsets-group', topic: 'lost-offsets' })).toEqual([
      { topic: 'lost-offsets', partition: 0 },
      { topic: 'lost-offsets', partition: 2 },
    ]);
    expect(dropped('DELETE', /lost-offsets-group/).map((r) => r.status)).toEqual([200]);
    expect((await direct.admin().fetchOffsets({ groupId: 'lost-offsets-group' })).filter((o) => o.offset >= 0)).toEqual([]);
  });
});
