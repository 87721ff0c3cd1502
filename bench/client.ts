// Producer throughput through the client against an embedded server process: the client's
// batching (lingerMs 5, batchSize 1 MiB, many sends in flight) versus single-record sends (one
// request per record, each awaited), 1 KiB values, keyed over 6 partitions. Prints a markdown table.
//   npx tsx bench/client.ts        [CLIENT_BENCH_RECORDS=50000 CLIENT_BENCH_SINGLE=2000]
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { type Producer, Samsa } from '../lib/client';
import { startSamsa } from './lib';

const RECORDS = Number(process.env.CLIENT_BENCH_RECORDS ?? 50_000);
const SINGLE = Number(process.env.CLIENT_BENCH_SINGLE ?? 2_000);
const PARTITIONS = 6;
const VALUE = Buffer.alloc(1024, 'x');


async function startServer(): Promise<{ url: string; child: ChildProcess; dir: string }> {
  return startSamsa();
}

interface Row {
  mode: string;
  records: number;
  seconds: number;
}

async function batched(producer: Producer, topic: string, n: number): Promise<Row> {
  const t0 = performance.now();
  const window = 5_000; // sends in flight, as an application producing steadily would have
  const inflight: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) {
    inflight.push(producer.send({ topic, messages: [{ key: `k${i}`, value: VALUE }] }));
    if (inflight.length >= window) await Promise.all(inflight.splice(0, inflight.length));
  }
  await Promise.all(inflight);
  return { mode: '', records: n, seconds: (performance.now() - t0) / 1000 };
}

async function single(producer: Producer, topic: string, n: number): Promise<Row> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await producer.send({ topic, messages: [{ key: `k${i}`, value: VALUE }] });
  return { mode: '', records: n, seconds: (performance.now() - t0) / 1000 };
}

const server = await startServer();
try {
  const samsa = new Samsa({ url: server.url });
  const admin = samsa.admin();
  const rows: Row[] = [];
  const run = async (mode: string, config: Parameters<Samsa['producer']>[0], fn: typeof batched, n: number) => {
    const topic = `bench-${mode.replace(/[^a-z0-9]+/gi, '-')}-${Date.now().toString(36)}`.slice(0, 200);
    await admin.createTopic({ topic, numPartitions: PARTITIONS });
    const p = samsa.producer(config);
    await p.connect();
    await fn(p, topic, Math.min(200, n)); // warm-up: JIT, connections, producer id
    const r = await fn(p, topic, n);
    await p.disconnect();
    rows.push({ ...r, mode });
  };
  await run('batched (lingerMs 5, batchSize 1 MiB)', { lingerMs: 5, batchSize: 1024 * 1024 }, batched, RECORDS);
  await run('batched + lz4', { lingerMs: 5, batchSize: 1024 * 1024, compression: 'lz4' }, batched, RECORDS);
  await run('single-record sends (awaited)', { lingerMs: 0 }, single, SINGLE);
  await run('single-record sends, not idempotent', { lingerMs: 0, idempotent: false }, single, SINGLE);

  const base = rows.find((r) => r.mode.startsWith('single-record sends (awaited)'))!;
  console.log(`\nProducer throughput, ${os.cpus().length} CPU(s), Node ${process.version}, 1 KiB values, ${PARTITIONS} partitions, embedded server on localhost\n`);
  console.log('| mode | records | seconds | records/s | MiB/s | vs single |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const rps = r.records / r.seconds;
    console.log(`| ${r.mode} | ${r.records} | ${r.seconds.toFixed(2)} | ${Math.round(rps)} | ${((rps * 1024) / 2 ** 20).toFixed(1)} | ${(rps / (base.records / base.seconds)).toFixed(1)}× |`);
  }
} finally {
  server.child.kill('SIGTERM');
  setTimeout(() => fs.rmSync(server.dir, { recursive: true, force: true }), 500);
}
