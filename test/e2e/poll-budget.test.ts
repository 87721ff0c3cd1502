// The JSON rendering budget of a fetch (docs/limits.md, "Reads and polls": a JSON response
// decodes at most min(max_bytes, 4 MiB) of records) for the other JSON read routes: a group
// poll. Measured on a real server process, as memory-budget.test.ts measures the fetch.
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

const rss = (): number => Number(/VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${srv.child.pid}/status`, 'utf8'))![1]) * 1024;

async function peakGrowth<T>(fn: () => Promise<T>): Promise<{ growth: number; result: T }> {
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

async function send(method: string, path: string, body?: Uint8Array | string, type = 'application/json'): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv.url}${path}`, { method, ...(body !== undefined ? { headers: { 'content-type': type }, body } : {}) });
  return { status: res.status, body: await res.json() };
}

describe('a group poll', () => {
  it('renders at most 4 MiB of decoded records, as a JSON fetch does, however far the stored batches expand', async () => {
    expect((await send('POST', '/v1/topics', JSON.stringify({ name: 'objects', partitions: 1 }))).status).toBe(201);
    // Values of `[{},{},...]` just under 1 MiB, ~1 KiB each as stored: each parses into ~350,000 objects.
    const objects = new TextEncoder().encode(`[${Array(349_000).fill('{}').join(',')}]`);
    const batch = encodeRecordBatch([{ value: objects }], { compression: Compression.Gzip });
    for (let i = 0; i < 40; i++) expect((await send('POST', '/v1/topics/objects/partitions/0/records', batch, RECORD_BATCH)).status).toBe(200);

    // The fetch route: 5 records (4 MiB decoded, the fifth passes the budget).
    const fetched = await send('GET', `/v1/topics/objects/partitions/0/records?offset=0&max_records=10000&max_bytes=${64 * MiB}`);
    expect(fetched.body.records).toHaveLength(5);

    const join = await send('POST', '/v1/groups/g/members', JSON.stringify({ topics: ['objects'] }));
    expect(join.status, JSON.stringify(join.body)).toBe(200);
    const { growth, result } = await peakGrowth(() => send('GET', `/v1/groups/g/members/${join.body.member_id}/records?max_records=10000&max_bytes=${64 * MiB}`));
    console.log(`group poll of parse-heavy values: ${result.body.records?.length} records, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    expect(result.status).toBe(200);
    // Was: all 40 records (40 MiB of values, 14 million objects) in one response: ~960 MiB of RSS
    // growth from ~40 KiB of stored batches (the fuzzer bounds the whole server at 768 MiB).
    expect(result.body.records.length).toBeLessThanOrEqual(5);
    expect(growth).toBeLessThan(200 * MiB);
  });
});

describe('a live tail', () => {
  it('renders at most 4 MiB of decoded records per event, as a JSON fetch does', async () => {
    // The topic of the test above: 40 values of ~1 MiB that each parse into ~350,000 objects.
    const ac = new AbortController();
    const { growth, result } = await peakGrowth(async () => {
      const res = await fetch(`${srv.url}/v1/topics/objects/partitions/0/records?follow=true&offset=0&max_records=10000&max_bytes=${8 * MiB}`, {
        headers: { accept: 'text/event-stream' },
        signal: ac.signal,
      });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      let text = '';
      while (!/\n\n/.test(text.slice(text.indexOf('event: records')))) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      ac.abort();
      const data = /event: records\ndata: (.*)\n/.exec(text)![1]!;
      return JSON.parse(data) as { records: unknown[]; next_offset: number };
    });
    console.log(`tail event of parse-heavy values: ${result.records.length} records, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    // Was: 9 records (8 MiB decoded: the tail's max_bytes bound, not the JSON budget) and
    // ~520 MiB of RSS growth for one tail; with the budget 120–175 MiB usually, and once 305 MiB
    // in a CI run (the server's peak RSS moves with when V8 collects), so the bound sits between.
    expect(result.records.length).toBeLessThanOrEqual(5);
    expect(growth).toBeLessThan(400 * MiB);
  });
});
