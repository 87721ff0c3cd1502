// An eager flush moves what was committed when it began, in bounded synchronous pieces on
// SQLite (issue 18, the single-record p99): commits made during a flush wait for the next one
// instead of being chased a few records per step, and no single metadata call of the flush
// reads more than a few hundred commit pages.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { faultyMetaStore, faultyObjectStore } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-fbound-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const one = (i: number) => encodeRecordBatch([{ value: new Uint8Array(1024).fill(i) }]);

describe('an eager flush, SQLite', () => {
  it('stops at the head it began with: a record committed during it is left to the next flush', async () => {
    const ref: { engine?: LogEngine } = {};
    let during: Promise<unknown> | undefined;
    const objects = faultyObjectStore(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), [
      {
        // A producer commits while the flush writes its segment (the rule only observes).
        when: (c) => {
          if (c.method === 'append' && !during) during = ref.engine!.produceBatches('t', 0, one(99));
          return false;
        },
        action: { kind: 'fail', error: new Error('never') },
      },
    ]);
    const engine = (ref.engine = new LogEngine(new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }), objects));
    await engine.createTopic('t', 1);
    const topic = await engine.topics.get('t');
    for (let i = 0; i < 10; i++) await engine.produceBatches('t', 0, one(i));
    const first = await engine.flushPartition(topic, 0);
    await during;
    expect(first.batches).toBe(10);
    expect((await engine.head(topic, 0)).flushed).toBe(10);
    expect((await engine.head(topic, 0)).nextOffset).toBe(11);
    const second = await engine.flushPartition(topic, 0);
    expect(second.batches).toBe(1);
    expect((await engine.head(topic, 0)).flushed).toBe(11);
    const got = (await engine.fetch('t', 0, { offset: 0, maxRecords: 100 })).records();
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    await engine.close();
  });

  it('reads at most 128 commit pages in one call, and moves 600 single-record commits in five steps', async () => {
    const meta = faultyMetaStore(new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }));
    const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
    await engine.createTopic('t', 1);
    const topic = await engine.topics.get('t');
    for (let i = 0; i < 600; i++) await engine.produceBatches('t', 0, one(i));
    const from = meta.faults.log.length;
    const stats = await engine.flushPartition(topic, 0);
    expect(stats.batches).toBe(600);
    expect(stats.steps).toBe(5);
    const limits = meta.faults.log.slice(from).flatMap((l) => (l.call.method === 'query' ? [l.call.args[0].limit ?? Infinity] : []));
    expect(limits.length).toBeGreaterThan(0);
    expect(Math.max(...limits)).toBeLessThanOrEqual(128);
    const got = (await engine.fetch('t', 0, { offset: 0, maxRecords: 1000, maxBytes: 8 << 20 })).records();
    expect(got).toHaveLength(600);
    await engine.close();
  });
});
