// KafkaJS 2.2.4, unmodified, against the Kafka listener of a real `bin/serve.ts` (embedded):
// admin, a keyed gzip producer, an idempotent producer, a consumer group of three members that
// rebalances, and committed offsets — each checked against the HTTP API's view of the same log.
import { CompressionTypes, Kafka, logLevel, type Consumer, type EachMessagePayload } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, jsonRequest, type ServerHandle, startServer } from '../helpers/server';

let server: ServerHandle;
let kafka: Kafka;

interface HttpRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Array<{ key: string; value: string | null }>;
  value_encoding?: string;
}

const http = <T>(method: string, path: string, body?: unknown): Promise<T> => jsonRequest<T>(server.url, method, path, body);

async function httpRecords(topic: string, partition: number): Promise<HttpRecord[]> {
  const r = await http<{ records: HttpRecord[] }>('GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=0&max_records=1000`);
  return r.records;
}

const text = (r: HttpRecord): string | null => (r.value === null ? null : r.value_encoding === 'base64' ? Buffer.from(r.value, 'base64').toString() : r.value);

beforeAll(async () => {
  const kafkaPort = await freePort();
  server = await startServer({ env: { SAMSA_KAFKA_PORT: String(kafkaPort) } });
  kafka = new Kafka({ clientId: 'samsa-test', brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
});

afterAll(async () => {
  await server?.stop();
});

describe('KafkaJS against the listener', () => {
  it('creates, describes and deletes topics with the admin client', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })).toBe(true);
      // A second create of the same topic is Kafka's TOPIC_ALREADY_EXISTS (createTopics answers false).
      expect(await admin.createTopics({ topics: [{ topic: 'adm', numPartitions: 2 }] })).toBe(false);
      const http1 = await http<{ partitions: unknown[]; config: Record<string, unknown> }>('GET', '/v1/topics/adm');
      expect(http1.partitions).toHaveLength(2);
      expect(http1.config['retention.ms']).toBe(3600000);

      const cfg = await admin.describeConfigs({ resources: [{ type: 2, name: 'adm' }], includeSynonyms: false });
      const entries = Object.fromEntries(cfg.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
      expect(entries['retention.ms']).toBe('3600000');
      expect(entries['cleanup.policy']).toBe('delete');

      await admin.createPartitions({ topicPartitions: [{ topic: 'adm', count: 4 }] });
      const md = await admin.fetchTopicMetadata({ topics: ['adm'] });
      expect(md.topics[0]!.partitions).toHaveLength(4);

      await admin.deleteTopics({ topics: ['adm'] });
      const res = await fetch(`${server.url}/v1/topics/adm`);
      expect(res.status).toBe(404);
    } finally {
      await admin.disconnect();
    }
  });

  it('produces keyed, gzip-compressed records with headers: same offsets, keys, values, headers and timestamps over HTTP, in the partitions murmur2 picks', async () => {
    await http('POST', '/v1/topics', { name: 'keyed', partitions: 5 });
    const producer = kafka.producer();
    await producer.connect();
    const ts = Date.now() - 60_000;
    const messages = Array.from({ length: 40 }, (_, i) => ({ key: `key-${i % 13}`, value: `value-${i}`, headers: { n: String(i) }, timestamp: String(ts + i) }));
    const meta = await producer.send({ topic: 'keyed', compression: CompressionTypes.GZIP, messages });
    await producer.disconnect();
    expect(meta.every((m) => m.errorCode === 0)).toBe(true);

    // Every key is where the HTTP API's own partitioner (Kafka's Java murmur2) puts it: produce
    // the same keys through HTTP and compare partitions.
    const viaHttp = await http<{ offsets: Array<{ partition: number }> }>('POST', '/v1/topics/keyed/records', { records: messages.map((m) => ({ key: m.key, value: 'x' })) });
    const seen: HttpRecord[][] = await Promise.all([0, 1, 2, 3, 4].map((p) => httpRecords('keyed', p)));
    for (const [i, m] of messages.entries()) {
      const p = viaHttp.offsets[i]!.partition;
      const rec = seen[p]!.find((r) => r.key === m.key && text(r) === m.value);
      expect(rec, `${m.key} in partition ${p}`).toBeDefined();
      expect(rec!.timestamp).toBe(ts + i);
      expect(rec!.headers).toEqual([{ key: 'n', value: String(i) }]);
    }
    // Offsets: KafkaJS's base offsets are the HTTP offsets of the first record per partition.
    for (const m of meta) {
      const first = seen[m.partition]!.filter((r) => r.value !== null && text(r) !== 'x')[0]!;
      expect(Number(m.baseOffset)).toBe(first.offset);
    }
  });

  it('ListOffsets: earliest, latest and by timestamp, as the HTTP API answers them', async () => {
    await http('POST', '/v1/topics', { name: 'times', partitions: 1 });
    const base = Date.now() - 100_000;
    await http('POST', '/v1/topics/times/records', { records: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: i, timestamp: base + i * 1000 })) });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [o] = await admin.fetchTopicOffsets('times');
      expect([o!.low, o!.high]).toEqual(['0', '10']);
      // The first record at or after base + 4.5 s is offset 5.
      const [t] = await admin.fetchTopicOffsetsByTimestamp('times', base + 4500);
      expect(t!.offset).toBe('5');
      const viaHttp = await http<{ offset: number }>('GET', `/v1/topics/times/partitions/0/offsets?timestamp=${base + 4500}`);
      expect(viaHttp.offset).toBe(5);
    } finally {
      await admin.disconnect();
    }
  });

  it('an idempotent producer gets a producer id and its sequences are checked by the same producer state', async () => {
    await http('POST', '/v1/topics', { name: 'idem', partitions: 1 });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    for (let i = 0; i < 5; i++) await producer.send({ topic: 'idem', messages: [{ key: 'k', value: `v${i}` }, { key: 'k', value: `w${i}` }] });
    await producer.disconnect();
    const recs = await httpRecords('idem', 0);
    expect(recs.map((r) => text(r))).toEqual(['v0', 'w0', 'v1', 'w1', 'v2', 'w2', 'v3', 'w3', 'v4', 'w4']);
    expect(recs.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a transactional producer is refused as Kafka refuses an unauthorized transactional id, and nothing is written', async () => {
    await http('POST', '/v1/topics', { name: 'txn', partitions: 1 });
    const producer = kafka.producer({ transactionalId: 'tx-1', idempotent: true, maxInFlightRequests: 1, retry: { retries: 1, initialRetryTime: 50 } });
    await producer.connect();
    // The transaction coordinator lookup / InitProducerId answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
    const err = (await producer.transaction().then(
      () => undefined,
      (e: unknown) => e,
    )) as Error | undefined;
    // KafkaJS reports the transaction coordinator lookup's TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    // as a coordinator that cannot be found, without the cause (the codes are checked raw in
    // test/unit/kafka/listener.test.ts).
    expect(err?.name).toBe('KafkaJSGroupCoordinatorNotFound');
    await producer.disconnect();
    const d = await http<{ partitions: Array<{ high_watermark: number }> }>('GET', '/v1/topics/txn');
    expect(d.partitions[0]!.high_watermark).toBe(0);
  });

  it('a consumer group of three members rebalances as members come and go, and its commits are the HTTP offsets', async () => {
    await http('POST', '/v1/topics', { name: 'grp', partitions: 6 });
    await http('POST', '/v1/topics/grp/records', { records: Array.from({ length: 60 }, (_, i) => ({ partition: i % 6, value: `m${i}` })) });
    const got = new Map<string, number>();
    const assignments = new Map<number, number[]>();
    const consumers: Consumer[] = [];
    const start = async (n: number): Promise<Consumer> => {
      const c = kafka.consumer({ groupId: 'kgroup', sessionTimeout: 10_000, heartbeatInterval: 300, rebalanceTimeout: 5000, maxWaitTimeInMs: 200 });
      c.on(c.events.GROUP_JOIN, (e) => void assignments.set(n, e.payload.memberAssignment['grp'] ?? []));
      await c.connect();
      await c.subscribe({ topic: 'grp', fromBeginning: true });
      await c.run({
        eachMessage: async ({ partition, message }: EachMessagePayload) => {
          got.set(`${partition}:${message.offset}`, n);
        },
      });
      consumers.push(c);
      return c;
    };
    await start(1);
    await start(2);
    await start(3);
    const deadline = Date.now() + 40_000;
    const settled = (): boolean => {
      const all = [...assignments.values()].flat().sort((a, b) => a - b);
      return assignments.size === 3 && all.join() === '0,1,2,3,4,5' && [...assignments.values()].every((a) => a.length === 2);
    };
    while ((!settled() || got.size < 60) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(settled(), JSON.stringify([...assignments])).toBe(true);
    expect(got.size).toBe(60);
    // While Kafka members hold the group, an HTTP member may not join it.
    const refused = await fetch(`${server.url}/v1/groups/kgroup/members`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topics: ['grp'] }) });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error_code: string }).error_code).toBe('INCONSISTENT_GROUP_PROTOCOL');

    // One leaves: the other two take over its partitions.
    await consumers[0]!.disconnect();
    assignments.delete(1);
    const deadline2 = Date.now() + 30_000;
    while (Date.now() < deadline2) {
      const all = [...assignments.values()].flat().sort((a, b) => a - b);
      if (all.join() === '0,1,2,3,4,5' && assignments.size === 2 && [...assignments.values()].every((a) => a.length === 3)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect([...assignments.values()].map((a) => a.length).sort()).toEqual([3, 3]);

    // New records reach the remaining members, and every partition's commit reaches the end.
    await http('POST', '/v1/topics/grp/records', { records: Array.from({ length: 6 }, (_, i) => ({ partition: i, value: `late${i}` })) });
    const deadline3 = Date.now() + 30_000;
    let offsets: Array<{ partition: number; offset: number }> = [];
    while (Date.now() < deadline3) {
      offsets = (await http<{ offsets: Array<{ partition: number; offset: number }> }>('GET', '/v1/groups/kgroup/offsets')).offsets;
      if (got.size === 66 && offsets.length === 6 && offsets.every((o) => o.offset === 11)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(got.size).toBe(66);
    expect(offsets.map((o) => o.offset)).toEqual([11, 11, 11, 11, 11, 11]);
    // ...and KafkaJS's admin reads the same committed offsets back.
    const admin = kafka.admin();
    await admin.connect();
    const fetched = await admin.fetchOffsets({ groupId: 'kgroup', topics: ['grp'] });
    expect(fetched[0]!.partitions.map((p) => p.offset).sort()).toEqual(['11', '11', '11', '11', '11', '11']);
    const listed = await admin.listGroups();
    expect(listed.groups.map((g) => g.groupId)).toContain('kgroup');
    const described = await admin.describeGroups(['kgroup']);
    expect(described.groups[0]!.members).toHaveLength(2);
    await admin.disconnect();
    await Promise.all(consumers.slice(1).map((c) => c.disconnect()));
  });

  it('a group with HTTP members refuses Kafka members (INCONSISTENT_GROUP_PROTOCOL)', async () => {
    await http('POST', '/v1/topics', { name: 'mixed', partitions: 1 });
    await http('POST', '/v1/groups/mixedgroup/members', { topics: ['mixed'] });
    const c = kafka.consumer({ groupId: 'mixedgroup', retry: { retries: 0 } });
    await c.connect();
    await c.subscribe({ topic: 'mixed' });
    const failed = new Promise<string>((resolve) => c.on(c.events.CRASH, (e) => resolve(String((e.payload.error as Error & { type?: string }).type ?? e.payload.error.message))));
    await c.run({ eachMessage: async () => {} });
    expect(await failed).toBe('INCONSISTENT_GROUP_PROTOCOL');
    await c.disconnect();
  });
});
