// A flush's wall time on stores with AWS-like round-trip latency (issue 18). On Lambda the flush
// function is billed for that wall time, and most of it is waiting: a step of 1 MiB requests
// reads 32 write-ahead objects and composes the segment's .log (a multipart copy of the kept
// prefix plus the new part) and rewrites its .index and .timeindex. S3 answers small requests
// in "tens of milliseconds" at the median (AWS whitepaper "Best Practices Design Patterns:
// Optimizing Amazon S3 Performance", Timeouts and Retries); DynamoDB in single-digit
// milliseconds. The emulator here answers on loopback in about a millisecond, one request at a
// time, so it shows none of this: this bench adds the latency.
//
//   FLUSH_LAT_STORE=s3 (default): S3 + DynamoDB on moto, every HTTP attempt delayed in the SDK
//     (S3_LATENCY_MS, default 20; DDB_LATENCY_MS, default 5).
//   FLUSH_LAT_STORE=local: SQLite + local files, every object-store call delayed S3_LATENCY_MS.
// Transfer time is not modelled (it would add the same to both rows), but moto's server-side
// copies take real time. Each run flushes the same data two ways (FLUSH_LAT_COMPARE, below).
//
//   npx tsx bench/flush-latency.ts              # 128 MiB of 1 MiB requests, one partition
//   FLUSH_LAT_MIB=512 npx tsx bench/flush-latency.ts                        # a growing 1 GiB segment
//   FLUSH_LAT_MIB=512 FLUSH_LAT_SEGMENT_MIB=128 npx tsx bench/flush-latency.ts   # rolls and compositions
//   FLUSH_LAT_COMPARE=readahead FLUSH_LAT_STORE=local npx tsx bench/flush-latency.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogEngine } from '../lib/log/engine';
import { DEFAULT_FLUSH_OPTIONS, type FlushOptions, WAL_READ_AHEAD } from '../lib/log/flush';
import { codecsReady, encodeRecordBatch } from '../lib/records';
import { AWS_PRICES } from '../lib/storage/aws-prices';
import { LocalObjectStore } from '../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../lib/storage/ports';
import { SqliteMetaStore } from '../lib/storage/sqlite-meta-store';
import { addLatency, emulator } from './lib';

const MIB = Number(process.env.FLUSH_LAT_MIB ?? 128);
/** The topic's segment.bytes, in MiB (default Kafka's 1 GiB): smaller ones roll, and the chunked layout then composes. */
const SEGMENT_MIB = Number(process.env.FLUSH_LAT_SEGMENT_MIB ?? 1024);
const STORE = process.env.FLUSH_LAT_STORE ?? 's3';
const S3_MS = Number(process.env.S3_LATENCY_MS ?? 20);
const DDB_MS = Number(process.env.DDB_LATENCY_MS ?? 5);
const LAMBDA_GB = 1; // the flush function's memory in the CDK construct (1024 MB)
const LAMBDA_GB_SECOND = AWS_PRICES.lambdaArmGbSecond;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every object-store call waits `ms` first: a round trip, roughly. */
function withLatency(inner: ObjectStore, ms: number): ObjectStore {
  return {
    put: async (...a) => (await sleep(ms), inner.put(...a)),
    get: async (...a) => (await sleep(ms), inner.get(...a)),
    head: async (...a) => (await sleep(ms), inner.head(...a)),
    delete: async (...a) => (await sleep(ms), inner.delete(...a)),
    list: async (...a) => (await sleep(ms), inner.list(...a)),
    append: async (...a) => (await sleep(ms), inner.append(...a)),
    compose: async (...a) => (await sleep(ms), inner.compose(...a)),
    get appendCopiesPrefix() {
      return inner.appendCopiesPrefix;
    },
    close: async () => inner.close?.(),
  };
}

interface Stores {
  meta: MetaStore;
  objects: ObjectStore;
  /** The same stores, with latency (what the flush runs on). */
  slowMeta: MetaStore;
  slowObjects: ObjectStore;
  done(): Promise<void>;
}

async function localStores(): Promise<Stores> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-flushlat-'));
  const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
  return { meta, objects, slowMeta: meta, slowObjects: withLatency(objects, S3_MS), done: async () => fs.rmSync(dir, { recursive: true, force: true }) };
}

let emu: { stop(): void } | undefined;
async function s3Stores(): Promise<Stores> {
  emu ??= await emulator();
  const { awsConfigFromEnv, makeDynamoClient, makeS3Client } = await import('../lib/storage/aws-clients');
  const { ensureBucket, ensureTable } = await import('../lib/storage/aws-provision');
  const { DynamoMetaStore } = await import('../lib/storage/dynamo-meta-store');
  const { S3ObjectStore } = await import('../lib/storage/s3-object-store');
  const cfg = awsConfigFromEnv();
  const name = `samsa-flushlat-${Date.now()}`;
  const fast = { s3: makeS3Client(cfg), ddb: makeDynamoClient(cfg) };
  await ensureBucket(fast.s3, name, cfg.region);
  await ensureTable(fast.ddb, name);
  const slow = { s3: makeS3Client(cfg), ddb: makeDynamoClient(cfg) };
  addLatency(slow.s3, S3_MS);
  addLatency(slow.ddb, DDB_MS);
  return {
    meta: new DynamoMetaStore({ client: fast.ddb, table: name }),
    objects: new S3ObjectStore({ client: fast.s3, bucket: name }),
    slowMeta: new DynamoMetaStore({ client: slow.ddb, table: name }),
    slowObjects: new S3ObjectStore({ client: slow.s3, bucket: name }),
    done: async () => undefined, // the emulator goes with the process
  };
}

interface Variant {
  label: string;
  flush: Partial<FlushOptions>;
}

// FLUSH_LAT_COMPARE=chunks (default): segments as one object each, extended by an append that
// copies the kept prefix (before design note 0011), against chunks. =readahead: write-ahead
// objects read one after another against WAL_READ_AHEAD at a time.
const COMPARE = process.env.FLUSH_LAT_COMPARE ?? 'chunks';
const VARIANTS: Variant[] =
  COMPARE === 'readahead'
    ? [
        { label: 'read ahead 1', flush: { readAhead: 1 } },
        { label: `read ahead ${WAL_READ_AHEAD}`, flush: {} },
      ]
    : [
        { label: 'one object per segment', flush: { chunkBytes: Number.POSITIVE_INFINITY } },
        { label: 'chunks (default)', flush: {} },
      ];

async function run(v: Variant): Promise<{ seconds: number; steps: number }> {
  const s = STORE === 'local' ? await localStores() : await s3Stores();
  try {
    // Produce without latency (not what is measured); AWS mode's commit settings on moto.
    const aws = STORE !== 'local';
    const settings = aws ? { inlineMaxBytes: 2560, headOnlyCommits: true, itemCommits: true } : {};
    const producer = new LogEngine(s.meta, s.objects, undefined, settings);
    await producer.createTopic('t', 1, { 'segment.bytes': SEGMENT_MIB * 2 ** 20 });
    const value = new Uint8Array(1024).fill(7);
    const batch = encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })));
    for (let i = 0; i < Math.round((MIB * 2 ** 20) / batch.length); i++) await producer.produceBatches('t', 0, new Uint8Array(batch), { owned: true });
    const flusher = new LogEngine(s.slowMeta, s.slowObjects, undefined, { ...settings, flush: { ...DEFAULT_FLUSH_OPTIONS, ...v.flush } });
    const topic = await flusher.topics.get('t');
    const t0 = performance.now();
    const stats = await flusher.flushPartition(topic, 0);
    const seconds = (performance.now() - t0) / 1000;
    await flusher.close();
    await producer.close();
    return { seconds, steps: stats.steps };
  } finally {
    await s.done();
  }
}

await codecsReady();
const where = STORE === 'local' ? `SQLite + local files, ${S3_MS} ms per object-store call` : `S3 + DynamoDB on moto, ${S3_MS} ms per S3 and ${DDB_MS} ms per DynamoDB request`;
console.log(`${MIB} MiB of 1 MiB write-ahead commits, one partition, 32 MiB steps, segment.bytes ${SEGMENT_MIB} MiB; ${where}; load ${os.loadavg()[0]!.toFixed(1)}\n`);
console.log('| variant | run | flush s | steps | s per GiB | Lambda $/GiB (1 GB) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
const per = VARIANTS.map(() => [] as number[]);
for (let round = 1; round <= 2; round++) {
  for (const [i, v] of VARIANTS.entries()) {
    const r = await run(v);
    const perGiB = (r.seconds / MIB) * 1024;
    per[i]!.push(perGiB);
    console.log(`| ${v.label} | ${round} | ${r.seconds.toFixed(2)} | ${r.steps} | ${perGiB.toFixed(1)} | ${(perGiB * LAMBDA_GB * LAMBDA_GB_SECOND).toFixed(5)} |`);
  }
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const saved = mean(per[0]!) - mean(per[1]!);
console.log(`\n${VARIANTS[1]!.label}: ${(mean(per[0]!) / mean(per[1]!)).toFixed(2)}x faster than ${VARIANTS[0]!.label}; ${saved.toFixed(1)} s and $${(saved * LAMBDA_GB * LAMBDA_GB_SECOND).toFixed(5)} of flush Lambda time saved per GiB.`);
emu?.stop();
