// What reading write-ahead objects ahead saves a flush on a store with S3's latency (issue 18).
// A flush step of 1 MiB requests reads 32 write-ahead objects; on S3 each GET waits for its
// first byte ("tens of milliseconds" median for small requests: AWS whitepaper "Best Practices
// Design Patterns: Optimizing Amazon S3 Performance", Timeouts and Retries), and on Lambda the
// flush function is billed for that wall time. The S3 emulator here answers on loopback in
// about a millisecond and serves one request at a time, so it cannot show this: this bench runs
// the embedded stores (SQLite, local files) with every object-store call delayed by
// S3_FIRST_BYTE_MS (default 20; transfer time is not modelled, which favours the sequential
// read), flushing the same data with readAhead 1 (the old sequential read) and the default.
//
//   npx tsx bench/flush-read-ahead.ts            # 128 MiB, 20 ms
//   FRA_MIB=256 S3_FIRST_BYTE_MS=30 npx tsx bench/flush-read-ahead.ts
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LogEngine } from '../lib/log/engine';
import { DEFAULT_FLUSH_OPTIONS, WAL_READ_AHEAD } from '../lib/log/flush';
import { codecsReady, encodeRecordBatch } from '../lib/records';
import { LocalObjectStore } from '../lib/storage/local-object-store';
import type { ObjectStore } from '../lib/storage/ports';
import { SqliteMetaStore } from '../lib/storage/sqlite-meta-store';

const MIB = Number(process.env.FRA_MIB ?? 128);
const FIRST_BYTE_MS = Number(process.env.S3_FIRST_BYTE_MS ?? 20);
const LAMBDA_GB = 1; // the flush function's memory in the CDK construct (1024 MB)
const LAMBDA_GB_SECOND = 0.0000133334; // arm64, us-east-1

/** Every call waits FIRST_BYTE_MS before it runs: a round trip to S3, roughly. */
function withLatency(inner: ObjectStore): ObjectStore {
  const wait = (): Promise<void> => new Promise((r) => setTimeout(r, FIRST_BYTE_MS));
  return {
    put: async (...a) => (await wait(), inner.put(...a)),
    get: async (...a) => (await wait(), inner.get(...a)),
    head: async (...a) => (await wait(), inner.head(...a)),
    delete: async (...a) => (await wait(), inner.delete(...a)),
    list: async (...a) => (await wait(), inner.list(...a)),
    append: async (...a) => (await wait(), inner.append(...a)),
    close: async () => inner.close?.(),
  };
}

async function run(readAhead: number): Promise<{ seconds: number; steps: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-fra-'));
  try {
    const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
    const local = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
    // Produce without latency (not what is measured), flush through it.
    const producer = new LogEngine(meta, local);
    await producer.createTopic('t', 1);
    const value = new Uint8Array(1024).fill(7);
    const batch = encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })));
    for (let i = 0; i < Math.round((MIB * 2 ** 20) / batch.length); i++) await producer.produceBatches('t', 0, new Uint8Array(batch), { owned: true });
    const flusher = new LogEngine(meta, withLatency(local), undefined, { flush: { ...DEFAULT_FLUSH_OPTIONS, readAhead } });
    const topic = await flusher.topics.get('t');
    const t0 = performance.now();
    const stats = await flusher.flushPartition(topic, 0);
    const seconds = (performance.now() - t0) / 1000;
    await flusher.close();
    await producer.close();
    return { seconds, steps: stats.steps };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await codecsReady();
console.log(`${MIB} MiB of 1 MiB write-ahead commits, one partition, 32 MiB steps, ${FIRST_BYTE_MS} ms per object-store call; load ${os.loadavg()[0]!.toFixed(1)}\n`);
console.log('| read ahead | run | flush s | steps | s per GiB | Lambda $/GiB (1 GB) |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
const per: Record<number, number[]> = { 1: [], [WAL_READ_AHEAD]: [] };
for (let round = 1; round <= 2; round++) {
  for (const readAhead of [1, WAL_READ_AHEAD]) {
    const r = await run(readAhead);
    const perGiB = (r.seconds / MIB) * 1024;
    per[readAhead]!.push(perGiB);
    console.log(`| ${readAhead} | ${round} | ${r.seconds.toFixed(2)} | ${r.steps} | ${perGiB.toFixed(1)} | ${(perGiB * LAMBDA_GB * LAMBDA_GB_SECOND).toFixed(5)} |`);
  }
}
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const saved = mean(per[1]!) - mean(per[WAL_READ_AHEAD]!);
console.log(`\nRead ahead ${WAL_READ_AHEAD}: ${(mean(per[1]!) / mean(per[WAL_READ_AHEAD]!)).toFixed(2)}x faster; ${saved.toFixed(1)} s and $${(saved * LAMBDA_GB * LAMBDA_GB_SECOND).toFixed(5)} of flush Lambda time saved per GiB.`);
