// Embedded server over loopback HTTP, 1 KiB records: binary produce MB/s, JSON produce
// records/s, binary fetch MB/s, and single-record produce latency (p50/p99). The server runs in
// its own process (as `npm start` does) with its flush loop on, so the numbers include the
// durability work (fsync) and the background flush competing for the same two cores.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { encodeRecordBatch } from '../lib/records';
import { closeConnections, request, startSamsa } from './lib';

const RECORD = 1024;
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 6) * 1000;
async function startServer(): Promise<{ port: number; proc: ChildProcess; dir: string }> {
  const { port, child, dir } = await startSamsa({ SAMSA_JOB_INTERVAL_MS: '10000' });
  return { port, proc: child, dir };
}

async function runFor(concurrency: number, ms: number, op: () => Promise<number>): Promise<{ units: number; seconds: number }> {
  const end = performance.now() + ms;
  let units = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        // Not `units += await op()`: that reads `units` before the await and loses the
        // other workers' additions.
        const n = await op();
        units += n;
      }
    }),
  );
  return { units, seconds: (performance.now() - t0) / 1000 };
}

export interface HttpBenchResult {
  binaryProduceMBs: number;
  jsonProduceRecordsPerSec: number;
  binaryFetchMBs: number;
  singleP50ms: number;
  singleP99ms: number;
}

export async function benchHttp(): Promise<HttpBenchResult> {
  const { port, proc, dir } = await startServer();
  try {
    const json = { 'content-type': 'application/json' };
    const partitions = 4;
    for (const name of ['bin', 'json', 'single']) {
      const r = await request(port, 'POST', '/v1/topics', JSON.stringify({ name, partitions }), json);
      if (r.status !== 201) throw new Error(`create ${name}: ${r.status} ${r.body}`);
    }
    const value = new Uint8Array(RECORD).fill(97);

    // Binary produce: ~1 MiB requests of 1 KiB records, spread over the partitions.
    const batch = encodeRecordBatch(Array.from({ length: 1000 }, () => ({ value })));
    let cursor = 0;
    const bin = await runFor(8, DURATION_MS, async () => {
      const p = cursor++ % partitions;
      const r = await request(port, 'POST', `/v1/topics/bin/partitions/${p}/records`, batch, { 'content-type': 'application/vnd.kafka.record-batch' });
      if (r.status !== 200) throw new Error(`binary produce: ${r.status} ${r.body}`);
      return batch.length;
    });

    // JSON produce: 500 records of 1 KiB string values per request.
    const text = 'a'.repeat(RECORD);
    const jsonBody = JSON.stringify({ value_format: 'string', records: Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: text })) });
    const js = await runFor(8, DURATION_MS, async () => {
      const r = await request(port, 'POST', '/v1/topics/json/records', jsonBody, json);
      if (r.status !== 200) throw new Error(`json produce: ${r.status} ${r.body}`);
      return 500;
    });

    // Binary fetch of everything produced above, 8 MiB per request, one reader per partition.
    await new Promise((r) => setTimeout(r, 1500)); // let the eager flush settle
    const t0 = performance.now();
    let fetched = 0;
    await Promise.all(
      Array.from({ length: partitions }, async (_, p) => {
        let offset = 0;
        for (;;) {
          const r = await request(port, 'GET', `/v1/topics/bin/partitions/${p}/records?offset=${offset}&max_bytes=${8 << 20}`, undefined, { accept: 'application/vnd.kafka.record-batch' });
          if (r.status !== 200) throw new Error(`fetch: ${r.status} ${r.body}`);
          fetched += r.body.length;
          const next = Number(r.headers['x-next-offset']);
          if (next === offset || next >= Number(r.headers['x-high-watermark'])) break;
          offset = next;
        }
      }),
    );
    const fetchSeconds = (performance.now() - t0) / 1000;

    // Single-record produce latency, sequential.
    const lat: number[] = [];
    const one = JSON.stringify({ value_format: 'string', records: [{ value: text }] });
    for (let i = 0; i < 1500; i++) {
      const s = performance.now();
      const r = await request(port, 'POST', '/v1/topics/single/records', one, json);
      if (r.status !== 200) throw new Error(`single produce: ${r.status}`);
      if (i >= 100) lat.push(performance.now() - s);
    }
    lat.sort((a, b) => a - b);
    return {
      binaryProduceMBs: bin.units / bin.seconds / 1e6,
      jsonProduceRecordsPerSec: js.units / js.seconds,
      binaryFetchMBs: fetched / fetchSeconds / 1e6,
      singleP50ms: lat[Math.floor(lat.length * 0.5)]!,
      singleP99ms: lat[Math.floor(lat.length * 0.99)]!,
    };
  } finally {
    proc.kill('SIGTERM');
    closeConnections();
    await new Promise((r) => proc.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchHttp();
  console.log('| measure | result | target |\n| --- | --- | --- |');
  console.log(`| binary produce, 1 MiB requests of 1 KiB records | ${r.binaryProduceMBs.toFixed(1)} MB/s | ≥ 100 MB/s |`);
  console.log(`| JSON produce, 500 × 1 KiB records per request | ${Math.round(r.jsonProduceRecordsPerSec)} records/s | ≥ 50,000 records/s |`);
  console.log(`| binary fetch, 8 MiB per request | ${r.binaryFetchMBs.toFixed(1)} MB/s | ≥ 200 MB/s |`);
  console.log(`| single-record produce latency | p50 ${r.singleP50ms.toFixed(2)} ms, p99 ${r.singleP99ms.toFixed(2)} ms | — |`);
}
