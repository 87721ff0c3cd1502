// A Jepsen-style run against the Kafka listener with real clients (`npm run test:kafka-faults`):
// the HTTP history checker (run.ts) does not speak Kafka, and this drives what it cannot —
// KafkaJS idempotent and plain producers and a two-member consumer group (one auto-committing,
// one committing every record itself) through a frame-aware TCP proxy that loses responses
// (test/helpers/kafka-proxy.ts), while a seeded nemesis kill -9s and restarts the embedded
// server or pauses it (SIGSTOP/SIGCONT). Then the faults stop, the group drains, and the log and
// the commits are judged against what the clients were told:
//   - every acknowledged record is in the log (idempotent and plain, acks -1 and 1);
//   - no idempotent record is stored twice (retries with a kept sequence are deduplicated);
//   - each partition's offsets run 0, 1, 2, ... with no hole;
//   - committed offsets (sampled over HTTP while the run goes) never go back, never pass the
//     high watermark, and never pass the first offset the group has not processed;
//   - after the drain every record was processed and the commits reach the high watermarks.
// Exit status 1 on any violation. Embedded mode only (one server, its own data directory).
//
//   npm run test:kafka-faults -- [--seed S] [--duration-ms MS] [--lose P] [--kill P] [--pause-ms MIN,MAX]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Consumer, Kafka, logLevel, type Producer } from 'kafkajs';
import { startKafkaProxy } from '../helpers/kafka-proxy';
import { freePort } from '../helpers/net';
import { Server } from './cluster';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    'duration-ms': { type: 'string', default: '30000' },
    lose: { type: 'string', default: '0.04' },
    kill: { type: 'string', default: '0.5' },
    'pause-ms': { type: 'string', default: '500,3000' },
  },
});
const DURATION = Number(args['duration-ms']);
const LOSE = Number(args.lose);
const KILL = Number(args.kill);
const [PAUSE_MIN, PAUSE_MAX] = args['pause-ms']!.split(',').map(Number) as [number, number];
let state = Number(args.seed) >>> 0 || 1;
/** Seeded (the nemesis and the proxy's choices; the clients' timing is not). */
const random = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (...a: unknown[]): void => console.log(new Date().toISOString().slice(11, 23), ...a);

const P = 3;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-kafka-faults-'));
const kafkaPort = await freePort();
const proxy = await startKafkaProxy(kafkaPort);
const server = new Server('s', await freePort(), {
  SAMSA_STORAGE: 'embedded',
  SAMSA_DATA_DIR: dataDir,
  SAMSA_KAFKA_PORT: String(kafkaPort),
  SAMSA_KAFKA_ADVERTISED: `127.0.0.1:${proxy.port}`,
  SAMSA_FLUSH_DELAY_MS: '0',
  SAMSA_JOB_INTERVAL_MS: '200',
});
await server.start();

async function http<T>(method: string, p: string, body?: unknown): Promise<T> {
  const res = await fetch(server.url + p, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}
const highWatermarks = (topic: string): Promise<number[]> =>
  Promise.all(Array.from({ length: P }, (_, p) => http<{ high_watermark: number }>('GET', `/v1/topics/${topic}/partitions/${p}/records?offset=0&max_records=1`).then((r) => r.high_watermark)));

await http('POST', '/v1/topics', { name: 'idem', partitions: P });
await http('POST', '/v1/topics', { name: 'plain', partitions: P });
const kafka = (clientId: string): Kafka =>
  new Kafka({ clientId, brokers: [`127.0.0.1:${proxy.port}`], logLevel: logLevel.NOTHING, retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 1500 }, requestTimeout: 5000, connectionTimeout: 2000 });

let healed = false;
// ApiVersions answers are never lost: KafkaJS gives a connection up for good on that failure.
proxy.lose = (api) => !healed && api !== 18 && random() < LOSE;

const violations: string[] = [];
const clientErrors = new Map<string, number>();
const note = (e: unknown): void => {
  const k = `${(e as Error).name}: ${String((e as Error).message).slice(0, 80)}`;
  clientErrors.set(k, (clientErrors.get(k) ?? 0) + 1);
};
const acked = { idem: new Set<string>(), plain: new Set<string>() };
let producing = true;

/** A connected idempotent producer: a failed connect (a lost InitProducerId answer) is retried with a new one, never used unconnected (KafkaJS would then send without a producer id). */
async function idempotentProducer(clientId: string): Promise<Producer> {
  for (;;) {
    const p = kafka(clientId).producer({ idempotent: true, maxInFlightRequests: 1 });
    try {
      await p.connect();
      return p;
    } catch (e) {
      note(e);
      await p.disconnect().catch(() => undefined);
      await sleep(200);
    }
  }
}

async function idempotentLoop(n: number): Promise<void> {
  let p = await idempotentProducer(`idem${n}`);
  for (let i = 0; producing; i++) {
    const messages = Array.from({ length: 1 + (i % 3) }, (_, j) => ({ key: `k${n}.${i}.${j}`, value: `i${n}.${i}.${j}` }));
    try {
      await p.send({ topic: 'idem', acks: -1, messages });
      for (const m of messages) acked.idem.add(m.value);
    } catch (e) {
      // Out of retries: KafkaJS would give the next batch this one's sequence, so a new
      // producer id, as an application must.
      note(e);
      await p.disconnect().catch(() => undefined);
      p = await idempotentProducer(`idem${n}`);
    }
    await sleep(5);
  }
  await p.disconnect().catch(() => undefined);
}

async function plainLoop(): Promise<void> {
  const p = kafka('plain').producer();
  await p.connect().catch(note);
  for (let i = 0; producing; i++) {
    const value = `p${i}`;
    try {
      await p.send({ topic: 'plain', acks: i % 2 ? 1 : -1, messages: [{ key: `pk${i}`, value }] });
      acked.plain.add(value);
    } catch (e) {
      note(e);
    }
    await sleep(10);
  }
  await p.disconnect().catch(() => undefined);
}

// The group: processed offsets of 'idem' per partition, and the first one not processed.
const processed = Array.from({ length: P }, () => new Set<number>());
const prefix = (p: number): number => {
  let o = 0;
  while (processed[p]!.has(o)) o++;
  return o;
};
const consumers: Consumer[] = [];
async function startConsumer(n: number): Promise<void> {
  // A lost answer while it joins can fail connect() or leave the consumer down for good
  // (KafkaJS does not restart it after some errors): a new consumer takes the member's place,
  // as an application's supervisor would.
  for (;;) {
    const c = kafka(`cons${n}`).consumer({ groupId: 'kafka-faults', sessionTimeout: 8000, heartbeatInterval: 500, rebalanceTimeout: 6000, maxWaitTimeInMs: 200, retry: { retries: 1000, initialRetryTime: 100, maxRetryTime: 1500 } });
    consumers.push(c);
    c.on(c.events.CRASH, (e) => {
      log(`cons${n} crashed`, e.payload.error.name, e.payload.restart ? '(KafkaJS restarts it)' : '(replaced)');
      if (!e.payload.restart && sampling) void sleep(500).then(() => startConsumer(n));
    });
    try {
      await c.connect();
      await c.subscribe({ topic: 'idem', fromBeginning: true });
      await c.run({
        autoCommit: n === 0,
        eachMessage: async ({ partition, message }) => {
          processed[partition]!.add(Number(message.offset));
          if (n !== 0) await c.commitOffsets([{ topic: 'idem', partition, offset: String(Number(message.offset) + 1) }]).catch(note);
        },
      });
      return;
    } catch (e) {
      note(e);
      await c.disconnect().catch(() => undefined);
      await sleep(500);
    }
  }
}

const committed = Array.from({ length: P }, () => -1);
let sampling = true;
let samples = 0;
async function sampler(): Promise<void> {
  while (sampling) {
    try {
      const { offsets } = await http<{ offsets: Array<{ partition: number; offset: number }> }>('GET', '/v1/groups/kafka-faults/offsets');
      const hw = await highWatermarks('idem');
      samples++;
      for (const o of offsets) {
        if (o.offset < committed[o.partition]!) violations.push(`commit went back: p${o.partition} ${committed[o.partition]} → ${o.offset}`);
        if (o.offset > prefix(o.partition)) violations.push(`commit ahead of processing: p${o.partition} at ${o.offset}, offset ${prefix(o.partition)} not processed`);
        if (o.offset > hw[o.partition]!) violations.push(`commit past the high watermark: p${o.partition} at ${o.offset}, high watermark ${hw[o.partition]}`);
        committed[o.partition] = Math.max(committed[o.partition]!, o.offset);
      }
    } catch {
      // the server is down or paused
    }
    await sleep(100);
  }
}

const actions: string[] = [];
async function nemesis(): Promise<void> {
  const end = Date.now() + DURATION;
  while (Date.now() < end) {
    await sleep(2000 + random() * 3000);
    if (random() < KILL) {
      actions.push('kill -9');
      await server.kill9();
      proxy.cutAll();
      await sleep(random() * 1000);
      await server.start();
    } else {
      const ms = Math.round(PAUSE_MIN + random() * (PAUSE_MAX - PAUSE_MIN));
      actions.push(`pause ${ms} ms`);
      server.pause();
      await sleep(ms);
      server.resume();
    }
  }
}

async function readAll(topic: string, p: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const r = await http<{ records: Array<{ offset: number; value: string; value_encoding?: string }> }>('GET', `/v1/topics/${topic}/partitions/${p}/records?offset=${out.length}&max_records=1000`);
    if (r.records.length === 0) return out;
    for (const x of r.records) {
      if (x.offset !== out.length) violations.push(`hole: ${topic}/${p} offset ${x.offset} where ${out.length} was next`);
      out.push(x.value_encoding === 'base64' ? Buffer.from(x.value, 'base64').toString() : x.value);
    }
  }
}

// KafkaJS leaves some rejections of abandoned clients unhandled: they are the clients', not a verdict.
process.on('unhandledRejection', note);

try {
  log(`seed ${args.seed}, ${DURATION} ms of faults, ${LOSE} of responses lost, data in ${dataDir}`);
  const producers = [idempotentLoop(0), idempotentLoop(1), plainLoop()];
  const sampled = sampler();
  await startConsumer(0);
  await startConsumer(1);
  await nemesis();
  healed = true;
  producing = false;
  await Promise.all(producers);
  const hw = await highWatermarks('idem');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && !hw.every((e, p) => prefix(p) >= e && committed[p]! >= e)) await sleep(200);
  sampling = false;
  await sampled;

  const stored = { idem: [] as string[], plain: [] as string[] };
  for (let p = 0; p < P; p++) {
    stored.idem.push(...(await readAll('idem', p)));
    stored.plain.push(...(await readAll('plain', p)));
  }
  const times = new Map<string, number>();
  for (const v of stored.idem) times.set(v, (times.get(v) ?? 0) + 1);
  const twice = [...times].filter(([, k]) => k > 1).map(([v]) => v);
  if (twice.length > 0) violations.push(`idempotent records stored more than once: ${twice.length}, e.g. ${twice.slice(0, 5).join(' ')}`);
  const lostIdem = [...acked.idem].filter((v) => !times.has(v));
  if (lostIdem.length > 0) violations.push(`acknowledged idempotent records missing: ${lostIdem.length}, e.g. ${lostIdem.slice(0, 5).join(' ')}`);
  const plainSet = new Set(stored.plain);
  const lostPlain = [...acked.plain].filter((v) => !plainSet.has(v));
  if (lostPlain.length > 0) violations.push(`acknowledged plain records missing: ${lostPlain.length}, e.g. ${lostPlain.slice(0, 5).join(' ')}`);
  if (!hw.every((e, p) => prefix(p) >= e)) violations.push(`group did not process everything after the drain: first unprocessed ${hw.map((_, p) => prefix(p)).join(',')} of ${hw.join(',')}`);
  if (!hw.every((e, p) => committed[p] === e)) violations.push(`commits did not reach the high watermarks: ${committed.join(',')} of ${hw.join(',')}`);

  log('nemesis:', actions.join(', ') || 'nothing');
  log('responses lost, by api key:', JSON.stringify(Object.fromEntries(proxy.lost)));
  log(`idempotent: ${acked.idem.size} acknowledged, ${stored.idem.length} stored; plain: ${acked.plain.size} acknowledged, ${stored.plain.length} stored; ${samples} commit samples`);
  if (clientErrors.size > 0) log('client errors:', JSON.stringify(Object.fromEntries(clientErrors)));
  log(violations.length === 0 ? 'no violations' : `${violations.length} violations:\n  ${violations.slice(0, 30).join('\n  ')}`);
} finally {
  healed = true;
  producing = false;
  sampling = false;
  await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
  await server.stop();
  await proxy.close();
  if (violations.length === 0) fs.rmSync(dataDir, { recursive: true, force: true });
}
process.exit(violations.length === 0 ? 0 : 1);
