// The commit protocol under crashes and races: several engines (as separate processes would)
// share one pair of stores; fault-injecting wrappers fail or lose the ack at every step. The
// partition must stay contiguous — no hole, no duplicate — and every acknowledged record must
// read back at its acknowledged offset.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { partitionRecords } from '../../helpers/log';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../../lib/errors';
import { commitHeadFromItem, headBudgetBytes, nextTails } from '../../../lib/log/commit';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { itemSize } from '../../../lib/storage/counting';
import { type CallOf, faultyMetaStore, faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore, ObjectStore } from '../../../lib/storage/ports';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { describeAws, makeDynamoStore, perSuite } from '../../helpers/aws';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null): string => (b ? new TextDecoder().decode(b) : '');
const crash = (): Error => Object.assign(new Error('injected crash'), { name: 'InjectedCrash' });

let dir: string;
let meta: MetaStore;
let objects: ObjectStore;

beforeEach(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-commit-'));
  meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const readAll = partitionRecords;

function expectContiguous(records: Array<{ offset: number }>, hw: number): void {
  expect(records.map((r) => r.offset)).toEqual(Array.from({ length: hw }, (_, i) => i));
}

// Both commit shapes: one transaction (SQLite's default), and the head-only commit DynamoDB
// uses (the conditional head write, after a commit page every few commits — commit.ts).
describe.each([
  { mode: 'transaction', headOnlyCommits: false },
  { mode: 'head-only writes', headOnlyCommits: true },
])('commit protocol ($mode)', ({ headOnlyCommits }) => {
  const isPagePut = (c: CallOf<MetaStore>): boolean => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.sk.startsWith('x#');
  const isHeadWrite = (c: CallOf<MetaStore>): boolean => c.method === 'write' && c.args[0].type === 'update' && c.args[0].key.sk === 'head';

  it('keeps offsets contiguous and unique across independent writers (separate engines)', async () => {
    const engines = Array.from({ length: 4 }, () => new LogEngine(meta, objects, undefined, { inlineMaxBytes: 512, headOnlyCommits }));
    await engines[0]!.createTopic('t', 2);
    const acks: Array<{ partition: number; offset: number; value: string }> = [];
    await Promise.all(
      engines.flatMap((e, w) =>
        Array.from({ length: 3 }, async (_, lane) => {
          for (let i = 0; i < 15; i++) {
            // Sizes straddle the inline limit, so inline and write-ahead commits interleave.
            const value = `w${w}-l${lane}-${i}-${'x'.repeat((i * 97) % 900)}`;
            const [o] = await e.produce('t', [{ value: enc(value), partition: i % 2 }]);
            acks.push({ partition: o!.partition, offset: o!.offset, value });
          }
        }),
      ),
    );
    for (const p of [0, 1]) {
      const head = await engines[0]!.head((await engines[0]!.topics.get('t'))!, p);
      const records = await readAll(engines[1]!, 't', p);
      expectContiguous(records, head.nextOffset);
      const mine = acks.filter((a) => a.partition === p);
      expect(mine.length).toBe(head.nextOffset);
      for (const a of mine) expect(records[a.offset]!.value).toBe(a.value);
    }
  });

  type Step = readonly [string, 'objects' | 'meta', ((c: CallOf<MetaStore>) => boolean) | undefined, 'fail' | 'failAfter'];
  const commitStep: Step[] = headOnlyCommits
    ? [
        ['commit page write fails', 'meta', isPagePut, 'fail'],
        ['commit page write lands but its ack is lost', 'meta', isPagePut, 'failAfter'],
        ['head write fails', 'meta', isHeadWrite, 'fail'],
        ['head write commits but its ack is lost', 'meta', isHeadWrite, 'failAfter'],
      ]
    : [
        ['metadata transaction fails', 'meta', (c: CallOf<MetaStore>) => c.method === 'transact', 'fail'],
        ['metadata transaction commits but its ack is lost', 'meta', (c: CallOf<MetaStore>) => c.method === 'transact', 'failAfter'],
      ];
  /** Produce through `e` until the next head-only commit of a like record writes a commit page. */
  async function fillTails(e: LogEngine, value: (i: number) => string): Promise<void> {
    const topic = await e.topics.get('t');
    for (let i = 0; i < 256; i++) {
      const head = commitHeadFromItem(await meta.get({ pk: `log#${topic.id}#0`, sk: 'head' }), meta.traits);
      const last = head.tails?.[head.tails.length - 1];
      // Sized with the smallest timestamp (a number's size depends on its digits): a like
      // record committed next needs a page even if its own timestamp stores smaller.
      if (last && nextTails(head, { ...last, base: head.nextOffset, last: head.nextOffset, maxTs: 0 }, meta.traits).page) return;
      // The fillers carry that smallest timestamp too. With the clock's, each stored a few bytes
      // larger than the check assumes, so a filler could page at the very tail count where the
      // check still said no, every time round: the head "never filled up" (seen once in CI).
      await e.produce('t', [{ value: enc(value(i)), timestamp: 0 }]);
    }
    throw new Error('the head never filled up');
  }

  it.each<Step>([
    ['write-ahead PUT fails', 'objects', undefined, 'fail'],
    ['write-ahead PUT lands but its ack is lost', 'objects', undefined, 'failAfter'],
    ...commitStep,
  ])('survives a crash when the %s', async (name, store, when, kind) => {
    const fo = faultyObjectStore(objects);
    const fm = faultyMetaStore(meta);
    const victim = new LogEngine(fm, fo, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    const healthy = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    await healthy.createTopic('t', 1);
    for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`before-${i}-${'y'.repeat(200)}`) }]);
    // Head-only commits write a page only when the head is full: make the victim's commit one.
    if (headOnlyCommits) await fillTails(healthy, (i) => `before-more-${i}-${'y'.repeat(200)}`);
    const before = (await healthy.head(await healthy.topics.get('t'), 0)).nextOffset;

    if (store === 'objects') fo.faults.add({ method: 'put', action: { kind, error: crash() } });
    else fm.faults.add({ when, action: { kind, error: crash() } });
    await expect(victim.produce('t', [{ value: enc(`victim-${'z'.repeat(200)}`) }])).rejects.toThrow('injected crash');

    // The writer that "crashed" is gone; others carry on.
    for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`after-${i}-${'y'.repeat(200)}`) }]);
    const topic = await healthy.topics.get('t');
    const hw = (await healthy.head(topic, 0)).nextOffset;
    const records = await readAll(healthy, 't', 0);
    expectContiguous(records, hw);
    const victimCopies = records.filter((r) => r.value.startsWith('victim-')).length;
    // Only a commit that reached the metadata store can be visible — exactly once.
    const committed = kind === 'failAfter' && /transaction|head write/.test(name);
    expect(victimCopies).toBe(committed ? 1 : 0);
    expect(hw).toBe(before + 3 + victimCopies);
  });

  // An SDK retries a write whose response was lost; the retry finds its own write already
  // applied and fails its condition. The commit must recognise its own write (not read the
  // failure as "someone else appended") and must not commit the payload a second time.
  const repeatSteps: Array<readonly [string, ((c: CallOf<MetaStore>) => boolean) | undefined]> = [
    ['write-ahead PUT', undefined],
    ...(headOnlyCommits
      ? ([
          ['commit page write', isPagePut],
          ['head write', isHeadWrite],
        ] as const)
      : ([['metadata transaction', (c: CallOf<MetaStore>) => c.method === 'transact']] as const)),
  ];
  it.each(repeatSteps)('commits once when the %s applies, its response is lost and the SDK sends it again', async (_name, when) => {
    const fm = faultyMetaStore(meta);
    const fo = faultyObjectStore(objects);
    const victim = new LogEngine(fm, fo, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    const healthy = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    await healthy.createTopic('t', 1);
    for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`before-${i}-${'y'.repeat(200)}`) }]);
    if (headOnlyCommits) await fillTails(healthy, (i) => `before-more-${i}-${'y'.repeat(200)}`);
    // Both an inline and a write-ahead payload.
    for (const [n, size] of [[0, 10], [1, 300]] as const) {
      if (n === 0 && !when) continue; // an inline commit writes no object
      fm.faults.clear();
      fo.faults.clear();
      if (when) fm.faults.add({ when, action: { kind: 'repeat' } });
      else fo.faults.add({ method: 'put', action: { kind: 'repeat' } });
      const value = `victim${n}-${'z'.repeat(size)}`;
      const [ack] = await victim.produce('t', [{ value: enc(value) }]);
      expect((when ? fm : fo).faults.fired(0)).toBe(1);
      const records = await readAll(healthy, 't', 0);
      expectContiguous(records, (await healthy.head(await healthy.topics.get('t'), 0)).nextOffset);
      expect(records.filter((r) => r.value === value).map((r) => r.offset)).toEqual([ack!.offset]);
      if (headOnlyCommits) await fillTails(healthy, (i) => `between-${n}-${i}-${'y'.repeat(200)}`);
    }
  });

  // A timeout or a dropped connection (a retriable storage error): the write may have been
  // applied or not. The committer finds out by its commit id and finishes the commit once.
  const ambiguousSteps = repeatSteps.filter(([, when]) => when !== undefined) as Array<readonly [string, (c: CallOf<MetaStore>) => boolean]>;
  it.each(ambiguousSteps.flatMap(([name, when]) => (['fail', 'failAfter'] as const).map((kind) => [name, kind, when] as const)))(
    'acknowledges exactly one copy when the %s times out (%s)',
    async (_name, kind, when) => {
      const fm = faultyMetaStore(meta);
      const victim = new LogEngine(fm, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
      const healthy = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
      await healthy.createTopic('t', 1);
      for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`before-${i}-${'y'.repeat(200)}`) }]);
      if (headOnlyCommits) await fillTails(healthy, (i) => `before-more-${i}-${'y'.repeat(200)}`);
      const timeout = new StorageError('DynamoDB UpdateItem: socket hang up', true);
      fm.faults.add({ when, action: { kind, error: timeout } });
      const [ack] = await victim.produce('t', [{ value: enc(`victim-${'z'.repeat(200)}`) }]);
      expect(fm.faults.fired(0)).toBe(1);
      const records = await readAll(healthy, 't', 0);
      expectContiguous(records, (await healthy.head(await healthy.topics.get('t'), 0)).nextOffset);
      expect(records.filter((r) => r.value.startsWith('victim-')).map((r) => r.offset)).toEqual([ack!.offset]);
      // A store that keeps failing: the error, after a few tries, and nothing written.
      if (headOnlyCommits) await fillTails(healthy, (i) => `between-${i}-${'y'.repeat(200)}`);
      fm.faults.add({ when, times: Infinity, action: { kind: 'fail', error: timeout } });
      await expect(victim.produce('t', [{ value: enc(`never-${'z'.repeat(200)}`) }])).rejects.toBe(timeout);
      expect((await readAll(healthy, 't', 0)).filter((r) => r.value.startsWith('never-'))).toEqual([]);
    },
  );

  it('when its write is applied but flush deletes every trace of its id before the repeat fails, the commit reports an unknown outcome — no false ack, no second copy', async () => {
    const healthy = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    await healthy.createTopic('t', 1);
    const topic = await healthy.topics.get('t');
    for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`before-${i}`) }]);
    // The store client applies the victim's commit, then (its response lost) waits while the log
    // moves on and is flushed past it, then sends the write again.
    let armed = true;
    const isCommitWrite = (op: Parameters<MetaStore['transact']>[0]): boolean => (headOnlyCommits ? op[0]!.type === 'update' && op[0]!.key.sk === 'head' : true);
    const interleave = async (): Promise<void> => {
      for (let i = 0; i < 40; i++) await healthy.produce('t', [{ value: enc(`after-${i}-${'y'.repeat(150)}`) }]);
      await healthy.flushPartition(topic, 0);
    };
    const slow: MetaStore = new Proxy(meta, {
      get(target, prop, recv) {
        if (prop === 'write' || prop === 'transact') {
          return async (arg: never) => {
            const run = (): Promise<unknown> => (prop === 'write' ? target.write(arg) : target.transact(arg));
            if (armed && isCommitWrite(prop === 'write' ? [arg] : arg)) {
              armed = false;
              await run();
              await interleave();
            }
            return run();
          };
        }
        return Reflect.get(target, prop, recv) as unknown;
      },
    });
    const victim = new LogEngine(slow, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    await expect(victim.produce('t', [{ value: enc('victim') }])).rejects.toMatchObject({ code: 'REQUEST_TIMED_OUT', retriable: true });
    const records = await readAll(healthy, 't', 0);
    expectContiguous(records, (await healthy.head(topic, 0)).nextOffset);
    expect(records.filter((r) => r.value === 'victim')).toHaveLength(1);
  });

  it('an idempotent retry after a lost ack returns the original offsets and writes nothing', async () => {
    const fm = faultyMetaStore(meta);
    const a = new LogEngine(fm, objects, undefined, { headOnlyCommits });
    const b = new LogEngine(meta, objects, undefined, { headOnlyCommits }); // "another instance" serving the retry
    await b.createTopic('t', 3);
    const producer = await b.producers.init();
    const records = [{ key: enc('k1'), value: enc('v1') }, { key: enc('k2'), value: enc('v2') }, { value: enc('v3'), partition: 2 }];
    // Each partition's batch commits on its own (a transaction, or one head write): the first
    // lands but reports failure, the others land; the request fails.
    fm.faults.add({ when: headOnlyCommits ? isHeadWrite : (c) => c.method === 'transact', action: { kind: 'failAfter', error: crash() } });
    await expect(a.produce('t', records, { ...producer, sequence: 0 })).rejects.toThrow('injected crash');
    expect(fm.faults.fired(0)).toBe(1);
    await a.close(); // let its other partitions' commits finish
    const topic = await b.topics.get('t');
    const hwBefore = await Promise.all([0, 1, 2].map(async (p) => (await b.head(topic, p)).nextOffset));
    const retried = await b.produce('t', records, { ...producer, sequence: 0 });
    const hwAfter = await Promise.all([0, 1, 2].map(async (p) => (await b.head(topic, p)).nextOffset));
    expect(hwAfter).toEqual(hwBefore);
    // The offsets point at the records of the first (lost-ack) attempt.
    for (const [i, o] of retried.entries()) {
      const got = (await b.fetch('t', o.partition, { offset: o.offset, maxRecords: 1 })).records()[0]!;
      expect(dec(got.value)).toBe(dec(records[i]!.value));
    }
    // And the sequence moves on from there.
    const next = await b.produce('t', [{ value: enc('v4'), partition: 0 }], { ...producer, sequence: 1 });
    expect(next[0]!.offset).toBe(hwAfter[0]);
    await expect(b.produce('t', [{ value: enc('v5') }], { ...producer, sequence: 3 })).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
  });

  it('binary batches from an idempotent Kafka producer are deduplicated per partition', async () => {
    const e = new LogEngine(meta, objects, undefined, { headOnlyCommits });
    await e.createTopic('t', 2);
    const { id, epoch } = await e.producers.init();
    const batch = (seq: number, n: number) =>
      encodeRecordBatch(Array.from({ length: n }, (_, i) => ({ value: enc(`s${seq + i}`) })), { producerId: id, producerEpoch: epoch, baseSequence: seq });
    const first = await e.produceBatches('t', 1, batch(0, 3));
    expect(await e.produceBatches('t', 1, batch(0, 3))).toEqual(first);
    const second = await e.produceBatches('t', 1, batch(3, 2));
    expect(second.base_offset).toBe(first.last_offset + 1);
    await expect(e.produceBatches('t', 1, batch(7, 1))).rejects.toMatchObject({ code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    // Sequences are per partition: partition 0 starts at 0 on its own.
    expect((await e.produceBatches('t', 0, batch(0, 1))).base_offset).toBe(0);
    const bumped = await e.producers.init(id);
    await expect(e.produceBatches('t', 1, batch(5, 1))).rejects.toMatchObject({ code: 'INVALID_PRODUCER_EPOCH' });
    expect(bumped.epoch).toBe(epoch + 1);
  });

  it('a writer frozen inside its commit resumes after others appended and a flush ran: no hole, no duplicate, its late write is ignored', async () => {
    const fm = faultyMetaStore(meta);
    const victim = new LogEngine(fm, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    const healthy = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    await healthy.createTopic('t', 1);
    for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`before-${i}-${'y'.repeat(150)}`) }]);
    if (headOnlyCommits) await fillTails(healthy, (i) => `before-${i + 3}-${'y'.repeat(150)}`);
    const topic = await healthy.topics.get('t');
    const before = (await healthy.head(topic, 0)).nextOffset;

    // Freeze the victim at its first metadata write: it has read the head (`before` next).
    const gate = new Gate();
    fm.faults.add({ when: (c) => (headOnlyCommits ? isPagePut(c) : c.method === 'transact'), action: { kind: 'hang', gate } });
    const frozen = victim.produce('t', [{ value: enc(`victim-${'z'.repeat(150)}`) }]);
    await gate.reached;

    // Meanwhile the log moves on and is flushed: the extents the victim saw are gone.
    for (let i = 0; i < 3; i++) await healthy.produce('t', [{ value: enc(`after-${i}-${'y'.repeat(150)}`) }]);
    await healthy.flushPartition(topic, 0);
    expect((await healthy.head(topic, 0)).flushed).toBe(before + 3);
    gate.release();
    const [ack] = await frozen;
    expect(ack!.offset).toBe(before + 3); // the stale attempt was refused; the retry landed at the end

    const records = await readAll(healthy, 't', 0);
    expectContiguous(records, before + 4);
    expect(records.map((r) => r.value.split('-')[0])).toEqual([...Array<string>(before).fill('before'), 'after', 'after', 'after', 'victim']);
    // Whatever the late write left below the flushed offset goes with the next flush.
    await healthy.produce('t', [{ value: enc('last') }]);
    await healthy.flushPartition(topic, 0);
    const pages = await meta.query({ pk: `log#${topic.id}#0`, gte: 'x#', lt: 'x$' });
    expect(pages.items.filter((i) => (i['last'] as number) < before + 5)).toEqual([]);
    expect((await readAll(healthy, 't', 0)).map((r) => r.offset)).toEqual(Array.from({ length: before + 5 }, (_, i) => i));
  });

  it.runIf(headOnlyCommits)('keeps the head within one 1 KB write unit as commits, flushes and the lease grow it', async () => {
    const e = new LogEngine(meta, objects, undefined, { inlineMaxBytes: 100, headOnlyCommits });
    await e.createTopic('t', 1);
    const topic = await e.topics.get('t');
    const sizes: number[] = [];
    for (let i = 0; i < 40; i++) {
      await e.produce('t', [{ value: enc(`r${i}-${'w'.repeat(300)}`) }]);
      // Flushes take the lease and move `flushed`: fields the committer's cached head lacks.
      if (i % 10 === 5) await e.flushPartition(topic, 0);
      sizes.push(itemSize((await meta.get({ pk: `log#${topic.id}#0`, sk: 'head' }))!));
    }
    // Over the committer's budget (a little under DynamoDB's 1,024-byte write unit) only in the
    // commit right after a flush grew the head behind its back: it learns the real size from
    // the write and pages out on the next one.
    expect(sizes.filter((n) => n > headBudgetBytes(meta.traits)).length).toBeLessThanOrEqual(4);
    expect(Math.max(...sizes)).toBeLessThan(1024 + 200);
    expect((await readAll(e, 't', 0)).map((r) => r.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('refuses, by name, extent items in the layout of an earlier build rather than misreading them', async () => {
    const e = new LogEngine(meta, objects, undefined, { headOnlyCommits });
    await e.createTopic('t', 1);
    const topic = await e.topics.get('t');
    // The pre-page layout: a single extent under x#<base>, no `exts`.
    await meta.write({ type: 'put', item: { pk: `log#${topic.id}#0`, sk: 'x#00000000000000000000', base: 0, last: 0, kind: 'inline', pos: 0, len: 1, wb: 0, max_ts: 0 } });
    await meta.write({ type: 'update', key: { pk: `log#${topic.id}#0`, sk: 'head' }, set: { next_offset: 1 } });
    await expect(e.fetch('t', 0, { offset: 0 })).rejects.toThrow(/layout of an earlier Samsa build/);
  });

  it('stores nothing when any record of a request is invalid', async () => {
    const e = new LogEngine(meta, objects, undefined, { headOnlyCommits });
    await e.createTopic('t', 2, { 'max.message.bytes': 1000 });
    await expect(
      e.produce('t', [{ value: enc('ok'), partition: 0 }, { value: new Uint8Array(5000), partition: 1 }]),
    ).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE' });
    const topic = await e.topics.get('t');
    expect((await e.head(topic, 0)).nextOffset).toBe(0);
    expect((await e.head(topic, 1)).nextOffset).toBe(0);
    // Many small records still fit: they are split into several batches, not refused.
    const offsets = await e.produce('t', Array.from({ length: 50 }, (_, i) => ({ value: enc(`r${i}-${'q'.repeat(60)}`), partition: 0 })));
    expect(offsets.map((o) => o.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

// The same lost-response repeat against DynamoDB's own condition failures (moto), where the
// failed condition returns the head as ALL_OLD: the committer must find its commit id there
// (or in the page its tails moved to) rather than commit the payload a second time.
describeAws('commit protocol on DynamoDB (moto): an applied write whose response was lost, sent again', () => {
  const table = perSuite(() => makeDynamoStore());
  it.each([
    ['head write', (c: CallOf<MetaStore>) => c.method === 'write' && c.args[0].type === 'update' && c.args[0].key.sk === 'head'],
    ['commit page write', (c: CallOf<MetaStore>) => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.sk.startsWith('x#')],
  ] as const)('commits once when the %s is repeated', async (_name, when) => {
    const { store } = await table();
    const fm = faultyMetaStore(store);
    const victim = new LogEngine(fm, objects, undefined, { inlineMaxBytes: 2560, headOnlyCommits: true });
    const healthy = new LogEngine(store, objects, undefined, { inlineMaxBytes: 2560, headOnlyCommits: true });
    const name = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    await healthy.createTopic(name, 1);
    const topic = await healthy.topics.get(name);
    const acks: Array<{ value: string; offset: number }> = [];
    fm.faults.add({ when, times: Infinity, action: { kind: 'repeat' } });
    // Enough commits that some of them page their tails out, so both writes get repeated.
    for (let i = 0; i < 24; i++) {
      const value = `v${i}-${'p'.repeat(i % 2 ? 3000 : 120)}`;
      const [o] = await (i % 3 === 0 ? healthy : victim).produce(name, [{ value: enc(value) }]);
      acks.push({ value, offset: o!.offset });
    }
    expect(fm.faults.fired(0)).toBeGreaterThan(0);
    const hw = (await healthy.head(topic, 0)).nextOffset;
    expect(hw).toBe(acks.length);
    const records = await readAll(healthy, name, 0);
    expectContiguous(records, hw);
    for (const a of acks) expect(records[a.offset]!.value).toBe(a.value);
  });
});
