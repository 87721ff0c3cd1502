// The Samsa client library against groups that Kafka clients manage through the listener
// (docs/kafka.md, "The mixed-protocol rule"): KafkaJS 2.2.4, unmodified, holds a group while the
// Samsa client's admin and consumer act on it over HTTP, against one real `bin/serve.ts`.
import { Kafka, logLevel, type Consumer as KafkaConsumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, SamsaClientError } from '../../lib/client';
import { freePort, jsonRequest, type ServerHandle, startServer } from '../helpers/server';
import { until as waitUntil } from '../helpers/wait';

let server: ServerHandle;
let kafka: Kafka;
let samsa: Samsa;

const http = <T = Record<string, any>>(method: string, path: string, body?: unknown): Promise<T> => jsonRequest<T>(server.url, method, path, body);
const until = (what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> => waitUntil(what, ms, ok, () => server.output().slice(-2000));
const committed = async (group: string): Promise<number[][]> =>
  (await http<{ offsets: Array<{ partition: number; offset: number }> }>('GET', `/v1/groups/${group}/offsets`)).offsets.map((o) => [o.partition, o.offset]);

beforeAll(async () => {
  const kafkaPort = await freePort();
  server = await startServer({ env: { SAMSA_KAFKA_PORT: String(kafkaPort) } });
  kafka = new Kafka({ clientId: 'samsa-test', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
  samsa = new Samsa({ url: server.url });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

/**
 * A KafkaJS member of `group` reading `topic` (from the beginning, where nothing is committed);
 * resolves once it has read `n` records and the group's commits add up to `total` (default n).
 */
async function kafkaMember(group: string, topic: string, n: number, total = n): Promise<KafkaConsumer> {
  const got = new Set<string>();
  const c = kafka.consumer({ groupId: group, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({ autoCommitInterval: 100, eachMessage: async ({ partition, message }) => void got.add(`${partition}:${message.offset}`) });
  await until(`${n} records read by the Kafka member`, 30_000, async () => got.size === n && (await committed(group)).reduce((a, [, o]) => a + o!, 0) === total);
  return c;
}

describe('the Samsa client and a group Kafka clients hold', () => {
  it('Admin.setOffsets is refused while KafkaJS members hold the group, and moves nothing', async () => {
    await http('POST', '/v1/topics', { name: 'kset', partitions: 2 });
    await http('POST', '/v1/topics/kset/records', { records: Array.from({ length: 10 }, (_, i) => ({ value: i, partition: i % 2 })) });
    const member = await kafkaMember('kset-group', 'kset', 10);
    try {
      expect(await committed('kset-group')).toEqual([
        [0, 5],
        [1, 5],
      ]);
      // Described, it is theirs, not an empty group.
      expect(await samsa.admin().describeGroup('kset-group')).toMatchObject({ kafkaMembers: true, members: [] });
      // A memberless commit under live members: their next rebalance would start from it.
      const err = await samsa
        .admin()
        .setOffsets({ groupId: 'kset-group', topic: 'kset', partitions: [{ partition: 0, offset: 0 }] })
        .then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(SamsaClientError);
      expect((err as SamsaClientError).code).toBe('ILLEGAL_GENERATION');
      expect((err as SamsaClientError).message).toMatch(/Kafka-protocol members/);
      expect(await committed('kset-group')).toEqual([
        [0, 5],
        [1, 5],
      ]);
    } finally {
      await member.disconnect();
    }
    // Once they left, the group is memberless and takes the commit.
    await until('the Kafka members gone', 15_000, () =>
      samsa
        .admin()
        .setOffsets({ groupId: 'kset-group', topic: 'kset', partitions: [{ partition: 0, offset: 1 }] })
        .then(() => true, () => false),
    );
    expect(await committed('kset-group')).toEqual([
      [0, 1],
      [1, 5],
    ]);
    expect((await samsa.admin().describeGroup('kset-group')).kafkaMembers).toBe(false);
  }, 60_000);

  it('a Samsa consumer that lost its membership while KafkaJS members took the group crashes with INCONSISTENT_GROUP_PROTOCOL instead of retrying unseen', async () => {
    await http('POST', '/v1/topics', { name: 'khand', partitions: 1 });
    await http('POST', '/v1/topics/khand/records', { records: Array.from({ length: 4 }, (_, i) => ({ value: i, partition: 0 })) });
    const seen: number[] = [];
    // Long polls and rare heartbeats: it notices its membership is gone only when a record comes.
    const consumer = samsa.consumer({ groupId: 'khand-group', maxWaitTimeInMs: 20_000, heartbeatInterval: 60_000, retry: { retries: 2, initialRetryTime: 50, maxRetryTime: 200 } });
    let crashed: unknown;
    consumer.on('crash', (e: { error: unknown }) => void (crashed = e.error));
    await consumer.subscribe({ topic: 'khand', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.offset) });
    const kc = kafka.consumer({ groupId: 'khand-group', sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200 });
    const kafkaSeen: string[] = [];
    let kafkaJoined = false;
    kc.on(kc.events.GROUP_JOIN, () => void (kafkaJoined = true));
    try {
      await until('the HTTP member read and committed all', 20_000, async () => seen.length === 4 && (await committed('khand-group'))[0]?.[1] === 4);
      // Its session lapses (a paused process; here its membership is ended for it), and a
      // KafkaJS consumer takes the group meanwhile.
      await http('DELETE', `/v1/groups/khand-group/members/${consumer.member.memberId}`);
      await kc.connect();
      await kc.subscribe({ topic: 'khand', fromBeginning: true });
      await kc.run({ autoCommitInterval: 100, eachMessage: async ({ message }) => void kafkaSeen.push(message.offset) });
      await until('the Kafka member joined', 20_000, () => kafkaJoined);
      await http('POST', '/v1/topics/khand/records', { records: [{ value: 'late', partition: 0 }] });
      // The Samsa consumer cannot rejoin while they hold it: it says so, as run() does and as a
      // KafkaJS consumer refused by an HTTP-held group does, instead of retrying where no one sees.
      await until('the Samsa consumer to crash', 20_000, () => crashed !== undefined);
      expect((crashed as SamsaClientError).code).toBe('INCONSISTENT_GROUP_PROTOCOL');
      await until('the Kafka member read the new record and committed it', 20_000, async () => kafkaSeen.includes('4') && (await committed('khand-group'))[0]?.[1] === 5);
      expect(kafkaSeen).toEqual(['4']);
    } finally {
      await consumer.disconnect();
      await kc.disconnect();
    }
  }, 60_000);

  it('a group KafkaJS consumers left is the Samsa consumer’s at once: it joins and reads on from their commits', async () => {
    await http('POST', '/v1/topics', { name: 'kmove', partitions: 2 });
    await http('POST', '/v1/topics/kmove/records', { records: Array.from({ length: 6 }, (_, i) => ({ value: i, partition: i % 2 })) });
    const member = await kafkaMember('kmove-group', 'kmove', 6);
    await member.disconnect(); // LeaveGroup: no Kafka member is left
    await http('POST', '/v1/topics/kmove/records', { records: [0, 1].map((p) => ({ value: `after${p}`, partition: p })) });

    // A migration from KafkaJS to the Samsa client: the new consumer starts as the old one stops.
    const seen: string[] = [];
    const consumer = samsa.consumer({ groupId: 'kmove-group', maxWaitTimeInMs: 200 });
    await consumer.subscribe({ topic: 'kmove', fromBeginning: true });
    try {
      await consumer.run({ eachMessage: async ({ partition, message }) => void seen.push(`${partition}:${message.offset}`) });
      await until('the records after the hand-over', 20_000, () => seen.length >= 2);
      expect(seen.sort()).toEqual(['0:3', '1:3']);
    } finally {
      await consumer.disconnect();
    }
  }, 60_000);
});

describe('group ids "." and ".."', () => {
  // Every HTTP client resolves "." and ".." path segments, percent-encoded too (%2E: WHATWG URL),
  // and so does the server before it routes: /v1/groups/./offsets arrives as /v1/groups/offsets.
  // A group of such an id could be made through the listener and never be seen, reset or
  // deleted over HTTP (the console, the client, curl); so Kafka clients are refused it.
  it('a KafkaJS consumer of group "." is refused with INVALID_GROUP_ID, and no such group is made', async () => {
    await http('POST', '/v1/topics', { name: 'kdot', partitions: 1 });
    await http('POST', '/v1/topics/kdot/records', { records: [{ value: 1 }] });
    for (const groupId of ['.', '..']) {
      const c = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 200, retry: { retries: 0 } });
      let crashed: { type?: string } | undefined;
      c.on(c.events.CRASH, (e) => void (crashed = e.payload.error as { type?: string }));
      const read: string[] = [];
      try {
        await c.connect();
        await c.subscribe({ topic: 'kdot', fromBeginning: true });
        await c.run({ autoCommitInterval: 100, eachMessage: async ({ message }) => void read.push(String(message.offset)) });
        await until(`the consumer of group "${groupId}" to crash or read`, 20_000, () => crashed !== undefined || read.length > 0);
        expect({ groupId, error: crashed?.type, read }).toEqual({ groupId, error: 'INVALID_GROUP_ID', read: [] });
      } finally {
        await c.disconnect();
      }
    }
    const groups = (await http<{ groups: Array<{ group: string }> }>('GET', '/v1/groups')).groups.map((g) => g.group);
    expect(groups).not.toContain('.');
    expect(groups).not.toContain('..');
  }, 60_000);

  it("the Samsa client refuses them before sending: the URL would name another group's route", async () => {
    // GET /v1/groups/./offsets would arrive as GET /v1/groups/offsets: group "offsets" described.
    await http('POST', '/v1/groups/offsets/offsets', { offsets: [{ topic: 'kdot', partition: 0, offset: 0 }] });
    const admin = samsa.admin();
    for (const groupId of ['.', '..']) {
      await expect(admin.fetchOffsets({ groupId }), groupId).rejects.toMatchObject({ code: 'INVALID_GROUP_ID', message: expect.stringContaining('"." or ".."') });
      await expect(admin.deleteGroup(groupId), groupId).rejects.toMatchObject({ code: 'INVALID_GROUP_ID' });
      expect(() => samsa.consumer({ groupId }), groupId).toThrow(/"\." or "\.\."/);
    }
    expect((await http<{ groups: Array<{ group: string }> }>('GET', '/v1/groups')).groups.map((g) => g.group)).toContain('offsets');
  });
});
