// A planned (streamed) fetch cut to the response limit racing a flush: the write-ahead object
// of the piece it cuts is moved into a segment and deleted while the plan is being cut.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { WAL_PREFIX } from '../../../lib/log/keys';
import { codecsReady } from '../../../lib/records';
import { faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
let dir: string;
let meta: MetaStore;
let objects: ObjectStore;
beforeEach(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-pfr-'));
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('planFetch with limitBytes racing a flush', () => {
  it('a write-ahead object deleted while the plan is cut to the limit is read again, not a failure', async () => {
    const gate = new Gate();
    const fo = faultyObjectStore(objects);
    const e = new LogEngine(meta, fo, undefined, { inlineMaxBytes: 100, flush: { stepBytes: 1 << 20, indexIntervalBytes: 256 } });
    await e.createTopic('t', 1);
    // One produce of several batches' worth in one write-ahead object: 10 records in one request.
    await e.produce('t', Array.from({ length: 10 }, (_, i) => ({ value: enc(`r${i}-${'w'.repeat(300)}`), partition: 0 })));
    await e.produce('t', Array.from({ length: 10 }, (_, i) => ({ value: enc(`s${i}-${'w'.repeat(300)}`), partition: 0 })));
    const whole = await e.planFetch('t', 0, { offset: 0, maxBytes: 1 << 20 });
    fo.faults.log.length = 0;
    const plain = await e.planFetch('t', 0, { offset: 0, maxBytes: 1 << 20, limitBytes: Math.floor(whole.bytes / 2) + 1 });
    const walGets = fo.faults.log.filter((l) => l.call.method === 'get' && String(l.call.args[0]).startsWith(WAL_PREFIX)).length;
    expect(plain.pieces).toHaveLength(1);
    fo.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0].startsWith(WAL_PREFIX), nth: walGets, action: { kind: 'hang', gate } });
    const planning = e.planFetch('t', 0, { offset: 0, maxBytes: 1 << 20, limitBytes: Math.floor(whole.bytes / 2) + 1 }).then((p) => p, (err: unknown) => err);
    await gate.reached;
    fo.faults.clear();
    await e.flushPartition(await e.topics.get('t'), 0);
    expect((await objects.list(WAL_PREFIX)).objects).toHaveLength(0);
    gate.release();
    const got = await planning;
    expect(got).not.toBeInstanceOf(Error);
    expect(got).toMatchObject({ nextBatchOffset: 10, bytes: plain.bytes });
    await e.close();
  });
});
