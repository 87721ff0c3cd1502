// Memory of a flush that builds one full segment: produce SIZE_MIB of 1 MiB batches into a
// topic whose segment.bytes is 1 GiB, then flush it all into that one segment while sampling
// the process's memory every 20 ms. The flush works in bounded steps (32 MiB of batches), so
// the peak should not grow with the segment: on S3 each step composes the segment with a
// server-side UploadPartCopy of the prefix, never downloading it.
//
//   npx tsx bench/flush-memory.ts                      # local store, 1024 MiB
//   FLUSH_STORE=s3 FLUSH_MIB=256 npx tsx bench/flush-memory.ts   # S3/DynamoDB on moto
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogEngine } from '../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../lib/records';
import { LocalObjectStore } from '../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../lib/storage/ports';
import { SqliteMetaStore } from '../lib/storage/sqlite-meta-store';
import { emulator } from './lib';

const MIB = Number(process.env.FLUSH_MIB ?? 1024);
const STORE = process.env.FLUSH_STORE ?? 'local';

async function stores(): Promise<{ meta: MetaStore; objects: ObjectStore; done(): Promise<void> }> {
  if (STORE === 'local') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-flushmem-'));
    return {
      meta: new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }),
      objects: new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }),
      done: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const emu = await emulator();
  const { awsConfigFromEnv, makeDynamoClient, makeS3Client } = await import('../lib/storage/aws-clients');
  const { ensureBucket, ensureTable } = await import('../lib/storage/aws-provision');
  const { DynamoMetaStore } = await import('../lib/storage/dynamo-meta-store');
  const { S3ObjectStore } = await import('../lib/storage/s3-object-store');
  const cfg = awsConfigFromEnv();
  const s3 = makeS3Client(cfg);
  const ddb = makeDynamoClient(cfg);
  const name = `samsa-flushmem-${Date.now()}`;
  await ensureBucket(s3, name, cfg.region);
  await ensureTable(ddb, name);
  return {
    meta: new DynamoMetaStore({ client: ddb, table: name }),
    objects: new S3ObjectStore({ client: s3, bucket: name }),
    done: async () => emu.stop(),
  };
}

function sampler(): { stop(): { heap: number; arrayBuffers: number; rss: number } } {
  const peak = { heap: 0, arrayBuffers: 0, rss: 0 };
  const take = (): void => {
    const m = process.memoryUsage();
    peak.heap = Math.max(peak.heap, m.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
    peak.rss = Math.max(peak.rss, m.rss);
  };
  const t = setInterval(take, 20);
  return {
    stop() {
      clearInterval(t);
      take();
      return peak;
    },
  };
}

const mb = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;

await codecsReady();
const s = await stores();
const engine = new LogEngine(s.meta, s.objects);
await engine.createTopic('big', 1, { 'segment.bytes': 1073741824 });
const value = new Uint8Array(1024).fill(5);
const batch = encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })));
const requests = Math.ceil((MIB * 2 ** 20) / batch.length);
for (let i = 0; i < requests; i++) await engine.produceBatches('big', 0, new Uint8Array(batch), { owned: true });
global.gc?.();
const before = process.memoryUsage();
const probe = sampler();
const t0 = performance.now();
const stats = await engine.flushAll();
const seconds = (performance.now() - t0) / 1000;
const peak = probe.stop();
const topic = await engine.topics.get('big');
const segments = await engine.reader.segments(topic, 0);
await engine.close();
await s.done();

console.log(`| store | segment built | flush steps | flush time | peak heap used | peak array buffers | peak RSS | heap before |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |`);
console.log(
  `| ${STORE} | ${segments.length} segment(s), ${mb(segments.reduce((a, x) => a + x.size, 0))} | ${stats.steps} | ${seconds.toFixed(1)} s | ${mb(peak.heap)} | ${mb(peak.arrayBuffers)} | ${mb(peak.rss)} | ${mb(before.heapUsed)} |`,
);
