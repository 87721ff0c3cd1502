// Segment files on disk, end to end: a topic with a small segment.bytes gets mixed JSON and
// KafkaJS-encoded binary produce requests; the log is flushed (by `bin/job.ts flush` against
// the stopped server's data directory, then by the restarted server's own eager flush), and
// the `.log` files are read straight from disk and decoded with KafkaJS: every batch's CRC is
// valid, files are named by their base offset, rolled at segment.bytes, contiguous and
// non-overlapping, and together hold exactly offsets 0..HW-1 with the produced values. Fetch
// answers are identical before and after the flush.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kafkajsCrc32C, kafkajsDecode, kafkajsEncode, type KjsRecord } from '../unit/records/kafkajs';
import { runJob, type ServerHandle, startServer } from '../helpers/server';

const RECORD_BATCH = 'application/vnd.kafka.record-batch';
const SEGMENT_BYTES = 4096;
const TOPIC = 'segmented';
const PARTITIONS = 2;
const GZIP = 1;

async function call(srv: ServerHandle, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; raw: Uint8Array; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body instanceof Uint8Array) init.body = body as RequestInit['body'];
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(`${srv.url}${p}`, init);
  const raw = new Uint8Array(await res.arrayBuffer());
  const parsed = (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(Buffer.from(raw).toString()) : raw;
  if (res.status >= 500) throw new Error(`${method} ${p} → ${res.status}: ${Buffer.from(raw).toString()}\n${srv.output().slice(-4000)}`);
  return { status: res.status, body: parsed, raw, headers: res.headers };
}

/** Everything the API shows of the topic: description, JSON records and the raw batches. */
async function observe(srv: ServerHandle): Promise<{ describe: any; json: any[][]; batches: string[][] }> {
  const d = await call(srv, 'GET', `/v1/topics/${TOPIC}`);
  expect(d.status).toBe(200);
  const json: any[][] = [];
  const batches: string[][] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const hw = d.body.partitions[p].high_watermark;
    const recs: any[] = [];
    for (let offset = 0; offset < hw; ) {
      const r = await call(srv, 'GET', `/v1/topics/${TOPIC}/partitions/${p}/records?offset=${offset}&max_records=10000&key_format=base64&value_format=base64`);
      expect(r.status).toBe(200);
      expect(r.body.records.length).toBeGreaterThan(0);
      recs.push(...r.body.records);
      offset = r.body.next_offset;
    }
    json.push(recs);
    const bins: string[] = [];
    for (let offset = 0; offset < hw; ) {
      const r = await call(srv, 'GET', `/v1/topics/${TOPIC}/partitions/${p}/records?offset=${offset}&max_bytes=3000`, undefined, { accept: RECORD_BATCH });
      expect(r.status).toBe(200);
      const next = Number(r.headers.get('x-next-offset'));
      if (!(next > offset)) {
        const batches = splitBatches(r.raw).map((b) => { const dv = new DataView(b.buffer, b.byteOffset); return [Number(dv.getBigInt64(0)), dv.getInt32(23), b.length]; });
        const j = await call(srv, 'GET', `/v1/topics/${TOPIC}/partitions/${p}/records?offset=${offset}&max_bytes=3000`);
        throw new Error(`no progress at ${p}/${offset} (hw ${hw}): ${JSON.stringify(batches)} headers ${JSON.stringify([...r.headers])} json next ${j.body.next_offset} n ${j.body.records.length} first ${j.body.records[0]?.offset}`);
      }
      // A page may repeat the batch holding `offset` (the first batch may start before it):
      // keep each batch once, by base offset, and check a repeat is byte-identical.
      for (const b of splitBatches(r.raw)) {
        const base = Number(Buffer.from(b.buffer, b.byteOffset, 8).readBigInt64BE(0));
        const digest = `${base}:${createHash('sha256').update(b).digest('hex')}`;
        const seen = bins.find((x) => x.startsWith(`${base}:`));
        if (seen) expect(seen).toBe(digest);
        else bins.push(digest);
      }
      offset = next;
    }
    batches.push(bins);
  }
  // leader_epoch is the server's business (it may move when a flusher takes over a partition).
  const partitions = d.body.partitions.map(({ leader_epoch: _, ...x }: any) => x);
  return { describe: { ...d.body, partitions }, json, batches };
}

function splitBatches(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  while (p < bytes.length) {
    if (p + 12 > bytes.length) throw new Error(`truncated batch header at byte ${p}`);
    const end = p + 12 + dv.getInt32(p + 8);
    if (end > bytes.length) throw new Error(`batch at byte ${p} runs past the end (${end} > ${bytes.length})`);
    out.push(bytes.subarray(p, end));
    p = end;
  }
  return out;
}

interface DiskRecord {
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
}

/**
 * Reads one partition's segment files from disk and checks them as Kafka tools would see them.
 * Returns the records, in offset order.
 */
async function readSegmentsFromDisk(dir: string, hw: number): Promise<{ records: DiskRecord[]; segments: number }> {
  const files = fs.readdirSync(dir);
  const logs = files.filter((f) => f.endsWith('.log')).sort();
  expect(logs.length).toBeGreaterThan(0);
  for (const f of files) expect(f, `unexpected file ${f}`).toMatch(/^\d{20}\.(log|index|timeindex)$/);
  const records: DiskRecord[] = [];
  let expectedBase = 0;
  let prevSize = -1;
  for (const [i, name] of logs.entries()) {
    const base = Number(name.slice(0, 20));
    const stem = name.slice(0, 20);
    expect(files, `${stem}.index beside ${name}`).toContain(`${stem}.index`);
    expect(files, `${stem}.timeindex beside ${name}`).toContain(`${stem}.timeindex`);
    // Contiguous and non-overlapping: each file starts where the previous one ended.
    expect(base, `${name} starts at the offset after the previous segment`).toBe(expectedBase);
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, name)));
    const batches = splitBatches(bytes);
    expect(batches.length).toBeGreaterThan(0);
    // Rolled at segment.bytes: no file is larger unless it holds one oversized batch, and a
    // segment was only rolled when the next batch would not have fitted.
    if (bytes.length > SEGMENT_BYTES) expect(batches.length, `${name} is ${bytes.length} bytes with several batches`).toBe(1);
    if (i > 0) expect(prevSize + batches[0]!.length, `${logs[i - 1]} was rolled before it was full`).toBeGreaterThan(SEGMENT_BYTES);
    prevSize = bytes.length;

    const batchStarts: Array<{ pos: number; base: number; last: number }> = [];
    let pos = 0;
    let first = true;
    for (const b of batches) {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      expect(b[16], 'magic').toBe(2);
      expect(kafkajsCrc32C(Buffer.from(b.buffer, b.byteOffset + 21, b.byteLength - 21)), `CRC of the batch at ${name}:${pos}`).toBe(dv.getUint32(17));
      const d = await kafkajsDecode(b);
      const batchBase = Number(d.firstOffset);
      if (first) expect(batchBase, `first batch of ${name} starts at the file's base offset`).toBe(base);
      first = false;
      expect(batchBase).toBe(expectedBase);
      for (const r of d.records) {
        expect(Number(r.offset)).toBe(expectedBase);
        records.push({ offset: Number(r.offset), key: r.key ? r.key.toString('base64') : null, value: r.value ? r.value.toString('base64') : null, timestamp: Number(r.timestamp) });
        expectedBase++;
      }
      batchStarts.push({ pos, base: batchBase, last: expectedBase - 1 });
      pos += b.length;
    }

    // .index: 8-byte entries (relative offset, position) pointing at batch starts, increasing.
    const index = fs.readFileSync(path.join(dir, `${stem}.index`));
    expect(index.length % 8).toBe(0);
    let lastRel = -1;
    for (let p = 0; p < index.length; p += 8) {
      const rel = index.readInt32BE(p);
      const position = index.readInt32BE(p + 4);
      expect(rel).toBeGreaterThan(lastRel);
      lastRel = rel;
      const at = batchStarts.find((s) => s.pos === position);
      expect(at, `index entry ${rel}@${position} of ${name} points at a batch start`).toBeDefined();
      expect(base + rel).toBeGreaterThanOrEqual(at!.base);
      expect(base + rel).toBeLessThanOrEqual(at!.last);
    }
    // .timeindex: 12-byte entries (timestamp, relative offset), both non-decreasing.
    const tindex = fs.readFileSync(path.join(dir, `${stem}.timeindex`));
    expect(tindex.length % 12).toBe(0);
    let lastTs = -Infinity;
    for (let p = 0; p < tindex.length; p += 12) {
      const ts = Number(tindex.readBigInt64BE(p));
      const rel = tindex.readInt32BE(p + 8);
      expect(ts).toBeGreaterThanOrEqual(lastTs);
      lastTs = ts;
      expect(base + rel).toBeGreaterThanOrEqual(base);
      expect(base + rel).toBeLessThan(expectedBase);
    }
  }
  // Together: exactly offsets 0..HW-1.
  expect(expectedBase).toBe(hw);
  return { records, segments: logs.length };
}

function kjsRecords(tag: string, n: number, t0: number): KjsRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    key: i % 2 ? Buffer.from(`${tag}/${i}`) : null,
    value: Buffer.from(JSON.stringify({ tag, i, pad: 'b'.repeat((i * 53) % 400) })),
    headers: [{ key: 'src', value: Buffer.from('kafkajs') }],
    timestamp: t0 + i,
  }));
}

describe('segment files on disk', () => {
  it('decode with KafkaJS, are rolled at segment.bytes and together hold the whole log; fetches are unchanged by the flush', async () => {
    // No flushing while producing: SAMSA_JOB_INTERVAL_MS=0 disables the job loop and
    // SAMSA_FLUSH_DELAY_MS=-1 the eager flush.
    let srv = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '0', SAMSA_FLUSH_DELAY_MS: '-1' } });
    const dataDir = srv.dataDir;
    const r = await call(srv, 'POST', '/v1/topics', { name: TOPIC, partitions: PARTITIONS, config: { 'segment.bytes': SEGMENT_BYTES } });
    expect(r.status).toBe(201);

    // Mixed JSON and binary requests, several at a time.
    const t0 = 1_700_000_000_000;
    const jobs: Array<() => Promise<{ status: number }>> = [];
    for (let i = 0; i < 40; i++) {
      const p = i % PARTITIONS;
      jobs.push(() =>
        call(srv, 'POST', `/v1/topics/${TOPIC}/records`, {
          records: Array.from({ length: (i % 5) + 1 }, (_, j) => ({ key: `k${i}.${j}`, partition: p, value: { i, j, pad: 'j'.repeat((i * 131 + j * 17) % 700) }, timestamp: t0 + i * 10 + j })),
        }),
      );
      if (i % 4 === 0) {
        jobs.push(async () => call(srv, 'POST', `/v1/topics/${TOPIC}/partitions/${p}/records`, await kafkajsEncode(kjsRecords(`plain${i}`, 6, t0 + i * 10)), { 'content-type': RECORD_BATCH }));
      }
      if (i % 4 === 2) {
        const two = new Uint8Array([
          ...(await kafkajsEncode(kjsRecords(`gz${i}`, 9, t0 + i * 10), { compression: GZIP })),
          ...(await kafkajsEncode(kjsRecords(`pl${i}`, 2, t0 + i * 10))),
        ]);
        jobs.push(() => call(srv, 'POST', `/v1/topics/${TOPIC}/partitions/${p}/records`, two, { 'content-type': RECORD_BATCH }));
      }
    }
    // One record larger than segment.bytes: it must get a segment of its own.
    jobs.push(() => call(srv, 'POST', `/v1/topics/${TOPIC}/records`, { records: [{ partition: 0, value: { big: 'B'.repeat(SEGMENT_BYTES * 2) } }] }));
    for (let i = 0; i < jobs.length; i += 6) {
      const rs = await Promise.all(jobs.slice(i, i + 6).map((j) => j()));
      for (const x of rs) expect(x.status).toBe(200);
    }
    jobs.length = 0;
    // A few more after the big one, so it is not the last segment.
    for (let i = 0; i < 3; i++) {
      expect((await call(srv, 'POST', `/v1/topics/${TOPIC}/records`, { records: [{ partition: 0, value: { after: i } }] })).status).toBe(200);
    }

    const before = await observe(srv);
    const hws: number[] = before.describe.partitions.map((p: any) => p.high_watermark);
    expect(hws.every((h) => h > 50)).toBe(true);
    // The topic's directory: its name, then this incarnation's id (docs/http-api.md, "Storage layout").
    const objects = path.join(dataDir, 'objects', 'topics', TOPIC, before.describe.topic_id);
    const logsOnDisk = (): string[] => (fs.existsSync(objects) ? fs.readdirSync(objects, { recursive: true }).map(String).filter((f) => f.endsWith('.log')) : []);
    expect(logsOnDisk()).toEqual([]);

    // Stop the server, flush with the job runner against the same data directory.
    expect((await srv.stop()).code).toBe(0);
    const job = runJob('flush', dataDir);
    expect(job.code, `${job.stdout}\n${job.stderr}`).toBe(0);
    expect(JSON.parse(job.stdout.trim().split('\n').pop()!)).toMatchObject({ job: 'flush' });

    const check = async (expected: { json: any[][] }, hwNow: number[]): Promise<void> => {
      for (let p = 0; p < PARTITIONS; p++) {
        const { records, segments } = await readSegmentsFromDisk(path.join(objects, String(p)), hwNow[p]!);
        const totalBytes = fs.readdirSync(path.join(objects, String(p))).filter((f) => f.endsWith('.log')).reduce((a, f) => a + fs.statSync(path.join(objects, String(p), f)).size, 0);
        expect(segments).toBeGreaterThanOrEqual(Math.ceil(totalBytes / SEGMENT_BYTES));
        // The produced values, at the offsets the API shows them.
        expect(records.map((x) => [x.offset, x.key, x.value, x.timestamp])).toEqual(expected.json[p]!.map((x: any) => [x.offset, x.key, x.value, x.timestamp]));
      }
    };
    await check(before, hws);

    srv = await startServer({ dataDir, env: { SAMSA_JOB_INTERVAL_MS: '0', SAMSA_FLUSH_DELAY_MS: '-1' } });
    const after = await observe(srv);
    expect(after).toEqual(before);

    // More data through the restarted server's eager flush: the active segment keeps growing
    // and rolling across the restart.
    expect((await srv.stop()).code).toBe(0);
    srv = await startServer({ dataDir, env: { SAMSA_JOB_INTERVAL_MS: '0', SAMSA_FLUSH_DELAY_MS: '50' } });
    for (let i = 0; i < 10; i++) {
      const rs = await Promise.all([
        call(srv, 'POST', `/v1/topics/${TOPIC}/records`, { records: Array.from({ length: 4 }, (_, j) => ({ key: `late${i}.${j}`, value: { late: i, j, pad: 'l'.repeat(300) }, partition: (i + j) % PARTITIONS, timestamp: t0 + 10_000 + i })) }),
        call(srv, 'POST', `/v1/topics/${TOPIC}/partitions/${i % PARTITIONS}/records`, await kafkajsEncode(kjsRecords(`late${i}`, 5, t0 + 10_000 + i), { compression: i % 2 ? GZIP : 0 }), { 'content-type': RECORD_BATCH }),
      ]);
      for (const x of rs) expect(x.status).toBe(200);
    }
    const final = await observe(srv);
    const hwFinal: number[] = final.describe.partitions.map((p: any) => p.high_watermark);
    // The earlier records are untouched.
    for (let p = 0; p < PARTITIONS; p++) expect(final.json[p]!.slice(0, hws[p])).toEqual(before.json[p]);
    // Wait until the eager flush has put everything on disk, then check the files again.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await check(final, hwFinal);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    expect(await observe(srv)).toEqual(final);
    expect((await srv.stop()).code).toBe(0);
  }, 90_000);
});
