// kcat (Debian's, on librdkafka 2.x), unmodified, against the Kafka listener of a real
// `bin/serve.ts`: -L, -P with keys and headers, -C from the beginning and from an offset, -G
// group consumption — each compared with the HTTP API's view of the same topic. Under CI=true a
// missing kcat fails the run (.ci/run installs it), elsewhere the suite is skipped with a notice.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KCAT, kcatAvailable, runKcat } from '../helpers/kcat';
import { freePort, jsonRequest, type ServerHandle, startServer } from '../helpers/server';

const available = kcatAvailable('kcat test');

let server: ServerHandle;
let broker: string;

const kcat = (args: string[], input?: string): ReturnType<typeof runKcat> => runKcat(broker, args, input);

const http = <T>(method: string, path: string, body?: unknown): Promise<T> => jsonRequest<T>(server.url, method, path, body);

interface HttpRecord {
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Array<{ key: string; value: string | null }>;
  value_encoding?: string;
}

beforeAll(async () => {
  if (!available) return;
  const port = await freePort();
  broker = `127.0.0.1:${port}`;
  server = await startServer({ env: { SAMSA_KAFKA_PORT: String(port) } });
  expect(spawnSync(KCAT, ['-V']).status).toBe(0);
});

afterAll(async () => {
  await server?.stop();
});

describe.skipIf(!available)('kcat against the listener', () => {
  it('-L lists the topics HTTP created, with this node as the only broker and leader', async () => {
    await http('POST', '/v1/topics', { name: 'kl', partitions: 3 });
    const r = await kcat(['-L', '-J']);
    expect(r.code, r.stderr).toBe(0);
    const md = JSON.parse(r.stdout) as { brokers: Array<{ id: number; name: string }>; topics: Array<{ topic: string; partitions: Array<{ partition: number; leader: number }> }> };
    expect(md.brokers).toHaveLength(1);
    expect(md.brokers[0]!.name).toBe(broker);
    const t = md.topics.find((x) => x.topic === 'kl')!;
    expect(t.partitions.map((p) => p.partition).sort()).toEqual([0, 1, 2]);
    expect(t.partitions.every((p) => p.leader === md.brokers[0]!.id)).toBe(true);
  });

  it('-P with keys (-K:) and headers lands where the HTTP partitioner puts the keys, and -C reads back what HTTP shows', async () => {
    await http('POST', '/v1/topics', { name: 'kp', partitions: 4 });
    const keys = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const input = keys.map((k, i) => `${k}:payload-${i}`).join('\n') + '\n';
    // librdkafka's default partitioner is CRC32 (consistent_random); murmur2_random is the Java
    // client's, which Samsa's HTTP API reproduces. The partition is the client's choice.
    const p = await kcat(['-P', '-t', 'kp', '-K:', '-H', 'src=kcat', '-z', 'gzip', '-X', 'enable.idempotence=true', '-X', 'topic.partitioner=murmur2_random'], input);
    expect(p.code, p.stderr).toBe(0);

    // Where the HTTP API's murmur2 partitioner (Kafka's Java client's) puts the same keys.
    const viaHttp = await http<{ offsets: Array<{ partition: number }> }>('POST', '/v1/topics/kp/records', { records: keys.map((k) => ({ key: k, value: null })) });
    const c = await kcat(['-C', '-t', 'kp', '-o', 'beginning', '-e', '-J']);
    expect(c.code, c.stderr).toBe(0);
    const consumed = c.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { partition: number; offset: number; key: string; payload: string | null; ts: number; headers?: string[] });
    for (const [i, k] of keys.entries()) {
      const got = consumed.find((m) => m.key === k && m.payload === `payload-${i}`);
      expect(got, k).toBeDefined();
      expect(got!.partition).toBe(viaHttp.offsets[i]!.partition);
      expect(got!.headers).toEqual(['src', 'kcat']);
      // The HTTP view of that partition has the same record at the same offset.
      const recs = (await http<{ records: HttpRecord[] }>('GET', `/v1/topics/kp/partitions/${got!.partition}/records?offset=${got!.offset}&max_records=1`)).records;
      expect(recs[0]!.offset).toBe(got!.offset);
      expect(recs[0]!.key).toBe(k);
      // Not JSON, so the HTTP view carries it as base64 (API.md), byte for byte.
      expect(recs[0]!.value_encoding).toBe('base64');
      expect(Buffer.from(recs[0]!.value!, 'base64').toString()).toBe(`payload-${i}`);
      expect(recs[0]!.timestamp).toBe(got!.ts);
      expect(recs[0]!.headers).toEqual([{ key: 'src', value: 'kcat' }]);
    }
  });

  it('-C -o reads from an offset; records produced over HTTP are read at their HTTP offsets', async () => {
    await http('POST', '/v1/topics', { name: 'ko', partitions: 1 });
    await http('POST', '/v1/topics/ko/records', { records: Array.from({ length: 10 }, (_, i) => ({ partition: 0, key: `k${i}`, value: `v${i}`, headers: [{ key: 'h', value: `${i}` }] })) });
    const c = await kcat(['-C', '-t', 'ko', '-p', '0', '-o', '6', '-e', '-f', '%o %k %s %h\n']);
    expect(c.code, c.stderr).toBe(0);
    // The JSON route stores a JSON value as its JSON text.
    expect(c.stdout.trim().split('\n')).toEqual(['6 k6 "v6" h=6', '7 k7 "v7" h=7', '8 k8 "v8" h=8', '9 k9 "v9" h=9']);
  });

  it('-G consumes in a group and commits: the HTTP API shows the committed offsets', async () => {
    await http('POST', '/v1/topics', { name: 'kg', partitions: 2 });
    await http('POST', '/v1/topics/kg/records', { records: Array.from({ length: 8 }, (_, i) => ({ partition: i % 2, value: `g${i}` })) });
    const c = await kcat(['-G', 'kcatgroup', '-X', 'auto.offset.reset=earliest', '-e', '-f', '%p %o %s\n', 'kg']);
    expect(c.code, c.stderr).toBe(0);
    const lines = c.stdout.trim().split('\n').sort();
    expect(lines).toEqual(['0 0 "g0"', '0 1 "g2"', '0 2 "g4"', '0 3 "g6"', '1 0 "g1"', '1 1 "g3"', '1 2 "g5"', '1 3 "g7"']);
    const offsets = (await http<{ offsets: Array<{ partition: number; offset: number }> }>('GET', '/v1/groups/kcatgroup/offsets')).offsets;
    expect(offsets.map((o) => [o.partition, o.offset])).toEqual([
      [0, 4],
      [1, 4],
    ]);
  });
});
