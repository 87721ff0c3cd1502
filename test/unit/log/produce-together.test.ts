// Embedded (SQLite) JSON produce commits a request's partitions in one metadata transaction
// (issue 18), under all their locks; concurrent requests, some spanning partitions and some
// not, still get contiguous, distinct offsets on every partition.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { faultyMetaStore } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let dir: string;

beforeAll(codecsReady);
beforeEach(() => void (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-together-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function open(headOnlyCommits = false) {
  const meta = faultyMetaStore(new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }));
  const engine = new LogEngine(meta, new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }), undefined, { headOnlyCommits });
  const commits = () => meta.faults.log.filter(({ call }) => call.method === 'transact' || (call.method === 'write' && call.args[0].type === 'update' && call.args[0].key.sk === 'head')).length;
  return { engine, commits };
}

describe('JSON produce over several partitions, embedded', () => {
  it('is one metadata transaction per request', async () => {
    const { engine, commits } = open();
    await engine.createTopic('t', 8);
    const before = commits();
    const offsets = await engine.produce('t', Array.from({ length: 64 }, (_, i) => ({ value: enc(`v${i}`), partition: i % 8 })));
    expect(commits() - before).toBe(1);
    expect(offsets.map((o) => o.offset)).toEqual(Array.from({ length: 64 }, (_, i) => Math.floor(i / 8)));
  });

  it('splits a request over more partitions than one transaction takes', async () => {
    const { engine, commits } = open();
    await engine.createTopic('wide', 120); // 2 operations a partition, 100 a transaction
    const before = commits();
    await engine.produce('wide', Array.from({ length: 120 }, (_, i) => ({ value: enc(`v${i}`), partition: i })));
    expect(commits() - before).toBe(3);
    for (const p of [0, 49, 50, 119]) expect((await engine.fetch('wide', p, { offset: 0 })).records().map((r) => r.value && new TextDecoder().decode(r.value))).toEqual([`v${p}`]);
  });

  it('keeps every partition contiguous under concurrent mixed requests', async () => {
    const { engine } = open();
    await engine.createTopic('mix', 4);
    const jobs: Array<Promise<unknown>> = [];
    for (let r = 0; r < 40; r++) {
      if (r % 3 === 0) jobs.push(engine.produceBatches('mix', r % 4, encodeRecordBatch([{ value: enc(`b${r}`) }, { value: enc(`b${r}'`) }])));
      else jobs.push(engine.produce('mix', Array.from({ length: 6 }, (_, i) => ({ value: enc(`j${r}.${i}`), partition: (r + i) % 4 }))));
    }
    await Promise.all(jobs);
    let total = 0;
    for (let p = 0; p < 4; p++) {
      const res = await engine.fetch('mix', p, { offset: 0, maxRecords: 1000 });
      const offs = res.records().map((x) => x.offset);
      expect(offs).toEqual(Array.from({ length: res.highWatermark }, (_, i) => i));
      total += offs.length;
    }
    expect(total).toBe(14 * 2 + 26 * 6);
  });

  it('commits each partition on its own with head-only writes (the DynamoDB shape)', async () => {
    const { engine, commits } = open(true);
    await engine.createTopic('h', 4);
    const before = commits();
    await engine.produce('h', Array.from({ length: 8 }, (_, i) => ({ value: enc(`v${i}`), partition: i % 4 })));
    expect(commits() - before).toBe(4);
  });

  it('group-commits concurrent single-partition requests that arrive together (one transaction)', async () => {
    const { engine, commits } = open();
    await engine.createTopic('g', 1);
    const before = commits();
    const res = await Promise.all(Array.from({ length: 8 }, (_, i) => engine.produceBatches('g', 0, encodeRecordBatch([{ value: enc(`r${i}`) }]))));
    expect(commits() - before).toBe(1);
    expect(res.map((r) => r.base_offset).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const got = (await engine.fetch('g', 0, { offset: 0 })).records();
    expect(got.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Each request's offset holds its own record.
    for (const [i, r] of res.entries()) expect(new TextDecoder().decode(got[r.base_offset]!.value!)).toBe(`r${i}`);
  });
});
