// kill -9 durability, end to end. Rounds on one data directory: writers produce concurrently
// over HTTP (JSON, KafkaJS binary batches, and records large enough to take the write-ahead
// object path); the moment enough acknowledgements have arrived the server gets SIGKILL; it is
// restarted on the same data and every acknowledged (partition, offset, value) must be there,
// intact, with offsets contiguous from 0 and no record stored twice. Unacknowledged in-flight
// writes may or may not be present, but never leave a hole. One round kills right after
// flushes start (SAMSA_FLUSH_DELAY_MS=0 with a tiny segment.bytes); one kills with nothing
// flushed and lets the restarted server flush. Also: SIGTERM is a graceful exit with code 0.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kafkajsCrc32C, kafkajsDecode, kafkajsEncode } from '../unit/records/kafkajs';
import { runJob, type ServerHandle, startServer, tempDir } from '../helpers/server';

const RECORD_BATCH = 'application/vnd.kafka.record-batch';
const TOPIC = 'durable';
const PARTITIONS = 3;
const WORKERS = 8;

/** What the writers were told: acknowledged records by partition/offset, and every tag sent. */
interface Ledger {
  acked: Map<string, string>; // "p/offset" → tag
  sent: Set<string>; // every tag ever sent (acknowledged or not)
}

const tagOf = (text: string): string => (JSON.parse(text) as { tag: string }).tag;

async function writers(srv: ServerHandle, round: number, ledger: Ledger, killAfterAcks: number): Promise<number> {
  let acks = 0;
  let killed = false;
  const killNow = (): void => {
    if (!killed) {
      killed = true;
      srv.child.kill('SIGKILL');
    }
  };
  const worker = async (w: number): Promise<void> => {
    for (let n = 0; !killed && n < 10_000; n++) {
      const kind = (w + n) % 7;
      const base = `${round}.${w}.${n}`;
      try {
        if (kind === 5) {
          // KafkaJS-encoded batch, 1-3 records, to one partition.
          const p = (w + n) % PARTITIONS;
          const count = (n % 3) + 1;
          const tags = Array.from({ length: count }, (_, j) => `${base}.${j}`);
          for (const t of tags) ledger.sent.add(t);
          const batch = await kafkajsEncode(tags.map((tag, j) => ({ key: Buffer.from(tag), value: Buffer.from(JSON.stringify({ tag, bin: true })), headers: [], timestamp: Date.now() + j })));
          const res = await fetch(`${srv.url}/v1/topics/${TOPIC}/partitions/${p}/records`, { method: 'POST', headers: { 'content-type': RECORD_BATCH }, body: batch });
          const body = (await res.json()) as { base_offset: number; last_offset: number };
          expect(res.status, JSON.stringify(body)).toBe(200);
          expect(body.last_offset - body.base_offset + 1).toBe(count);
          tags.forEach((tag, j) => ledger.acked.set(`${p}/${body.base_offset + j}`, tag));
          acks += count;
        } else {
          // JSON: 1-4 records, explicit partitions or keyed; every 9th request carries a record
          // too large to be kept inline in the metadata store.
          const count = (n % 4) + 1;
          const records = Array.from({ length: count }, (_, j) => {
            const tag = `${base}.${j}`;
            ledger.sent.add(tag);
            const value: Record<string, unknown> = { tag };
            if (n % 9 === 4 && j === 0) value.pad = 'W'.repeat(140_000);
            return j % 2 ? { key: tag, value } : { partition: (w + j) % PARTITIONS, value };
          });
          const res = await fetch(`${srv.url}/v1/topics/${TOPIC}/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records }) });
          const body = (await res.json()) as { offsets: Array<{ partition: number; offset: number }> };
          expect(res.status, JSON.stringify(body)).toBe(200);
          body.offsets.forEach((o, j) => ledger.acked.set(`${o.partition}/${o.offset}`, (records[j]!.value as { tag: string }).tag));
          acks += count;
        }
        if (acks >= killAfterAcks) killNow();
      } catch (err) {
        if (killed || srv.exited) return; // the request died with the server: unacknowledged
        throw err;
      }
    }
  };
  const done = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  await done;
  const exit = await srv.kill('SIGKILL');
  expect(exit.signal, `server should have died of SIGKILL:\n${srv.output().slice(-3000)}`).toBe('SIGKILL');
  return acks;
}

interface Stored {
  offset: number;
  tag: string;
  value: string;
}

async function readPartition(srv: ServerHandle, p: number): Promise<{ records: Stored[]; hw: number }> {
  const records: Stored[] = [];
  let offset = 0;
  let hw = 0;
  for (;;) {
    const res = await fetch(`${srv.url}/v1/topics/${TOPIC}/partitions/${p}/records?offset=${offset}&max_records=10000&value_format=string`);
    const body = (await res.json()) as any;
    expect(res.status, JSON.stringify(body)).toBe(200);
    hw = body.high_watermark;
    for (const r of body.records) {
      expect(r.value_encoding).toBeUndefined();
      records.push({ offset: r.offset, tag: tagOf(r.value), value: r.value });
    }
    if (body.next_offset >= hw) break;
    expect(body.next_offset).toBeGreaterThan(offset);
    offset = body.next_offset;
  }
  return { records, hw };
}

/** Every acknowledged record is stored where it was acknowledged; no holes, no duplicates. */
async function verify(srv: ServerHandle, ledger: Ledger): Promise<number[]> {
  const seen = new Set<string>();
  const hws: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const { records, hw } = await readPartition(srv, p);
    hws.push(hw);
    // Contiguous from 0 up to the high watermark.
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: hw }, (_, i) => i));
    for (const r of records) {
      expect(ledger.sent.has(r.tag), `${p}/${r.offset} holds ${r.tag}, which nobody sent`).toBe(true);
      expect(seen.has(r.tag), `${r.tag} is stored twice`).toBe(false);
      seen.add(r.tag);
      const want = ledger.acked.get(`${p}/${r.offset}`);
      if (want !== undefined) expect(r.tag, `acknowledged ${p}/${r.offset}`).toBe(want);
    }
    // The same bytes are valid RecordBatches by KafkaJS's reading.
    const res = await fetch(`${srv.url}/v1/topics/${TOPIC}/partitions/${p}/records?offset=0&max_bytes=67108864`, { headers: { accept: RECORD_BATCH } });
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(res.status).toBe(200);
    let pos = 0;
    let decoded = 0;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    while (pos < bytes.length) {
      const end = pos + 12 + dv.getInt32(pos + 8);
      const b = bytes.subarray(pos, end);
      expect(kafkajsCrc32C(Buffer.from(b.buffer, b.byteOffset + 21, b.byteLength - 21))).toBe(dv.getUint32(pos + 17));
      for (const r of (await kafkajsDecode(b)).records) {
        if (Number(r.offset) < hw) expect(Number(r.offset)).toBe(decoded++);
      }
      pos = end;
    }
    if (hw > 0) expect(decoded).toBe(hw);
  }
  for (const [k, tag] of ledger.acked) {
    expect(seen.has(tag), `acknowledged ${k} (${tag}) is lost`).toBe(true);
  }
  return hws;
}

describe('kill -9 right after an acknowledgement loses nothing', () => {
  it('rounds of concurrent writes killed mid-flight, restarted on the same data', async () => {
    const dataDir = tempDir('samsa-crash-');
    const ledger: Ledger = { acked: new Map(), sent: new Set() };
    const rounds: Array<{ env: Record<string, string>; killAfter: number }> = [
      { env: { SAMSA_FLUSH_DELAY_MS: '200' }, killAfter: 40 },
      // Flushes start right after every commit, with segments rolling every few batches.
      { env: { SAMSA_FLUSH_DELAY_MS: '0', SAMSA_JOB_INTERVAL_MS: '50' }, killAfter: 25 },
      // Nothing flushed before the crash; the restarted server flushes it all.
      { env: { SAMSA_FLUSH_DELAY_MS: '-1', SAMSA_JOB_INTERVAL_MS: '0' }, killAfter: 60 },
      { env: { SAMSA_FLUSH_DELAY_MS: '0' }, killAfter: 120 },
      { env: { SAMSA_FLUSH_DELAY_MS: '5' }, killAfter: 10 },
    ];
    let srv = await startServer({ dataDir, env: rounds[0]!.env });
    const created = await fetch(`${srv.url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: TOPIC, partitions: PARTITIONS, config: { 'segment.bytes': 2048 } }),
    });
    expect(created.status).toBe(201);

    let total = 0;
    for (const [i, round] of rounds.entries()) {
      if (i > 0) srv = await startServer({ dataDir, env: round.env });
      total += await writers(srv, i, ledger, round.killAfter);
      // Restart with flushing on, so the next round's crash also lands on flushed data.
      srv = await startServer({ dataDir, env: { SAMSA_FLUSH_DELAY_MS: '0' } });
      const hws = await verify(srv, ledger);
      expect(hws.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(ledger.acked.size);
      expect((await srv.stop()).code).toBe(0);
    }
    expect(total).toBe(ledger.acked.size);
    if (process.env.SAMSA_E2E_VERBOSE) console.log(`crash rounds: ${ledger.acked.size} acknowledged of ${ledger.sent.size} sent`);

    // One flush job after the last restart: a killed server's leases are taken at once (its pid
    // is gone), so the segment files on disk decode with KafkaJS, start at offset 0, are
    // contiguous, agree with what the API serves, and together hold the whole log.
    const job = runJob('flush', dataDir);
    expect(job.code, job.stderr).toBe(0);
    srv = await startServer({ dataDir, env: { SAMSA_JOB_INTERVAL_MS: '0', SAMSA_FLUSH_DELAY_MS: '-1' } });
    const hws = await verify(srv, ledger);
    const served = await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => readPartition(srv, p)));
    // The topic's objects are under its name and this incarnation's id (design note 0012).
    const topicId = ((await (await fetch(`${srv.url}/v1/topics/${TOPIC}`)).json()) as { topic_id: string }).topic_id;
    expect((await srv.stop()).code).toBe(0);
    let onDisk = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const dir = path.join(dataDir, 'objects', 'topics', TOPIC, topicId, String(p));
      expect(fs.existsSync(dir) || hws[p] === 0, `partition ${p}: no segment files at ${dir}`).toBe(true);
      if (!fs.existsSync(dir)) continue;
      let next = 0;
      for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.log')).sort()) {
        expect(Number(f.slice(0, 20))).toBe(next);
        const bytes = fs.readFileSync(path.join(dir, f));
        for (let pos = 0; pos < bytes.length; ) {
          const end = pos + 12 + bytes.readInt32BE(pos + 8);
          const b = bytes.subarray(pos, end);
          expect(kafkajsCrc32C(b.subarray(21))).toBe(b.readUInt32BE(17));
          for (const r of (await kafkajsDecode(b)).records) {
            expect(Number(r.offset)).toBe(next);
            expect(r.value!.toString('utf8'), `${p}/${next} on disk`).toBe(served[p]!.records[next]!.value);
            next++;
          }
          pos = end;
        }
      }
      expect(next, `partition ${p}: offsets in segment files`).toBe(hws[p]!);
      onDisk += next;
    }
    expect(onDisk, 'every acknowledged offset is in the segment files after the flush job').toBe(hws.reduce((a, b) => a + b, 0));
    if (process.env.SAMSA_E2E_VERBOSE) console.log(`crash: ${onDisk} of ${hws.reduce((a, b) => a + b, 0)} offsets in segment files (${job.stdout.trim()})`);
  }, 120_000);
});

describe('SIGTERM', () => {
  it('exits gracefully with code 0, answering in-flight requests; the data survives', async () => {
    const srv = await startServer({ env: { SAMSA_FLUSH_DELAY_MS: '-1', SAMSA_JOB_INTERVAL_MS: '0' } });
    const post = (p: string, body: unknown) => fetch(`${srv.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/v1/topics', { name: 'graceful', partitions: 1 })).status).toBe(201);
    const produced = await post('/v1/topics/graceful/records', { records: [{ value: { tag: 'kept' } }] });
    expect(produced.status).toBe(200);
    // A long poll in flight when the signal arrives is answered, not cut off.
    const poll = fetch(`${srv.url}/v1/topics/graceful/partitions/0/records?offset=1&wait_ms=20000`);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const exit = await srv.kill('SIGTERM');
    expect(exit, srv.output()).toEqual({ code: 0, signal: null });
    const exitMs = Date.now() - t0;
    if (process.env.SAMSA_E2E_VERBOSE) console.log(`SIGTERM exit took ${exitMs} ms`);
    expect(exitMs).toBeLessThan(2500);
    const res = await poll;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { records: unknown[] }).records).toEqual([]);
    expect(srv.output()).toMatch(/SIGTERM/);

    const again = await startServer({ dataDir: srv.dataDir });
    const f = await fetch(`${again.url}/v1/topics/graceful/partitions/0/records?offset=0`);
    expect(((await f.json()) as { records: Array<{ value: unknown }> }).records.map((r) => r.value)).toEqual([{ tag: 'kept' }]);
    expect((await again.stop()).code).toBe(0);
  });
});
