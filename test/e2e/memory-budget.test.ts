// Memory budgets per request kind (docs/limits.md), measured on a real server process: the
// growth of its resident set (VmRSS, sampled every few ms while the request runs) over the
// level before the request. Margins are generous — V8 keeps freed heap for a while — but far
// below what the unbounded code took (a 16.8 MB JSON body took 1.4 GB; a fetch of compressed
// batches decoded everything max_bytes of stored bytes covered).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Compression, codecsReady, encodeRecordBatch } from '../../lib/records';
import { type ServerHandle, startServer } from '../helpers/server';

const MiB = 1024 * 1024;
const RECORD_BATCH = 'application/vnd.kafka.record-batch';
let srv: ServerHandle;

beforeAll(async () => {
  await codecsReady();
  srv = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '0' } });
});
afterAll(async () => {
  if (srv && !srv.exited) await srv.stop();
});

const rss = (): number => {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
};

/** Peak RSS growth (bytes) over the level before `fn`, sampled every 5 ms while it runs. */
async function peakGrowth<T>(fn: () => Promise<T>): Promise<{ growth: number; result: T }> {
  // Let the previous request's garbage settle a little so the baseline is honest.
  await new Promise((r) => setTimeout(r, 300));
  const base = rss();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rss())), 5);
  try {
    const result = await fn();
    peak = Math.max(peak, rss());
    return { growth: peak - base, result };
  } finally {
    clearInterval(timer);
  }
}

async function post(path: string, body: Uint8Array | string, type: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
  return { status: res.status, body: await res.json() };
}

// Produces first: RSS rarely shrinks, so a request measured after a bigger one would show no growth.
describe('memory budget per request kind', () => {
  it('a JSON produce holds a small multiple of its body; one past the JSON limit is refused unparsed', async () => {
    expect((await post('/v1/topics', JSON.stringify({ name: 'bulk', partitions: 1 }), 'application/json')).status).toBe(201);
    // Just under the 6 MiB JSON limit, in many small records (the shape that amplified most).
    const n = 9_000;
    const body = JSON.stringify({ records: Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: { i, pad: 'p'.repeat(600) }, partition: 0 })) });
    expect(body.length).toBeGreaterThan(5 * MiB);
    expect(body.length).toBeLessThan(6 * MiB);
    const ok = await peakGrowth(() => post('/v1/topics/bulk/records', body, 'application/json'));
    expect(ok.result.status).toBe(200);
    const budget = 16 * body.length + 32 * MiB;
    console.log(`produce ${(body.length / MiB).toFixed(1)} MiB JSON: peak RSS growth ${(ok.growth / MiB).toFixed(1)} MiB (budget ${(budget / MiB).toFixed(0)} MiB)`);
    expect(ok.growth).toBeLessThan(budget);

    // 16.8 MB of tiny records (1.4 GB before): refused from its length, never parsed.
    const big = `{"records":[${Array.from({ length: 1_000_000 }, () => '{"value":123456}').join(',')}]}`;
    const refused = await peakGrowth(() => post('/v1/topics/bulk/records', big, 'application/json'));
    expect(refused.result).toMatchObject({ status: 413, body: { error_code: 'RECORD_TOO_LARGE' } });
    console.log(`produce ${(big.length / MiB).toFixed(1)} MiB JSON (refused): peak RSS growth ${(refused.growth / MiB).toFixed(1)} MiB`);
    expect(refused.growth).toBeLessThan(64 * MiB);
  });

  it('a binary produce holds a small multiple of its body', async () => {
    expect((await post('/v1/topics', JSON.stringify({ name: 'bin', partitions: 1, config: { 'max.message.bytes': 8 * MiB } }), 'application/json')).status).toBe(201);
    const batches = Array.from({ length: 6 }, () => encodeRecordBatch(Array.from({ length: 1000 }, (_, i) => ({ value: new Uint8Array(7000).fill(i & 0xff) }))));
    const body = new Uint8Array(batches.reduce((a, b) => a + b.length, 0));
    batches.reduce((pos, b) => (body.set(b, pos), pos + b.length), 0);
    const { growth, result } = await peakGrowth(() => post('/v1/topics/bin/partitions/0/records', body, RECORD_BATCH));
    expect(result.status).toBe(200);
    const budget = 4 * body.length + 32 * MiB;
    console.log(`produce ${(body.length / MiB).toFixed(1)} MiB batches: peak RSS growth ${(growth / MiB).toFixed(1)} MiB (budget ${(budget / MiB).toFixed(0)} MiB)`);
    expect(growth).toBeLessThan(budget);
  });

  it('a JSON fetch holds at most max_bytes of decoded records plus one batch, however far batches expand', async () => {
    expect((await post('/v1/topics', JSON.stringify({ name: 'expand', partitions: 1 }), 'application/json')).status).toBe(201);
    // 40 batches of one 8 MiB zero value, ~8 KiB each as stored: 320 MiB decoded in ~330 KiB.
    const batch = encodeRecordBatch([{ value: new Uint8Array(8 * MiB) }], { compression: Compression.Gzip });
    for (let i = 0; i < 40; i++) expect((await post('/v1/topics/expand/partitions/0/records', batch, RECORD_BATCH)).status).toBe(200);
    const maxBytes = 1 * MiB;
    const { growth, result } = await peakGrowth(async () => {
      const res = await fetch(`${srv.url}/v1/topics/expand/partitions/0/records?offset=0&max_records=10000&max_bytes=${maxBytes}&value_format=base64`);
      return { status: res.status, body: (await res.json()) as { records: unknown[]; next_offset: number } };
    });
    expect(result.status).toBe(200);
    expect(result.body.records).toHaveLength(1); // the first 8 MiB record passes max_bytes
    expect(result.body.next_offset).toBe(1);
    // Budget: max_bytes + one decompressed batch (≤ 8 MiB here), rendered as base64 JSON
    // (4/3) and copied a few times on the way out: within 8 × (max_bytes + batch) + 32 MiB.
    const budget = 8 * (maxBytes + 8 * MiB) + 32 * MiB;
    console.log(`fetch: peak RSS growth ${(growth / MiB).toFixed(1)} MiB (budget ${(budget / MiB).toFixed(0)} MiB)`);
    expect(growth).toBeLessThan(budget);
  });

  it('a JSON fetch renders at most 4 MiB of decoded records, and fields over 1 MiB as base64 (no parse, no escapes)', async () => {
    expect((await post('/v1/topics', JSON.stringify({ name: 'objects', partitions: 1 }), 'application/json')).status).toBe(201);
    // Values of `[{},{},...]` just under 1 MiB: each parses into ~350,000 objects.
    const objects = new TextEncoder().encode(`[${Array(349_000).fill('{}').join(',')}]`);
    expect(objects.length).toBeLessThan(1024 * 1024);
    const parsed = encodeRecordBatch([{ value: objects }], { compression: Compression.Gzip });
    for (let i = 0; i < 30; i++) expect((await post('/v1/topics/objects/partitions/0/records', parsed, RECORD_BATCH)).status).toBe(200);
    // And 20 MiB of control characters, which JSON escapes to 6 bytes each.
    const controls = encodeRecordBatch([{ value: new Uint8Array(20 * MiB).fill(1) }], { compression: Compression.Gzip });
    expect((await post('/v1/topics/objects/partitions/0/records', controls, RECORD_BATCH)).status).toBe(200);

    const { growth, result } = await peakGrowth(async () => {
      const res = await fetch(`${srv.url}/v1/topics/objects/partitions/0/records?offset=0&max_records=10000&max_bytes=${64 * MiB}`);
      return { status: res.status, body: (await res.json()) as { records: Array<{ value: unknown }>; next_offset: number } };
    });
    expect(result.status).toBe(200);
    // 4 MiB of decoded records: 5 values of ~1 MiB (the fifth passes the budget), not all 30.
    expect(result.body.records).toHaveLength(5);
    expect(result.body.next_offset).toBe(5);
    console.log(`fetch of parse-heavy values: peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(growth).toBeLessThan(200 * MiB);

    const big = await fetch(`${srv.url}/v1/topics/objects/partitions/0/records?offset=30&value_format=string`);
    const rec = ((await big.json()) as { records: Array<{ value: string; value_encoding?: string }> }).records[0]!;
    expect(rec.value_encoding).toBe('base64');
    expect(Buffer.from(rec.value, 'base64').equals(Buffer.alloc(20 * MiB, 1))).toBe(true);
  });
});
