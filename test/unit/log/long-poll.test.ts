// Direct-fetch long polls against writers in other processes: the waiter sees their commits
// only by re-reading the partition head, so the re-read schedule is the metadata bill of an
// idle poller. Two engines on one pair of stores stand in for two processes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../lib/runtime/config';
import { LogEngine } from '../../../lib/log/engine';
import { engineOptions } from '../../../lib/runtime/core';
import { DYNAMODB_TRAITS } from '../../../lib/storage/dynamo-meta-store';
import { SQLITE_TRAITS } from '../../../lib/storage/sqlite-meta-store';
import { countingMetaStore } from '../../../lib/storage/counting';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
let shared: SqliteMetaStore;
let objects: LocalObjectStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-longpoll-'));
  shared = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
});
afterEach(async () => {
  await shared.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const reads = (c: ReturnType<typeof countingMetaStore>): number => {
  const s = c.counts.snapshot().calls;
  return (s.get ?? 0) + (s.query ?? 0);
};

describe('long-poll re-reads', () => {
  it('back off while idle, and still see another process’s commit', async () => {
    // Production's schedule (200 ms doubling to 2 s) scaled down by 10 to keep the test short.
    const meta = countingMetaStore(shared);
    const poller = new LogEngine(meta, objects, undefined, { longPollRecheckMs: 20, longPollMaxRecheckMs: 200 });
    const writer = new LogEngine(shared, objects);
    await writer.createTopic('idle', 1);
    await poller.fetch('idle', 0, { offset: 0 }); // warm the topic cache
    meta.counts.reset();

    const t0 = Date.now();
    const idle = await poller.fetch('idle', 0, { offset: 0, waitMs: 2000 });
    const elapsed = Date.now() - t0;
    expect(idle.records()).toHaveLength(0);
    expect(elapsed).toBeGreaterThanOrEqual(1900);
    // A fixed 20 ms interval re-reads ~100 times in 2 s; 20, 40, 80, 160, then 200 ms: ~13.
    const idleReads = reads(meta);
    expect(idleReads).toBeLessThanOrEqual(20);
    expect(idleReads).toBeGreaterThanOrEqual(5);

    // A commit by the other engine still ends the wait: within one (maximal) interval, 200 ms,
    // on a quiet machine. The bound leaves room for a loaded one (this failed once at 500 ms
    // while a parallel suite ran) and still tells a re-read from the wait running out, 4.3 s
    // after the commit.
    const waiting = poller.fetch('idle', 0, { offset: 0, waitMs: 5000 });
    await new Promise((r) => setTimeout(r, 700));
    const produced = Date.now();
    await writer.produce('idle', [{ value: new TextEncoder().encode('"hi"'), partition: 0 }]);
    const got = await waiting;
    expect(got.records()).toHaveLength(1);
    expect(Date.now() - produced).toBeLessThan(2000);
    await poller.close();
    await writer.close();
  });

  it('is wired for production: 200 ms (AWS) or 1 s (embedded), backing off to 2 s', () => {
    const aws = engineOptions(loadConfig({ SAMSA_STORAGE: 'aws', SAMSA_BUCKET: 'b', SAMSA_TABLE: 't' }), DYNAMODB_TRAITS);
    expect(aws).toMatchObject({ longPollRecheckMs: 200, longPollMaxRecheckMs: 2000 });
    const embedded = engineOptions(loadConfig({ SAMSA_STORAGE: 'embedded', SAMSA_DATA_DIR: dir }), SQLITE_TRAITS);
    expect(embedded).toMatchObject({ longPollRecheckMs: 1000, longPollMaxRecheckMs: 2000 });
  });

  it('takes cost and sharing from the store it is wired to, not from the storage mode', () => {
    const cfg = loadConfig({ SAMSA_STORAGE: 'embedded', SAMSA_DATA_DIR: dir });
    // DynamoDB: transactions cost double, bytes past 2.5 KiB are cheaper in S3, other hosts share it.
    expect(engineOptions(cfg, DYNAMODB_TRAITS)).toMatchObject({ inlineMaxBytes: 2560, headOnlyCommits: true, singleHost: false, longPollRecheckMs: 200 });
    expect(engineOptions(cfg, SQLITE_TRAITS)).toMatchObject({ inlineMaxBytes: 128 * 1024, headOnlyCommits: false, singleHost: true, longPollRecheckMs: 1000 });
  });
});
