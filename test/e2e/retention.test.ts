// Retention end to end, as it will be judged: the embedded server with its own job loop, and
// AWS mode on the emulator with `bin/job.ts flush` then `bin/job.ts retention` as separate
// processes. A topic with a short retention.ms loses its expired segments (log start past the
// old records, 416 below it with the new start, earliest = log start, newer records intact, no
// segment object below the start); retention.bytes keeps within a segment of its target;
// retention.ms = -1 keeps everything; an idle active segment is sealed by segment.ms and
// expires; a deleted topic's data goes and its name is free again.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeS3Client } from '../../lib/storage/aws-clients';
import { awsEndpoint, describeAws, testAwsConfig, uniqueName } from '../helpers/aws';
import { REPO_ROOT, type ServerHandle, startServer } from '../helpers/server';

const SEG = 1024;
const RET_BYTES = 4096;
const HOUR = 3_600_000;

async function call(base: string, method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(base + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** One record per request, so one batch each (~260 bytes: three per 1 KiB segment). */
async function produce(base: string, topic: string, from: number, n: number, timestamp?: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const r = await call(base, 'POST', `/v1/topics/${topic}/records`, { records: [{ value: { i, pad: 'p'.repeat(180) }, partition: 0, ...(timestamp ? { timestamp } : {}) }] });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  }
}

async function logStart(base: string, topic: string): Promise<{ start: number; hw: number }> {
  const d = await call(base, 'GET', `/v1/topics/${topic}`);
  expect(d.status).toBe(200);
  return { start: d.json.partitions[0].log_start_offset, hw: d.json.partitions[0].high_watermark };
}

/** The judged checks for a partition whose log start is `start`. */
async function expectTrimmedAt(base: string, topic: string, start: number, hw: number): Promise<void> {
  expect((await logStart(base, topic)).start).toBe(start);
  const below = await call(base, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${start - 1}`);
  expect(below.status).toBe(416);
  expect(below.json).toMatchObject({ error_code: 'OFFSET_OUT_OF_RANGE', log_start_offset: start, high_watermark: hw });
  expect((await call(base, 'GET', `/v1/topics/${topic}/partitions/0/offsets?timestamp=earliest`)).json.offset).toBe(start);
  const recs = await readFrom(base, topic, start);
  expect(recs.map((r) => r.offset)).toEqual(Array.from({ length: hw - start }, (_, k) => start + k));
  expect(recs.map((r) => r.value.i)).toEqual(recs.map((r) => r.offset));
}

async function readFrom(base: string, topic: string, offset: number): Promise<Array<{ offset: number; value: any }>> {
  const out: Array<{ offset: number; value: any }> = [];
  for (;;) {
    const r = await call(base, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=${offset}&max_records=10000&max_bytes=16777216`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    out.push(...r.json.records.map((x: any) => ({ offset: x.offset, value: x.value })));
    if (r.json.records.length === 0 || r.json.next_offset >= r.json.high_watermark) return out;
    offset = r.json.next_offset;
  }
}

const baseOf = (key: string): number => Number(/(\d{20})\.log$/.exec(key)![1]);

describe('retention on the embedded server (its own job loop)', () => {
  let server: ServerHandle;
  let base: string;
  /** .log objects of a partition: base offset → size. */
  const logs = (topic: string): Map<number, number> => {
    // Partition 0 of every incarnation of the name on disk (each has a directory of its own, by id).
    const name = path.join(server.dataDir, 'objects', 'topics', topic);
    const out = new Map<number, number>();
    if (!fs.existsSync(name)) return out;
    for (const id of fs.readdirSync(name)) {
      const d = path.join(name, id, '0');
      if (!fs.existsSync(d)) continue;
      for (const f of fs.readdirSync(d)) if (f.endsWith('.log')) out.set(baseOf(f), fs.statSync(path.join(d, f)).size);
    }
    return out;
  };

  beforeAll(async () => {
    server = await startServer({ env: { SAMSA_JOB_INTERVAL_MS: '500' } });
    base = server.url;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('retention.ms, retention.bytes, -1, segment.ms sealing and topic deletion', async () => {
    const old = Date.now() - HOUR;
    for (const [name, config] of [
      ['rt', { 'retention.ms': 30_000, 'segment.bytes': SEG }],
      ['rb', { 'retention.bytes': RET_BYTES, 'segment.bytes': SEG }],
      ['rf', { 'retention.ms': -1, 'segment.bytes': SEG }],
      ['rs', { 'retention.ms': 2_000, 'segment.ms': 1_500 }],
      ['rd', { 'segment.bytes': SEG }],
    ] as const) {
      expect((await call(base, 'POST', '/v1/topics', { name, partitions: 1, config })).status).toBe(201);
    }
    await produce(base, 'rt', 0, 15, old);
    await produce(base, 'rt', 15, 6);
    await produce(base, 'rb', 0, 40);
    await produce(base, 'rf', 0, 12, old);
    await produce(base, 'rs', 0, 5, old);
    await produce(base, 'rd', 0, 6);

    // retention.ms: the old records' segments go; the new ones stay.
    await waitFor('rt log start past the old records', 20_000, async () => (await logStart(base, 'rt')).start >= 15);
    const rt = await logStart(base, 'rt');
    expect(rt.start).toBeLessThan(21);
    await expectTrimmedAt(base, 'rt', rt.start, 21);
    await waitFor('rt objects below the log start to go', 10_000, async () => [...logs('rt').keys()].every((b) => b >= rt.start));
    expect(logs('rt').size).toBeLessThan(5); // there were at least five segments of old records

    // retention.bytes: within a segment of the target.
    await waitFor('rb to settle within a segment of retention.bytes', 20_000, async () => {
      const total = [...logs('rb').values()].reduce((a, b) => a + b, 0);
      return (await logStart(base, 'rb')).start > 0 && total >= RET_BYTES - SEG && total <= RET_BYTES + SEG;
    });
    const rb = await logStart(base, 'rb');
    await expectTrimmedAt(base, 'rb', rb.start, 40);

    // segment.ms: the idle active segment is sealed, then expires.
    await waitFor('rs to expire whole', 20_000, async () => (await logStart(base, 'rs')).start === 5);
    expect((await readFrom(base, 'rs', 5))).toEqual([]);
    await waitFor('rs objects to go', 10_000, async () => logs('rs').size === 0);

    // -1: everything stays, though the records are an hour old and passes have run.
    expect(await logStart(base, 'rf')).toEqual({ start: 0, hw: 12 });
    expect((await readFrom(base, 'rf', 0)).map((r) => r.offset)).toEqual(Array.from({ length: 12 }, (_, k) => k));
    expect(logs('rf').size).toBeGreaterThan(2);

    // Topic deletion: the name is free at once (was 409 "marked for deletion" until the data
    // was gone), and the old incarnation's data goes after the grace period.
    await waitFor('rd flushed', 10_000, async () => logs('rd').size > 0);
    const rdOld = path.join(server.dataDir, 'objects', 'topics', 'rd', (await call(base, 'GET', '/v1/topics/rd')).json.topic_id);
    expect(fs.existsSync(rdOld)).toBe(true);
    expect((await call(base, 'DELETE', '/v1/topics/rd')).status).toBe(204);
    expect((await call(base, 'GET', '/v1/topics/rd/partitions/0/records?offset=0')).status).toBe(404);
    const again = await call(base, 'POST', '/v1/topics', { name: 'rd', partitions: 1 });
    expect(again.status, JSON.stringify(again.json)).toBe(201);
    expect(await logStart(base, 'rd')).toEqual({ start: 0, hw: 0 });
    expect(await readFrom(base, 'rd', 0)).toEqual([]);
    await produce(base, 'rd', 100, 2);
    await waitFor('the old rd incarnation removed', 20_000, async () => !fs.existsSync(rdOld) || fs.readdirSync(rdOld, { recursive: true }).every((f) => !String(f).endsWith('.log')));
    expect((await readFrom(base, 'rd', 0)).map((r) => [r.offset, r.value.i])).toEqual([[0, 100], [1, 101]]);
  }, 60_000);
});

describeAws('retention in AWS mode (npm run job:flush, then job:retention)', () => {
  let env: Record<string, string>;
  let server: ServerHandle;
  let base: string;
  let s3: S3Client;

  const job = (args: string[], script = 'bin/job.ts'): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) => resolve({ code, out }));
    });
  const runJob = async (which: 'flush' | 'retention'): Promise<Record<string, any>> => {
    const r = await job([which]);
    expect(r.code, r.out).toBe(0);
    return JSON.parse(r.out.trim().split('\n').pop()!);
  };
  const logs = async (topic: string): Promise<Map<number, number>> => {
    const out = new Map<number, number>();
    const id = (await call(base, 'GET', `/v1/topics/${topic}`)).json.topic_id as string;
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: env['SAMSA_BUCKET'], Prefix: `topics/${topic}/${id}/0/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key!.endsWith('.log')) out.set(baseOf(o.Key!), o.Size!);
      token = page.NextContinuationToken;
    } while (token);
    return out;
  };

  beforeAll(async () => {
    env = {
      SAMSA_STORAGE: 'aws',
      SAMSA_BUCKET: uniqueName('ret'),
      SAMSA_TABLE: uniqueName('ret'),
      AWS_ENDPOINT_URL: awsEndpoint()!,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SAMSA_JOB_INTERVAL_MS: '0',
    };
    const setup = await job([], 'bin/setup-aws.ts');
    expect(setup.code, setup.out).toBe(0);
    s3 = makeS3Client(testAwsConfig(awsEndpoint()!));
    server = await startServer({ env });
    base = server.url;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('expires by time and size, keeps -1, and finishes a topic deletion', async () => {
    const old = Date.now() - HOUR;
    for (const [name, config] of [
      ['rt', { 'retention.ms': 30_000, 'segment.bytes': SEG }],
      ['rb', { 'retention.bytes': RET_BYTES, 'segment.bytes': SEG }],
      ['rf', { 'retention.ms': -1, 'segment.bytes': SEG }],
      ['rd', { 'segment.bytes': SEG }],
    ] as const) {
      expect((await call(base, 'POST', '/v1/topics', { name, partitions: 1, config })).status).toBe(201);
    }
    await produce(base, 'rt', 0, 15, old);
    await produce(base, 'rt', 15, 6);
    await produce(base, 'rb', 0, 40);
    await produce(base, 'rf', 0, 12, old);
    await produce(base, 'rd', 0, 6);

    expect((await runJob('flush')).steps).toBeGreaterThan(0);
    const rtBefore = await logs('rt');
    const rbBefore = await logs('rb');
    expect(rtBefore.size).toBeGreaterThanOrEqual(5);
    expect((await logs('rd')).size).toBeGreaterThan(0);
    const rdOld = (await call(base, 'GET', '/v1/topics/rd')).json.topic_id as string;
    expect((await call(base, 'DELETE', '/v1/topics/rd')).status).toBe(204);
    const deletedAt = Date.now();
    // The name is free at once (was 409 "marked for deletion" until the data was gone).
    const again = await call(base, 'POST', '/v1/topics', { name: 'rd', partitions: 1 });
    expect(again.status, JSON.stringify(again.json)).toBe(201);
    expect(await logStart(base, 'rd')).toEqual({ start: 0, hw: 0 });
    await produce(base, 'rd', 100, 2);

    const report = await runJob('retention');
    expect(report).toMatchObject({ job: 'retention', failedPartitions: 0 });
    expect(report.deletedSegments).toBeGreaterThan(0);

    // retention.ms
    const rt = await logStart(base, 'rt');
    expect(rt.start).toBeGreaterThanOrEqual(15);
    expect(rt.start).toBeLessThan(21);
    await expectTrimmedAt(base, 'rt', rt.start, 21);
    const rtAfter = await logs('rt');
    expect(rtAfter.size).toBeLessThan(rtBefore.size);
    expect([...rtAfter.keys()].every((b) => b >= rt.start)).toBe(true);

    // retention.bytes
    const rb = await logStart(base, 'rb');
    expect(rb.start).toBeGreaterThan(0);
    const kept = [...(await logs('rb')).values()].reduce((a, b) => a + b, 0);
    expect(kept).toBeGreaterThanOrEqual(RET_BYTES - SEG);
    expect(kept).toBeLessThanOrEqual(RET_BYTES + SEG);
    expect((await logs('rb')).size).toBeLessThan(rbBefore.size);
    await expectTrimmedAt(base, 'rb', rb.start, 40);

    // -1
    expect(await logStart(base, 'rf')).toEqual({ start: 0, hw: 12 });
    expect((await readFrom(base, 'rf', 0)).map((r) => r.offset)).toEqual(Array.from({ length: 12 }, (_, k) => k));

    // The deleted incarnation's objects, once its grace period (5 s) is over; the new topic's
    // records stay.
    await new Promise((r) => setTimeout(r, Math.max(0, deletedAt + 5_500 - Date.now())));
    expect((await runJob('retention')).deletedTopics).toBe(1);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: env['SAMSA_BUCKET'], Prefix: `topics/rd/${rdOld}/` }))).KeyCount ?? 0).toBe(0);
    expect((await readFrom(base, 'rd', 0)).map((r) => [r.offset, r.value.i])).toEqual([[0, 100], [1, 101]]);
  }, 90_000);
});
