// RecordBatch codec benchmark: ours vs KafkaJS 2.2.4 on the same records in the same run.
// Run: npx tsx bench/codec.ts   (prints a markdown table for bench/RESULTS.md)
//
// Workload: batches of 100 records, 1 KiB random values, 16-byte keys, one header each,
// uncompressed. Our decode verifies the CRC; KafkaJS's does not. Rounds of ours and KafkaJS's
// alternate, and the ratio is the median of per-round ratios, so machine load skews it little.

import os from 'node:os';
import { createRequire } from 'node:module';
import {
  Compression,
  codecsReady,
  decodeRecordBatch,
  encodeRecordBatch,
  type RecordInput,
} from '../lib/records/index.js';

const require = createRequire(import.meta.url);
 
const Long: any = require('kafkajs/src/utils/long');
const Decoder: any = require('kafkajs/src/protocol/decoder');
const { RecordBatch }: any = require('kafkajs/src/protocol/recordBatch/v0');
const KRecord: any = require('kafkajs/src/protocol/recordBatch/record/v0');
const kafkajsDecodeBatch: any = require('kafkajs/src/protocol/recordBatch/v0/decoder');

const RECORDS = 100;
const VALUE_SIZE = 1024;
const NOW = 1_700_000_000_000;

// Values are random, but half-repetitive so compression has something to do.
function value(i: number): Buffer {
  const b = Buffer.alloc(VALUE_SIZE);
  for (let j = 0; j < VALUE_SIZE; j++) b[j] = j < VALUE_SIZE / 2 ? (Math.random() * 256) | 0 : (i + j) % 16 + 97;
  return b;
}
const records: RecordInput[] = Array.from({ length: RECORDS }, (_, i) => ({
  key: Buffer.from(`key-${String(i).padStart(12, '0')}`),
  value: value(i),
  headers: [{ key: 'content-type', value: Buffer.from('application/octet-stream') }],
  timestamp: NOW + i,
}));

async function kafkajsEncode(): Promise<Buffer> {
  const recs = records.map((r, i) =>
    KRecord({
      offsetDelta: i,
      timestampDelta: r.timestamp! - NOW,
      key: r.key,
      value: r.value,
      headers: Object.fromEntries(r.headers!.map((h) => [h.key, h.value])),
    }),
  );
  const enc = await RecordBatch({
    firstOffset: Long.fromValue(0),
    firstTimestamp: NOW,
    maxTimestamp: NOW + RECORDS - 1,
    lastOffsetDelta: RECORDS - 1,
    producerId: Long.fromValue(-1),
    producerEpoch: -1,
    firstSequence: -1,
    partitionLeaderEpoch: -1,
    records: recs,
  });
  return enc.buffer;
}

interface Result {
  opsPerSec: number;
  mbPerSec: number;
}

/** Ops/s of fn over one timed round. */
async function round(fn: () => unknown | Promise<unknown>, roundMs: number): Promise<number> {
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < roundMs) {
    for (let k = 0; k < 10; k++) await fn();
    ops += 10;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Warms both sides up, then alternates timed rounds of a and b so that load from other
 * processes hits both alike; reports medians and the median of per-round ratios.
 */
async function measurePair(
  a: () => unknown | Promise<unknown>,
  b: () => unknown | Promise<unknown>,
  bytesPerOp: number,
  rounds = 9,
  roundMs = 250,
): Promise<{ a: Result; b: Result; ratio: number }> {
  await round(a, 500);
  await round(b, 500);
  const ra: number[] = [];
  const rb: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const x = await round(a, roundMs);
    const y = await round(b, roundMs);
    ra.push(x);
    rb.push(y);
    ratios.push(x / y);
  }
  const res = (ops: number): Result => ({ opsPerSec: ops, mbPerSec: (ops * bytesPerOp) / 1e6 });
  return { a: res(median(ra)), b: res(median(rb)), ratio: median(ratios) };
}

async function measure(fn: () => unknown | Promise<unknown>, bytesPerOp: number, rounds = 5, roundMs = 200): Promise<Result> {
  await round(fn, 300);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) rates.push(await round(fn, roundMs));
  const ops = median(rates);
  return { opsPerSec: ops, mbPerSec: (ops * bytesPerOp) / 1e6 };
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  await codecsReady();
  const ours = encodeRecordBatch(records, { now: NOW });
  const theirs = await kafkajsEncode();
  if (Buffer.compare(Buffer.from(ours), theirs) !== 0) throw new Error('encoders disagree on the benchmark batch');
  const size = ours.length;

  // Sync functions measured through the same async harness cost both sides the same.
  const enc = await measurePair(() => encodeRecordBatch(records, { now: NOW }), kafkajsEncode, size);
  const dec = await measurePair(() => decodeRecordBatch(ours), () => kafkajsDecodeBatch(new Decoder(theirs)), size);

  const rows: string[] = [];
  rows.push('| operation (100 × 1 KiB records, uncompressed) | Samsa ops/s | Samsa MB/s | KafkaJS ops/s | KafkaJS MB/s | Samsa / KafkaJS |');
  rows.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  const row = (name: string, m: { a: Result; b: Result; ratio: number }) =>
    rows.push(`| ${name} | ${fmt(m.a.opsPerSec)} | ${fmt(m.a.mbPerSec, 1)} | ${fmt(m.b.opsPerSec)} | ${fmt(m.b.mbPerSec, 1)} | ${fmt(m.ratio, 2)}× |`);
  row('encode', enc);
  row('decode (Samsa verifies CRC32C, KafkaJS does not)', dec);

  rows.push('');
  rows.push('| codec (Samsa, same batch) | compressed size | encode MB/s | decode MB/s (with CRC) |');
  rows.push('| --- | ---: | ---: | ---: |');
  for (const codec of [Compression.Gzip, Compression.Snappy, Compression.Lz4, Compression.Zstd]) {
    const batch = encodeRecordBatch(records, { now: NOW, compression: codec });
    // MB/s of uncompressed batch bytes, so codecs compare on the same work.
    const e = await measure(() => encodeRecordBatch(records, { now: NOW, compression: codec }), size);
    const d = await measure(() => decodeRecordBatch(batch), size);
    rows.push(`| ${Compression[codec].toLowerCase()} | ${fmt(batch.length)} B of ${fmt(size)} B | ${fmt(e.mbPerSec, 1)} | ${fmt(d.mbPerSec, 1)} |`);
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`Node ${process.version}, ${os.arch()}, ${cpu} × ${os.cpus().length}, ${new Date().toISOString().slice(0, 10)}`);
  console.log('');
  console.log(rows.join('\n'));
}

await main();
