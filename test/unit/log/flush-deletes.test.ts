// After a flush step, the commit pages below `flushed` go: on SQLite in transactions of up to
// 100 deletes with the event loop free between them (2,000 one-at-a-time synchronous deletes
// held it for tens of ms, the single-record p99 of issue 18); on DynamoDB one plain delete
// each (a transaction would bill them twice). And a step over many inline commits (read with
// no I/O) lets the event loop run every 64 of them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { commitPageToItem } from '../../../lib/log/items';
import { EXTENT_PREFIX, partitionPk } from '../../../lib/log/keys';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { faultyMetaStore, faultyObjectStore } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-fdel-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each([
  { shape: 'transactions (SQLite)', headOnlyCommits: false },
  { shape: 'head-only writes (DynamoDB)', headOnlyCommits: true },
])('deleting flushed commit pages, $shape', ({ headOnlyCommits }) => {
  it('removes every page below flushed, batched only where transactions are cheap', async () => {
    const meta = faultyMetaStore(new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }));
    const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), undefined, { headOnlyCommits });
    await engine.createTopic('t', 1);
    const topic = await engine.topics.get('t');
    for (let i = 0; i < 250; i++) await engine.produceBatches('t', 0, encodeRecordBatch([{ value: new Uint8Array(1500).fill(i) }]));
    const pk = partitionPk(topic.id, 0);
    const pages = async () => (await meta.query({ pk, beginsWith: EXTENT_PREFIX, limit: 1000 })).items.length;
    const before = await pages();
    expect(before).toBeGreaterThan(50);
    meta.faults.clear();
    const from = meta.faults.log.length;
    await engine.flushPartition(topic, 0);
    expect(await pages()).toBe(0);
    const calls = meta.faults.log.slice(from).map((l) => l.call);
    const plainDeletes = calls.filter((c) => c.method === 'write' && c.args[0].type === 'delete').length;
    const deleteTxs = calls.filter((c) => c.method === 'transact' && c.args[0].every((op) => op.type === 'delete'));
    if (headOnlyCommits) {
      expect(plainDeletes).toBe(before);
      expect(deleteTxs).toHaveLength(0);
    } else {
      expect(plainDeletes).toBe(0);
      expect(deleteTxs.reduce((a, c) => a + (c.method === 'transact' ? c.args[0].length : 0), 0)).toBe(before);
      // 100 at most per transaction (each step's last one may hold fewer).
      expect(deleteTxs.length).toBeGreaterThanOrEqual(Math.ceil(before / 100));
      expect(Math.max(...deleteTxs.map((c) => (c.method === 'transact' ? c.args[0].length : 0)))).toBeLessThanOrEqual(100);
    }
    // Everything is still readable from the segment.
    const got = (await engine.fetch('t', 0, { offset: 0, maxRecords: 1000, maxBytes: 1 << 20 })).records();
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });
});

describe('deleting flushed commit pages, SQLite', () => {
  // Issue 18: the step has just read those pages, inline bytes and all; finding them again with a
  // query read every byte of them a second time only to learn their keys.
  it('deletes the pages the step read by key, and sweeps only for strays', async () => {
    const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
    const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }));
    await engine.createTopic('k', 1);
    const topic = await engine.topics.get('k');
    const produce = async (n: number) => {
      for (let i = 0; i < n; i++) await engine.produceBatches('k', 0, encodeRecordBatch([{ value: new Uint8Array(2000).fill(i) }]));
    };
    await produce(10);
    await engine.flushPartition(topic, 0);
    const pk = partitionPk(topic.id, 0);
    // A stray: a page below `flushed` written after the flush passed it (as a stale committer's
    // late page would be), which readers ignore; the next step's sweep must still delete it.
    const data = encodeRecordBatch([{ value: new Uint8Array(10) }], { baseOffset: 5 });
    await meta.write({ type: 'put', item: commitPageToItem(topic.id, 0, [{ base: 5, last: 5, kind: 'inline', data, pos: 0, len: data.length, wb: 5, maxTs: 0, cid: 1 }]) });
    await produce(120);
    const query = meta.query.bind(meta);
    let sweptItems = 0;
    meta.query = async (opts) => {
      const page = await query(opts);
      if (opts.pk === pk && opts.gte === EXTENT_PREFIX && opts.lt !== undefined) sweptItems += page.items.length;
      return page;
    };
    await engine.flushPartition(topic, 0);
    expect((await query({ pk, beginsWith: EXTENT_PREFIX })).items).toEqual([]);
    expect(sweptItems).toBe(1); // the stray, not the 120 pages the step read
    const got = (await engine.fetch('k', 0, { offset: 0, maxRecords: 1000, maxBytes: 1 << 20 })).records();
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 130 }, (_, i) => i));
  });
});

describe('a flush step over many inline commits, SQLite', () => {
  it('lets the event loop run while it reads them, before its first segment write', async () => {
    const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
    let turns = 0;
    let turnsAtFirstWrite: number | undefined;
    const objects = faultyObjectStore(new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), [
      {
        when: (c) => {
          if ((c.method === 'append' || c.method === 'put') && turnsAtFirstWrite === undefined) turnsAtFirstWrite = turns;
          return false;
        },
        action: { kind: 'fail', error: new Error('never') },
      },
    ]);
    const engine = new LogEngine(meta, objects);
    await engine.createTopic('y', 1);
    const topic = await engine.topics.get('y');
    for (let i = 0; i < 300; i++) await engine.produceBatches('y', 0, encodeRecordBatch([{ value: new Uint8Array(100).fill(i) }]));
    let running = true;
    const ticker = (async () => {
      while (running) {
        await new Promise((r) => setImmediate(r));
        turns++;
      }
    })();
    const start = turns;
    await engine.flushPartition(topic, 0);
    running = false;
    await ticker;
    // The first step's 128 extents (flush.ts: SYNC_EXTENTS_PER_STEP) read without I/O: at
    // least one turn every 64 of them.
    expect(turnsAtFirstWrite! - start).toBeGreaterThanOrEqual(2);
    expect((await engine.fetch('y', 0, { offset: 0, maxRecords: 1000 })).records()).toHaveLength(300);
  });
});
