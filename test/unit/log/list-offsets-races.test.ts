// ListOffsets by timestamp racing a flush: the write-ahead object of an unflushed extent it is
// reading is moved into a segment and deleted under it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { WAL_PREFIX } from '../../../lib/log/keys';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { codecsReady } from '../../../lib/records';
import { faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let dir: string;
let meta: MetaStore;
let objects: ObjectStore;
beforeEach(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-lor-'));
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ListOffsets by timestamp racing a flush', () => {
  it.each([false, true])('finds the offset whose write-ahead object a flush deletes under it (head-only commits: %s)', async (headOnly) => {
    const clock = new ManualClock(Date.now());
    const gate = new Gate();
    const fo = faultyObjectStore(objects);
    const e = new LogEngine(meta, fo, clock, {
      headOnlyCommits: headOnly,
      inlineMaxBytes: 100,
      flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 },
      retention: DEFAULT_RETENTION_OPTIONS,
    });
    await e.createTopic('t', 1);
    const t0 = clock.now();
    for (let i = 0; i < 4; i++) await e.produce('t', [{ value: enc(`r${i}-${'w'.repeat(400)}`), partition: 0, timestamp: t0 + i }]);
    // The lookup's read of the last record's write-ahead object waits while a flush moves it
    // into a segment and deletes it.
    fo.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0].startsWith(WAL_PREFIX), action: { kind: 'hang', gate } });
    const lookup = e.listOffsets('t', 0, t0 + 3).then((r) => r, (err: unknown) => err);
    await gate.reached;
    fo.faults.clear();
    await e.flushPartition(await e.topics.get('t'), 0);
    expect((await objects.list(WAL_PREFIX)).objects).toHaveLength(0);
    gate.release();
    expect(await lookup).toEqual({ offset: 3, timestamp: t0 + 3 });
    await e.close();
  });
});
