// Two AWS-mode servers (S3 + DynamoDB on the emulator), each with its Kafka listener: records
// produced with KafkaJS through one are read over HTTP and Kafka from the other at the same
// offsets, both instances appear as brokers, and two consumers of one group bootstrapped to
// DIFFERENT instances end up in one group (the coordinator lease pins it to one instance), with
// their commits in the shared offset store.
import { spawn } from 'node:child_process';
import { CompressionTypes, Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { awsEndpoint, describeAws, uniqueName } from '../helpers/aws';
import { freePort, jsonRequest, REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';

function setup(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/setup-aws.ts'], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const http = jsonRequest;

describeAws('Kafka listeners on two AWS-mode instances sharing one bucket and table', () => {
  const servers: ServerHandle[] = [];
  const brokers: string[] = [];

  beforeAll(async () => {
    const env = {
      SAMSA_STORAGE: 'aws',
      SAMSA_BUCKET: uniqueName('bkt'),
      SAMSA_TABLE: uniqueName('tbl'),
      AWS_ENDPOINT_URL: awsEndpoint()!,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SAMSA_JOB_INTERVAL_MS: '0',
    };
    const r = await setup(env);
    expect(r.code, r.out).toBe(0);
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      brokers.push(`127.0.0.1:${port}`);
      servers.push(await startServer({ env: { ...env, SAMSA_KAFKA_PORT: String(port) } }));
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('a record produced through one instance is the same record at the same offset through the other, over HTTP and Kafka', async () => {
    const [a, b] = [new Kafka({ brokers: [brokers[0]!], logLevel: logLevel.NOTHING }), new Kafka({ brokers: [brokers[1]!], logLevel: logLevel.NOTHING })];
    const admin = a.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'shared', numPartitions: 3 }] });
    // Both instances are brokers of one cluster.
    const cluster = await admin.describeCluster();
    expect(cluster.brokers.map((x) => `${x.host}:${x.port}`).sort()).toEqual([...brokers].sort());
    await admin.disconnect();

    const producer = a.producer({ idempotent: true });
    await producer.connect();
    const ts = Date.now() - 1000;
    const sent = await producer.send({ topic: 'shared', compression: CompressionTypes.GZIP, messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, timestamp: String(ts + i), headers: { i: String(i) } })) });
    await producer.disconnect();

    // HTTP on B: every record where A's produce said.
    for (const s of sent) {
      const recs = (await http<{ records: Array<{ offset: number; key: string; timestamp: number }> }>(servers[1]!.url, 'GET', `/v1/topics/shared/partitions/${s.partition}/records?offset=${s.baseOffset}&max_records=1`)).records;
      expect(recs[0]!.offset).toBe(Number(s.baseOffset));
    }
    // Kafka on B: all 30, with keys, headers and timestamps.
    const consumer = b.consumer({ groupId: 'reader-b', maxWaitTimeInMs: 200 });
    const got = new Map<string, { partition: number; offset: string; value: string; ts: string; header: string }>();
    await consumer.connect();
    await consumer.subscribe({ topic: 'shared', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) =>
        void got.set(message.key!.toString(), { partition, offset: message.offset, value: message.value!.toString(), ts: message.timestamp, header: String(message.headers!['i']) }),
    });
    const deadline = Date.now() + 30_000;
    while (got.size < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await consumer.disconnect();
    expect(got.size).toBe(30);
    for (let i = 0; i < 30; i++) {
      const m = got.get(`k${i}`)!;
      expect(m.value).toBe(`v${i}`);
      expect(m.ts).toBe(String(ts + i));
      expect(m.header).toBe(String(i));
    }
  });

  it('two members of one group bootstrapped to different instances form ONE group, and their commits are one set', async () => {
    await http(servers[0]!.url, 'POST', '/v1/topics', { name: 'pinned', partitions: 4 });
    await http(servers[0]!.url, 'POST', '/v1/topics/pinned/records', { records: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: i })) });
    const assignments = new Map<number, number[]>();
    const seen = new Set<string>();
    const consumers: Consumer[] = [];
    for (const [n, broker] of brokers.entries()) {
      const c = new Kafka({ brokers: [broker], logLevel: logLevel.NOTHING }).consumer({ groupId: 'pinned-group', heartbeatInterval: 300, maxWaitTimeInMs: 200, rebalanceTimeout: 5000 });
      c.on(c.events.GROUP_JOIN, (e) => void assignments.set(n, e.payload.memberAssignment['pinned'] ?? []));
      await c.connect();
      await c.subscribe({ topic: 'pinned', fromBeginning: true });
      await c.run({ eachMessage: async ({ partition, message }) => void seen.add(`${partition}/${message.offset}`) });
      consumers.push(c);
    }
    const split = (): boolean => {
      const all = [...assignments.values()].flat().sort();
      return assignments.size === 2 && all.join() === '0,1,2,3' && [...assignments.values()].every((x) => x.length === 2);
    };
    let offsets: Array<{ offset: number }> = [];
    const deadline = Date.now() + 45_000;
    while (Date.now() < deadline) {
      offsets = (await http<{ offsets: Array<{ offset: number }> }>(servers[1]!.url, 'GET', '/v1/groups/pinned-group/offsets').catch(() => ({ offsets: [] }))).offsets;
      if (split() && seen.size === 40 && offsets.length === 4 && offsets.every((o) => o.offset === 10)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(split(), JSON.stringify([...assignments])).toBe(true);
    expect(seen.size).toBe(40);
    expect(offsets.map((o) => o.offset)).toEqual([10, 10, 10, 10]);
    await Promise.all(consumers.map((c) => c.disconnect()));
  });
});
