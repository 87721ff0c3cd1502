// The Kafka listener's promises under faults, with a real `bin/serve.ts` (embedded) and real TCP:
// responses lost between server and client (test/helpers/kafka-proxy.ts: the server acted, the
// client retries), kill -9 and restart on the same data. An acknowledged produce is durable,
// offsets are contiguous, an idempotent producer's retries never duplicate, and a consumer
// group's committed offsets never skip records.
import { spawn } from 'node:child_process';
import { KCAT, kcatAvailable } from '../helpers/kcat';
import { type Consumer, type EachMessagePayload, Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Reader, Writer } from '../../lib/kafka/protocol';
import { decodeBatches, encodeRecordBatch } from '../../lib/records/batch';
import { freePort, jsonRequest, type ServerHandle, startServer, tempDir } from '../helpers/server';
import { type KafkaProxy, startKafkaProxy } from '../helpers/kafka-proxy';
import { RawClient } from '../unit/kafka/raw-client';

let server: ServerHandle;
let proxy: KafkaProxy;
let httpPort: number;
let kafkaPort: number;
let dataDir: string;

async function start(): Promise<void> {
  server = await startServer({ dataDir, port: httpPort, env: {
      SAMSA_KAFKA_PORT: String(kafkaPort),
      SAMSA_KAFKA_ADVERTISED: `127.0.0.1:${proxy.port}`,
      // Flush at once: faults land while segments are being written, not only before.
      SAMSA_FLUSH_DELAY_MS: '0',
      SAMSA_JOB_INTERVAL_MS: '100',
    }, });
}

/** kill -9, then a new process on the same data and ports. */
async function crashAndRestart(): Promise<void> {
  await server.kill('SIGKILL');
  proxy.cutAll();
  await start();
}

beforeAll(async () => {
  dataDir = tempDir();
  httpPort = await freePort();
  kafkaPort = await freePort();
  proxy = await startKafkaProxy(kafkaPort);
  await start();
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
});

const http = <T>(method: string, path: string, body?: unknown): Promise<T> => jsonRequest<T>(server.url, method, path, body);

interface HttpRecord {
  offset: number;
  value: string | null;
  value_encoding?: string;
}

async function httpValues(topic: string, partition: number): Promise<Array<[number, string]>> {
  const out: Array<[number, string]> = [];
  for (;;) {
    const r = await http<{ records: HttpRecord[] }>('GET', `/v1/topics/${topic}/partitions/${partition}/records?offset=${out.length}&max_records=1000`);
    if (r.records.length === 0) return out;
    for (const x of r.records) out.push([x.offset, x.value_encoding === 'base64' ? Buffer.from(x.value!, 'base64').toString() : x.value!]);
  }
}

/** Every record once, at offsets 0, 1, 2, ...: the values in offset order. */
function contiguous(records: Array<[number, string]>): string[] {
  expect(records.map(([o]) => o)).toEqual(records.map((_, i) => i));
  return records.map(([, v]) => v);
}

async function initProducerId(port: number): Promise<{ id: number; epoch: number }> {
  const c = await RawClient.connect(port);
  c.request(22, 0, 1, new Writer().string(null).int32(60_000));
  const r = (await c.reply())!;
  c.end();
  r.int32();
  expect(r.int16()).toBe(ErrorCode.NONE);
  return { id: r.int64(), epoch: r.int16() };
}

function produceBody(topic: string, partition: number, batch: Uint8Array, acks = -1): Writer {
  return new Writer()
    .string(null)
    .int16(acks)
    .int32(30_000)
    .array([topic], (w, t) => void w.string(t).array([partition], (x, p) => void x.int32(p).bytes(batch)));
}

/** Produce v3 through a new connection to `port`: [error, base offset], or undefined when the connection was cut. */
async function produce(port: number, topic: string, batch: Uint8Array): Promise<[number, number] | undefined> {
  const c = await RawClient.connect(port);
  try {
    c.request(0, 3, 7, produceBody(topic, 0, batch));
    const r: Reader | undefined = await c.reply(20_000);
    if (!r) return undefined;
    let out: [number, number] = [-1, -1];
    r.array((x) => (x.string(), x.array((y) => (y.int32(), (out = [y.int16(), y.int64()]), y.int64()), 22)), 6);
    return out;
  } finally {
    c.end();
  }
}

const values = (tag: string, n: number): Array<{ value: Uint8Array }> => Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`${tag}.${i}`) }));

describe('idempotent produce over Kafka with lost responses and kill -9', () => {
  it('a retried batch (same producer, epoch, sequence) is answered with its original offset and stored once, across a restart', async () => {
    const topic = 'idem-raw';
    await http('POST', '/v1/topics', { name: topic, partitions: 1 });
    const { id, epoch } = await initProducerId(kafkaPort);
    const batch = (seq: number, tag: string, n: number): Uint8Array => encodeRecordBatch(values(tag, n), { producerId: id, producerEpoch: epoch, baseSequence: seq });
    const b0 = batch(0, 'a', 3);
    const b1 = batch(3, 'b', 2);

    // The first send's answer is lost; the retry of the same bytes is a duplicate: success, offset 0.
    proxy.lose = (api) => api === 0;
    expect(await produce(proxy.port, topic, b0)).toBeUndefined();
    proxy.lose = () => false;
    expect(await produce(proxy.port, topic, b0)).toEqual([ErrorCode.NONE, 0]);

    // The next batch's answer is lost, then the server dies; after the restart the retry still
    // finds the batch remembered (the producer state is as durable as the records).
    proxy.lose = (api) => api === 0;
    expect(await produce(proxy.port, topic, b1)).toBeUndefined();
    proxy.lose = () => false;
    await crashAndRestart();
    expect(await produce(proxy.port, topic, b1)).toEqual([ErrorCode.NONE, 3]);
    expect(await produce(proxy.port, topic, b0)).toEqual([ErrorCode.NONE, 0]);
    expect(await produce(proxy.port, topic, batch(5, 'c', 1))).toEqual([ErrorCode.NONE, 5]);
    // A gap is refused, and writes nothing.
    expect((await produce(proxy.port, topic, batch(9, 'd', 1)))![0]).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);

    expect(contiguous(await httpValues(topic, 0))).toEqual(['a.0', 'a.1', 'a.2', 'b.0', 'b.1', 'c.0']);
  }, 60_000);
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function client(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: [`127.0.0.1:${proxy.port}`], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 1000 } });
}

describe('KafkaJS producers with lost responses and kill -9', () => {
  it('idempotent: every acknowledged record once and nothing twice; acks=-1 and acks=1: every acknowledged record there; offsets contiguous', async () => {
    await http('POST', '/v1/topics', { name: 'kjs-idem', partitions: 1 });
    await http('POST', '/v1/topics', { name: 'kjs-plain', partitions: 1 });
    let idem: Producer = client('idem').producer({ idempotent: true, maxInFlightRequests: 1 });
    const plain = client('plain').producer();
    await idem.connect();
    await plain.connect();
    let k = 0;
    proxy.lose = (api, _n, id) => api === 0 && id === 'idem' && ++k % 3 === 0;
    const ackedIdem: string[] = [];
    const ackedPlain: string[] = [];
    let crash: Promise<void> | undefined;
    const N = 40;
    const idemLoop = async (): Promise<void> => {
      for (let i = 0; i < N; i++) {
        if (i === N / 2) crash = crashAndRestart();
        const messages = [{ value: `i${i}.0` }, { value: `i${i}.1` }];
        try {
          await idem.send({ topic: 'kjs-idem', acks: -1, messages });
          ackedIdem.push(...messages.map((m) => m.value));
        } catch {
          // Out of retries: the batch may or may not be stored. KafkaJS would reuse its sequence
          // for the next batch, so start a new producer (a new producer id) as an application must.
          await idem.disconnect().catch(() => undefined);
          idem = client('idem').producer({ idempotent: true, maxInFlightRequests: 1 });
          await idem.connect().catch(() => undefined);
        }
      }
    };
    const plainLoop = async (): Promise<void> => {
      for (let i = 0; i < N; i++) {
        const value = `p${i}`;
        try {
          await plain.send({ topic: 'kjs-plain', acks: i % 2 ? 1 : -1, messages: [{ value }] });
          ackedPlain.push(value);
        } catch {
          // unacknowledged
        }
        await sleep(20);
      }
    };
    await Promise.all([idemLoop(), plainLoop()]);
    await crash;
    proxy.lose = () => false;
    await idem.disconnect();
    await plain.disconnect();
    expect(proxy.lost.get(0) ?? 0).toBeGreaterThan(5);

    const idemStored = contiguous(await httpValues('kjs-idem', 0));
    expect(new Set(idemStored).size, 'an idempotent record stored twice').toBe(idemStored.length);
    expect(ackedIdem.filter((v) => !idemStored.includes(v))).toEqual([]);
    expect(ackedIdem.length).toBeGreaterThan(N);
    const plainStored = contiguous(await httpValues('kjs-plain', 0));
    expect(ackedPlain.filter((v) => !plainStored.includes(v))).toEqual([]);
    expect(ackedPlain.length).toBeGreaterThan(N / 2);
  }, 90_000);
});

describe('a KafkaJS consumer group with lost responses and kill -9', () => {
  it('committed offsets never go back, never pass the log end or what the group processed, and every record is processed', async () => {
    const topic = 'kjs-grp';
    const P = 3;
    await http('POST', '/v1/topics', { name: topic, partitions: P });
    const produced = [0, 0, 0];
    const produceHttp = async (perPartition: number, tag: string): Promise<void> => {
      // Batches of 10 records: commits land in the middle of batches, and fetches start there.
      for (let b = 0; b < perPartition / 10; b++) {
        for (let p = 0; p < P; p++) {
          await http('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: 10 }, (_, i) => ({ partition: p, value: `${tag}.${p}.${b * 10 + i}` })) });
          produced[p] = produced[p]! + 10;
        }
      }
    };
    await produceHttp(60, 'a');

    // done[p]: the offsets the group has processed; prefix(p): the first one it has not.
    const done = Array.from({ length: P }, () => new Set<number>());
    const prefix = (p: number): number => {
      let o = 0;
      while (done[p]!.has(o)) o++;
      return o;
    };
    let k = 0;
    proxy.lose = (api, _n, id) => id === 'grp' && (api === 8 || api === 1) && ++k % 4 === 0;
    const consumer: Consumer = client('grp').consumer({ groupId: 'g-faults', sessionTimeout: 6000, heartbeatInterval: 300, rebalanceTimeout: 5000, maxWaitTimeInMs: 100, maxBytesPerPartition: 600 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommitThreshold: 7,
      eachMessage: async ({ partition, message }: EachMessagePayload) => {
        done[partition]!.add(Number(message.offset));
        await sleep(2);
      },
    });

    const violations: string[] = [];
    const last = [-1, -1, -1];
    let samples = 0;
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        try {
          const { offsets } = await http<{ offsets: Array<{ partition: number; offset: number }> }>('GET', '/v1/groups/g-faults/offsets');
          samples++;
          for (const o of offsets) {
            if (o.offset < last[o.partition]!) violations.push(`p${o.partition}: committed ${o.offset} after ${last[o.partition]}`);
            if (o.offset > produced[o.partition]!) violations.push(`p${o.partition}: committed ${o.offset} past the log end ${produced[o.partition]}`);
            if (o.offset > prefix(o.partition)) violations.push(`p${o.partition}: committed ${o.offset} but ${prefix(o.partition)} not processed`);
            last[o.partition] = Math.max(last[o.partition]!, o.offset);
          }
        } catch {
          // the server is down
        }
        await sleep(50);
      }
    })();

    const until = async (cond: () => boolean, ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!cond() && Date.now() < deadline) await sleep(100);
    };
    await until(() => done.reduce((n, s) => n + s.size, 0) >= 90, 30_000);
    await crashAndRestart();
    await produceHttp(30, 'b');
    await until(() => done.every((s, p) => prefix(p) === produced[p]) && last.every((o, p) => o === produced[p]), 45_000);
    stop = true;
    await sampler;
    proxy.lose = () => false;
    await consumer.disconnect();
    expect(violations).toEqual([]);
    expect(done.map((_, p) => prefix(p))).toEqual(produced);
    expect(last).toEqual(produced);
    expect(samples).toBeGreaterThan(20);
    expect(proxy.lost.get(8) ?? 0).toBeGreaterThan(0);
  }, 120_000);
});

/** Fetch v4 of one partition: error, high watermark and the decoded batches. */
async function fetchAt(topic: string, offset: number, partMax: number): Promise<{ error: number; hw: number; batches: ReturnType<typeof decodeBatches> }> {
  const c = await RawClient.connect(kafkaPort);
  try {
    const body = new Writer().int32(-1).int32(0).int32(1).int32(1 << 24).int8(0);
    body.array([topic], (x, t) => void x.string(t).array([0], (y, p) => void y.int32(p).int64(offset).int32(partMax)));
    c.request(1, 4, 3, body);
    const r = (await c.reply(10_000))!;
    r.int32();
    let out = { error: -1, hw: -1, batches: [] as ReturnType<typeof decodeBatches> };
    r.array((x) => {
      x.string();
      x.array((y) => {
        y.int32();
        const error = y.int16();
        const hw = y.int64();
        y.int64();
        y.nullableArray((z) => [z.int64(), z.int64()], 16);
        const bytes = y.nullableBytes();
        out = { error, hw, batches: bytes ? decodeBatches(bytes) : [] };
      }, 30);
    }, 6);
    return out;
  } finally {
    c.end();
  }
}

describe('Fetch at batch boundaries after kill -9', () => {
  it('a fetch from any offset, inside a batch or at its start, flushed or not, starts with the batch holding it and reads on in order; the end is empty, past it OFFSET_OUT_OF_RANGE', async () => {
    const topic = 'fetch-mid';
    await http('POST', '/v1/topics', { name: topic, partitions: 1, config: { 'segment.bytes': 1024 } });
    const expected: string[] = [];
    for (let b = 0; b < 40; b++) {
      const n = (b % 7) + 1;
      const recs = Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`f${b}.${i}.${'x'.repeat((b * 37) % 90)}`) }));
      expect(await produce(kafkaPort, topic, encodeRecordBatch(recs))).toEqual([ErrorCode.NONE, expected.length]);
      expected.push(...recs.map((r) => r.value.toString()));
    }
    await crashAndRestart();
    const N = expected.length;
    for (let o = 0; o < N; o++) {
      // partition_max_bytes 1: exactly one batch, the one holding o.
      const one = await fetchAt(topic, o, 1);
      expect(one.error).toBe(ErrorCode.NONE);
      expect(one.hw).toBe(N);
      expect(one.batches).toHaveLength(1);
      const h = one.batches[0]!.header;
      expect(h.baseOffset <= o && o < h.baseOffset + h.recordCount, `offset ${o} in batch ${h.baseOffset}+${h.recordCount}`).toBe(true);
      const all = await fetchAt(topic, o, 1 << 24);
      const recs = all.batches.flatMap((b) => b.records.map((r) => [r.offset, Buffer.from(r.value!).toString()] as const));
      const from = recs.filter(([off]) => off >= o);
      expect(from.map(([off]) => off)).toEqual(Array.from({ length: from.length }, (_, i) => o + i));
      expect(from.map(([, v]) => v)).toEqual(expected.slice(o, o + from.length));
      expect(from.length).toBeGreaterThan(0);
    }
    const end = await fetchAt(topic, N, 1 << 24);
    expect([end.error, end.hw, end.batches.length]).toEqual([ErrorCode.NONE, N, 0]);
    expect((await fetchAt(topic, N + 1, 1 << 24)).error).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(contiguous(await httpValues(topic, 0))).toEqual(expected);
  }, 60_000);
});

describe('JoinGroup with a lost response', () => {
  it('leaves no ghost member: a consumer whose first JoinGroup answer was lost consumes at once, not after a session timeout', async () => {
    const topic = 'ghost';
    await http('POST', '/v1/topics', { name: topic, partitions: 2 });
    await http('POST', `/v1/topics/${topic}/records`, { records: [{ partition: 0, value: 'a' }, { partition: 1, value: 'b' }] });
    let joins = 0;
    proxy.lose = (api, _n, id) => id === 'ghost' && api === 11 && ++joins === 1;
    const consumer = client('ghost').consumer({ groupId: 'g-ghost', sessionTimeout: 15_000, heartbeatInterval: 500 });
    const seen = new Set<number>();
    const t0 = Date.now();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ partition }) => void seen.add(partition) });
    while (seen.size < 2 && Date.now() - t0 < 20_000) await sleep(50);
    const took = Date.now() - t0;
    proxy.lose = () => false;
    await consumer.disconnect();
    expect(proxy.lost.get(11)).toBe(1);
    expect(seen.size).toBe(2);
    // Kafka (KIP-394) hands a new member its id in a MEMBER_ID_REQUIRED answer and admits it only
    // when it joins with that id, so a lost answer leaves nobody the rebalance must wait for.
    expect(took, `first records after ${took} ms`).toBeLessThan(5000);
  }, 40_000);
});

const haveKcat = kcatAvailable('kafka-faults (librdkafka cases)');

describe.skipIf(!haveKcat)('librdkafka (kcat) idempotent producer with lost responses and kill -9', () => {
  it('five requests in flight, answers lost, the server killed and restarted mid-stream: every line stored once, in order', async () => {
    const topic = 'kcat-idem';
    await http('POST', '/v1/topics', { name: topic, partitions: 1 });
    const lines = Array.from({ length: 4000 }, (_, i) => `line-${i}`);
    let n = 0;
    let crash: Promise<void> | undefined;
    proxy.lose = (api, _nth, id) => {
      if (api !== 0 || id !== 'kcat-idem') return false;
      n++;
      if (n === 150) crash = crashAndRestart();
      return n % 9 === 0;
    };
    const args = ['-E', '-P', '-b', `127.0.0.1:${proxy.port}`, '-t', topic, '-X', 'client.id=kcat-idem', '-X', 'enable.idempotence=true', '-X', 'max.in.flight.requests.per.connection=5'];
    for (const kv of ['linger.ms=2', 'batch.num.messages=7', 'message.send.max.retries=1000000', 'retry.backoff.ms=20', 'reconnect.backoff.ms=10', 'reconnect.backoff.max.ms=100', 'message.timeout.ms=60000']) args.push('-X', kv);
    const child = spawn(KCAT, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
      child.stdin.end(lines.join('\n') + '\n');
    });
    await crash;
    proxy.lose = () => false;
    expect(code, stderr).toBe(0);
    expect(n, 'the server was killed while kcat produced').toBeGreaterThan(150);
    expect(proxy.lost.get(0) ?? 0).toBeGreaterThan(10);
    expect(contiguous(await httpValues(topic, 0))).toEqual(lines);
  }, 90_000);
});

describe('SIGTERM with Kafka requests in work', () => {
  it('every produce the server applied before exiting was answered (a graceful exit drains the listener as it drains HTTP), so a retry cannot duplicate it', async () => {
    const topic = 'sigterm';
    await http('POST', '/v1/topics', { name: topic, partitions: 1 });
    const c = await RawClient.connect(kafkaPort);
    const frames = Array.from({ length: 30 }, (_, i) => {
      const payload = Buffer.concat([new Writer().int16(0).int16(3).int32(i).string('sigterm').finish(), produceBody(topic, 0, encodeRecordBatch([{ value: new Uint8Array(30_000).fill(i) }])).finish()]);
      const size = Buffer.alloc(4);
      size.writeInt32BE(payload.length);
      return Buffer.concat([size, payload]);
    });
    c.socket.write(Buffer.concat(frames));
    await sleep(15);
    const exited = server.kill('SIGTERM');
    let answered = 0;
    while (await c.response(10_000).catch(() => undefined)) answered++;
    expect((await exited).code).toBe(0);
    await start();
    const stored = (await http<{ high_watermark: number }>('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&max_records=1`)).high_watermark;
    expect(stored, 'some requests were in work when SIGTERM came').toBeGreaterThan(0);
    expect(answered).toBe(stored);
  }, 60_000);
});

describe.skipIf(!haveKcat)('librdkafka (kcat -G) consumer group with lost responses and kill -9', () => {
  it('asynchronous auto-commits never move a committed offset back or past what was consumed, and the group reads everything', async () => {
    const topic = 'kcat-grp';
    await http('POST', '/v1/topics', { name: topic, partitions: 2 });
    const produced = [0, 0];
    const produceHttp = async (n: number, tag: string): Promise<void> => {
      for (let p = 0; p < 2; p++) {
        for (let b = 0; b < n / 20; b++) {
          await http('POST', `/v1/topics/${topic}/records`, { records: Array.from({ length: 20 }, (_, i) => ({ partition: p, value: `${tag}.${p}.${b * 20 + i}` })) });
          produced[p] = produced[p]! + 20;
        }
      }
    };
    await produceHttp(400, 'a');
    let k = 0;
    let commits = 0;
    proxy.lose = (api, _n, id) => id === 'kcat-grp' && api !== 18 && (api === 8 ? ++commits % 2 === 1 : ++k % 15 === 0);
    const args = ['-E', '-u', '-b', `127.0.0.1:${proxy.port}`, '-G', 'g-kcat', topic, '-f', '%p %o\n', '-X', 'client.id=kcat-grp', '-X', 'auto.offset.reset=earliest'];
    for (const kv of ['enable.auto.commit=true', 'auto.commit.interval.ms=50', 'fetch.wait.max.ms=50', 'max.partition.fetch.bytes=2000', 'reconnect.backoff.ms=10', 'reconnect.backoff.max.ms=200', 'session.timeout.ms=6000', 'heartbeat.interval.ms=500']) args.push('-X', kv);
    const child = spawn(KCAT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const seen = [new Set<number>(), new Set<number>()];
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const [p, o] = l.split(' ').map(Number);
        if (p === 0 || p === 1) seen[p]!.add(o!);
      }
    });
    let kcatErr = '';
    child.stderr.on('data', (d: Buffer) => void (kcatErr = (kcatErr + d.toString()).slice(-3000)));
    const prefix = (p: number): number => {
      let o = 0;
      while (seen[p]!.has(o)) o++;
      return o;
    };
    const last = [-1, -1];
    const violations: string[] = [];
    const sample = async (): Promise<void> => {
      const { offsets } = await http<{ offsets: Array<{ partition: number; offset: number }> }>('GET', '/v1/groups/g-kcat/offsets');
      for (const o of offsets) {
        if (o.offset < last[o.partition]!) violations.push(`p${o.partition}: committed ${o.offset} after ${last[o.partition]}`);
        if (o.offset > produced[o.partition]!) violations.push(`p${o.partition}: committed ${o.offset} past the end ${produced[o.partition]}`);
        if (o.offset > prefix(o.partition)) violations.push(`p${o.partition}: committed ${o.offset}, ${prefix(o.partition)} not consumed`);
        last[o.partition] = Math.max(last[o.partition]!, o.offset);
      }
    };
    const until = async (cond: () => boolean, ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!cond() && Date.now() < deadline) {
        await sample().catch(() => undefined);
        await sleep(30);
      }
    };
    try {
      await until(() => seen[0]!.size + seen[1]!.size >= 300, 8_000);
      await crashAndRestart();
      await produceHttp(200, 'b');
      await until(() => [0, 1].every((p) => prefix(p) === produced[p] && last[p] === produced[p]), 40_000);
    } finally {
      child.kill('SIGKILL');
      proxy.lose = () => false;
    }
    expect(violations).toEqual([]);
    expect([prefix(0), prefix(1)], kcatErr).toEqual(produced);
    expect(last).toEqual(produced);
    expect(proxy.lost.get(8) ?? 0, 'OffsetCommit answers lost').toBeGreaterThan(0);
  }, 90_000);
});
