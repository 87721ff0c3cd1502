// A deleted topic's name is free at once, as in KRaft Kafka: the delete removes the topic item
// and queues a deletion marker keyed by the incarnation's id; the retention pass removes the
// incarnation's data later (design note 0007, "Deleted topics"). A script that deletes and
// re-creates a topic (KafkaJS `admin.createTopics` answers false on TOPIC_ALREADY_EXISTS) used to
// end with no topic and no error. Run on SQLite + local files and on S3 + DynamoDB (emulator).
import { describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import type { SamsaError } from '../../../lib/errors';
import { legacyDeletionMarkerToItem, topicDeletingSet } from '../../../lib/log/items';
import { DELETIONS_PK, partitionPk, TOPIC_DELETIONS_PK, topicDeletionDoneKey, topicDeletionKey, topicDir, topicKey, walPrefix } from '../../../lib/log/keys';
import { TOMBSTONE_TTL_MS } from '../../../lib/log/tombstones';
import type { Topic } from '../../../lib/log/topics';
import { faultyMetaStore, faultyObjectStore, Gate } from '../../../lib/storage/faults';
import type { MetaItem, WriteOp } from '../../../lib/storage/ports';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, laggingReplica, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined): string => new TextDecoder().decode(b ?? new Uint8Array(0));
const GRACE = DEFAULT_RETENTION_OPTIONS.deletionGraceMs;

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'recreate');
  const engineOn = (s: TestStores, clock: ManualClock): LogEngine =>
    closing(new LogEngine(s.meta, s.objects, clock, { inlineMaxBytes: 1024, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } }));
  const keys = async (s: TestStores, prefix: string): Promise<string[]> => (await s.objects.list(prefix)).objects.map((o) => o.key);
  const values = async (e: LogEngine, name: string, partition = 0): Promise<string[]> =>
    (await e.fetch(name, partition, { offset: 0, maxRecords: 1000 })).records().map((r) => dec(r.value));

  it('delete, then create the name at once: the new topic is empty and writable, and the old one’s data is still removed', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    await e.createTopic(s.name, 2, { 'segment.bytes': 1024 });
    for (let i = 0; i < 6; i++) await e.produce(s.name, [{ value: enc(`old-${i}-${'o'.repeat(200)}`), partition: 0 }]);
    await e.produce(s.name, [{ value: enc('w'.repeat(5000)), partition: 1 }]); // a write-ahead object
    const old = await e.topics.get(s.name);
    await e.flushPartition(old, 0);
    expect(await keys(s, topicDir(old))).not.toEqual([]);
    expect(await keys(s, walPrefix(old.id))).toHaveLength(1);

    await e.deleteTopic(s.name);
    // Was: TOPIC_ALREADY_EXISTS, "marked for deletion; retry once its data is removed".
    const fresh = await e.createTopic(s.name, 1);
    expect(fresh.id).not.toBe(old.id);
    expect((await e.describeTopic(s.name)).partitions).toEqual([expect.objectContaining({ partition: 0, log_start_offset: 0, high_watermark: 0 })]);
    expect(await values(e, s.name)).toEqual([]);
    await e.produce(s.name, [{ value: enc('new-0') }, { value: enc('new-1') }]);
    await e.flushPartition(fresh, 0);
    expect(await values(e, s.name)).toEqual(['new-0', 'new-1']);
    const freshObjects = await keys(s, topicDir(fresh));
    expect(freshObjects).not.toEqual([]);

    // The old incarnation's data goes after the deletion grace, and nothing of the new topic's.
    clock.advance(GRACE + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect(await keys(s, topicDir(old))).toEqual([]);
    expect(await keys(s, walPrefix(old.id))).toEqual([]);
    for (const p of [0, 1]) expect((await s.meta.query({ pk: partitionPk(old.id, p) })).items).toEqual([{ pk: partitionPk(old.id, p), sk: 'head', deleted: true }]);
    expect(await keys(s, topicDir(fresh))).toEqual(freshObjects);
    expect(await values(e, s.name)).toEqual(['new-0', 'new-1']);
    expect((await e.retention.runOnce()).deletedTopics).toBe(0);
  });

  /** A topic with flushed segments, a write-ahead object and unflushed records on two partitions. */
  async function oldTopic(e: LogEngine, name: string): Promise<Topic> {
    await e.createTopic(name, 2, { 'segment.bytes': 1024 });
    for (let i = 0; i < 6; i++) await e.produce(name, [{ value: enc(`old-${i}-${'o'.repeat(200)}`), partition: 0 }]);
    await e.produce(name, [{ value: enc('w'.repeat(5000)), partition: 1 }]);
    const t = await e.topics.get(name);
    await e.flushPartition(t, 0);
    await e.produce(name, [{ value: enc('old-late'), partition: 0 }]);
    return t;
  }

  /** Nothing of the deleted incarnation is left but its bare tombstones, and no marker. */
  async function expectRemoved(s: TestStores, old: Topic): Promise<void> {
    expect(await keys(s, topicDir(old))).toEqual([]);
    expect(await keys(s, walPrefix(old.id))).toEqual([]);
    for (let p = 0; p < old.partitions; p++) expect((await s.meta.query({ pk: partitionPk(old.id, p) })).items).toEqual([{ pk: partitionPk(old.id, p), sk: 'head', deleted: true }]);
    expect((await s.meta.query({ pk: TOPIC_DELETIONS_PK })).items.filter((m) => m.sk === old.id)).toEqual([]);
  }

  /** A new incarnation under the name, written and flushed; returns what it reads. */
  async function newTopic(e: LogEngine, name: string): Promise<{ topic: Topic }> {
    const topic = await e.createTopic(name, 1, { 'segment.bytes': 1024 });
    for (let i = 0; i < 6; i++) await e.produce(name, [{ value: enc(`new-${i}-${'n'.repeat(200)}`) }]);
    await e.flushPartition(topic, 0);
    return { topic };
  }
  const newValues = Array.from({ length: 6 }, (_, i) => `new-${i}-${'n'.repeat(200)}`);

  // Every step of the deletion pass, crashed right after it took effect (the write applied, the
  // process died before the next): the name was re-created at once, and the next pass finishes
  // the old incarnation's removal without touching the new one.
  it('a deletion pass crashed after any of its steps is finished by the next pass; the re-created topic is untouched', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    for (let n = 1; ; n++) {
      const name = `${s.name}-${n}`;
      const old = await oldTopic(e, name);
      await e.deleteTopic(name);
      await newTopic(e, name);
      const fm = faultyMetaStore(s.meta);
      const fo = faultyObjectStore(s.objects);
      let calls = 0;
      const nth = (): boolean => ++calls === n;
      fm.faults.add({ when: (c) => (c.method === 'write' || c.method === 'transact') && nth(), action: { kind: 'failAfter', error: new Error('injected crash') } });
      fo.faults.add({ when: (c) => c.method === 'delete' && nth(), action: { kind: 'failAfter', error: new Error('injected crash') } });
      const crashing = closing(new LogEngine(fm, fo, clock));
      clock.advance(GRACE + 1);
      const first = await crashing.retention.runDeletions().then(() => 'finished', (err: Error) => err.message);
      const crashed = fm.faults.fired(0) + fo.faults.fired(0) > 0;
      expect(first).toBe(crashed ? 'injected crash' : 'finished');
      if (crashed) await e.retention.runDeletions();
      await expectRemoved(s, old);
      expect(await values(e, name)).toEqual(newValues);
      expect((await e.topics.get(name, { fresh: true })).id).not.toBe(old.id);
      if (!crashed) {
        expect(n).toBeGreaterThan(5); // the pass has that many steps at least
        break;
      }
    }
  });

  // The DELETE itself, crashed after each of its writes (the marker transaction, each
  // tombstone, the removal of the topic item): the caller retries it (204, or 404 once the
  // topic is gone), or nobody does and the next retention pass (inside the deletion grace)
  // finishes it; then the name is created; a process still holding the old incarnation can
  // write to none of its partitions.
  it('a DELETE crashed after any of its writes, then retried or finished by a pass, then the name created: the old incarnation takes no write, the new one is live', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const holder = engineOn(s, new ManualClock(Date.now())); // its topic cache never expires
    for (let n = 1; ; n++) {
      const name = `${s.name}-${n}`;
      const old = await oldTopic(e, name);
      await holder.produce(name, [{ value: enc('held'), partition: 1 }]);
      const fm = faultyMetaStore(s.meta);
      let calls = 0;
      fm.faults.add({ when: (c) => (c.method === 'write' || c.method === 'transact') && ++calls === n, action: { kind: 'failAfter', error: new Error('injected crash') } });
      const admin = closing(new LogEngine(fm, s.objects, clock));
      const first = await admin.deleteTopic(name).then(() => 'deleted', (err: Error) => err.message);
      const crashed = fm.faults.fired(0) > 0;
      expect(first).toBe(crashed ? 'injected crash' : 'deleted');
      if (crashed && n % 2 === 1) {
        const again = await e.deleteTopic(name).then(() => 'deleted', (err: SamsaError) => err.code);
        expect(['deleted', 'UNKNOWN_TOPIC_OR_PARTITION']).toContain(again);
      } else if (crashed) {
        await e.retention.runDeletions(); // the grace has not passed: it only finishes the DELETE
        expect(await keys(s, topicDir(old))).not.toEqual([]);
      }
      await newTopic(e, name);
      for (const p of [0, 1]) {
        const late = await holder.produce(name, [{ value: enc('late'), partition: p }]).then(() => 'acknowledged', (err: SamsaError) => err.code);
        expect(late, `partition ${p}`).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      }
      expect(await values(e, name)).toEqual(newValues);
      clock.advance(GRACE + 1);
      await e.retention.runDeletions();
      await expectRemoved(s, old);
      expect(await values(e, name)).toEqual(newValues);
      if (!crashed) break;
    }
  });

  // A DELETE killed after any of its writes (a Lambda timed out, a process killed) and neither
  // retried nor followed by a retention pass (on Lambda the hand-off to the retention function
  // comes after the DELETE's last write, and the schedule runs every 15 minutes): a create of
  // the name, right away, makes the new topic — it finishes the deletion's tombstones first,
  // so a process still holding the old incarnation can write to none of its partitions.
  it('a DELETE killed after any of its writes: a create of the name right after succeeds, and the old incarnation takes no write', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const holder = engineOn(s, new ManualClock(Date.now())); // its topic cache never expires
    for (let n = 1; ; n++) {
      const name = `${s.name}-k${n}`;
      const old = await oldTopic(e, name);
      await holder.produce(name, [{ value: enc('held'), partition: 1 }]);
      const fm = faultyMetaStore(s.meta);
      let calls = 0;
      fm.faults.add({ when: (c) => (c.method === 'write' || c.method === 'transact') && ++calls === n, action: { kind: 'failAfter', error: new Error('injected crash') } });
      const killed = closing(new LogEngine(fm, s.objects, clock));
      const first = await killed.deleteTopic(name).then(() => 'deleted', (err: Error) => err.message);
      const crashed = fm.faults.fired(0) > 0;
      expect(first).toBe(crashed ? 'injected crash' : 'deleted');
      const { topic: fresh } = await newTopic(e, name);
      expect(fresh.id).not.toBe(old.id);
      for (const p of [0, 1]) {
        const late = await holder.produce(name, [{ value: enc('late'), partition: p }]).then(() => 'acknowledged', (err: SamsaError) => err.code);
        expect(late, `crash after write ${n}, partition ${p}`).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      }
      expect(await values(e, name)).toEqual(newValues);
      clock.advance(GRACE + 1);
      await e.retention.runDeletions();
      await expectRemoved(s, old);
      expect((await e.topics.get(name, { fresh: true })).id).toBe(fresh.id);
      if (!crashed) break;
    }
  });

  // A create of the name racing its deletion: one item per name, changed only by conditional
  // writes, so they linearize. Before the deletion's transaction the create finds the topic;
  // after it, the create finishes the deletion's tombstones, frees the name and makes a new
  // incarnation, and nothing of the deletion touches it.
  it('a create racing a delete of the name: refused before the deletion took effect, a new incarnation after it', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const old = await oldTopic(e, s.name);
    const fm = faultyMetaStore(s.meta);
    const admin = closing(new LogEngine(fm, s.objects, clock));
    const beforeMark = new Gate();
    const beforeTombstones = new Gate();
    fm.faults.add({ method: 'transact', when: (c) => c.method === 'transact' && c.args[0].some((op) => op.type === 'put' && op.item.pk === TOPIC_DELETIONS_PK), action: { kind: 'hang', gate: beforeMark } });
    fm.faults.add({ method: 'write', when: (c) => c.method === 'write' && c.args[0].type === 'update' && c.args[0].key.pk === partitionPk(old.id, 0), action: { kind: 'hang', gate: beforeTombstones } });
    const deleting = admin.deleteTopic(s.name);
    await beforeMark.reached;
    await expect(e.createTopic(s.name, 1)).rejects.toMatchObject({ code: 'TOPIC_ALREADY_EXISTS' });
    expect((await e.topics.get(s.name, { fresh: true })).id).toBe(old.id);
    beforeMark.release();
    await beforeTombstones.reached;
    expect(await e.topics.find(s.name, { fresh: true })).toBeUndefined(); // gone for every route
    // The create finishes the deletion (tombstones, then the name) itself, as a retried DELETE
    // would: it does not wait on the DELETE, which may never finish (a killed process).
    const { topic: fresh } = await newTopic(e, s.name);
    expect(fresh.id).not.toBe(old.id);
    beforeTombstones.release();
    await deleting;
    expect((await e.topics.get(s.name, { fresh: true })).id).toBe(fresh.id);
    clock.advance(GRACE + 1);
    await e.retention.runDeletions();
    await expectRemoved(s, old);
    expect((await e.topics.get(s.name, { fresh: true })).id).toBe(fresh.id);
    expect(await values(e, s.name)).toEqual(newValues);

    // Many at once: either the create came first (refused; the name ends free) or the delete
    // did (the create's new incarnation lives on, empty).
    for (let i = 0; i < 8; i++) {
      const name = `${s.name}-r${i}`;
      const t = await e.createTopic(name, 1);
      await e.produce(name, [{ value: enc('before') }]);
      const [del, cre] = await Promise.allSettled([admin.deleteTopic(name), e.createTopic(name, 1)]);
      expect(del.status).toBe('fulfilled');
      const now = await e.topics.find(name, { fresh: true });
      if (cre.status === 'fulfilled') {
        expect(now?.id).toBe(cre.value.id);
        expect(now?.id).not.toBe(t.id);
        expect(await values(e, name)).toEqual([]);
      } else {
        expect((cre.reason as SamsaError).code).toBe('TOPIC_ALREADY_EXISTS');
        expect(now).toBeUndefined();
      }
    }
  });

  // A create that succeeds while the DELETE is still writing the old incarnation's tombstones
  // (its transaction done, its answer not sent): a process still holding the old topic then
  // writes, after that create's ok. Its acknowledged write must be readable under the name —
  // the name was created before the write began. It was acknowledged into the deleted
  // incarnation (whose heads were not all tombstoned yet) and lost.
  it('a write that begins after a create of the name succeeded is never acknowledged into the deleted incarnation', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const holder = engineOn(s, new ManualClock(Date.now())); // its topic cache never expires
    const old = await oldTopic(e, s.name);
    await holder.produce(s.name, [{ value: enc('held'), partition: 0 }]);
    const fm = faultyMetaStore(s.meta);
    const admin = closing(new LogEngine(fm, s.objects, clock));
    const tombstoning = new Gate();
    fm.faults.add({ method: 'write', when: (c) => c.method === 'write' && c.args[0].type === 'update' && c.args[0].key.pk === partitionPk(old.id, 0), action: { kind: 'hang', gate: tombstoning } });
    const deleting = admin.deleteTopic(s.name);
    await tombstoning.reached;
    let created = await e.createTopic(s.name, 1).then(() => true, (err: SamsaError) => (expect(err.code).toBe('TOPIC_ALREADY_EXISTS'), false));
    if (!created) {
      tombstoning.release();
      await deleting;
      await e.createTopic(s.name, 1);
      created = true;
    }
    // The create has answered: a write from here on is a write to the new topic, or refused.
    const late = await holder.produce(s.name, [{ value: enc('after-create'), partition: 0 }]).then(() => 'acknowledged', (err: SamsaError) => err.code);
    if (late === 'acknowledged') expect(await values(e, s.name)).toContain('after-create');
    else expect(late).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    tombstoning.release();
    await deleting;
  });

  // A process whose cached lookup still names the deleted incarnation is refused (404, "retry to
  // reach the topic now under that name"). The retry it is told to make must reach the topic
  // created under the name since, not the same cached incarnation again: that one was still
  // refused, for as long as the lookup stayed cached (a second; here the clock stands still).
  it('a produce refused for the deleted incarnation, retried, reaches the topic now under the name', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const holder = engineOn(s, new ManualClock(Date.now())); // its topic cache never expires
    await oldTopic(e, s.name);
    await holder.produce(s.name, [{ value: enc('held'), partition: 1 }]);
    await e.deleteTopic(s.name);
    await e.createTopic(s.name, 2);
    const first = await holder.produce(s.name, [{ value: enc('refused'), partition: 1 }]).then(() => 'acknowledged', (err: SamsaError) => err.code);
    expect(first).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    await holder.produce(s.name, [{ value: enc('retried'), partition: 1 }]);
    expect(await values(e, s.name, 1)).toEqual(['retried']);
  });

  // The same retry on DynamoDB, where the lookup after the refusal reads eventually consistently:
  // a replica behind the delete and re-create still returns the deleted incarnation, which the
  // process had just been refused by. It resolved the name to it again and refused the retry
  // again, for as long as the replica lagged (and cached it for a second more).
  it('a produce refused for the deleted incarnation, retried, reaches the new topic though an eventually consistent read still returns the deleted one', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const replica = laggingReplica(s.meta);
    const holder = closing(new LogEngine(replica.meta, s.objects, new ManualClock(Date.now()), { inlineMaxBytes: 1024 }));
    await oldTopic(e, s.name);
    await holder.produce(s.name, [{ value: enc('held'), partition: 1 }]);
    replica.lagOn(topicKey(s.name), await s.meta.get(topicKey(s.name)));
    await e.deleteTopic(s.name);
    await e.createTopic(s.name, 2);
    const first = await holder.produce(s.name, [{ value: enc('refused'), partition: 1 }]).then(() => 'acknowledged', (err: SamsaError) => err.code);
    expect(first).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    // Was: UNKNOWN_TOPIC_OR_PARTITION again.
    await holder.produce(s.name, [{ value: enc('retried'), partition: 1 }]);
    expect(await values(e, s.name, 1)).toEqual(['retried']);
  });

  // An alter read the topic, then its put was held up while another client deleted the topic
  // and created the name again: the process paused before the put, or the put applied and its
  // answer was lost, and the SDK sent it again after its socket timeout (30 s). The put is
  // conditioned on the version it read, and every incarnation starts at version 1: it replaced
  // the new topic's item with the deleted one's, altered. The name then named the deleted
  // incarnation (every produce refused by its tombstones, a create refused as "already
  // exists"), and the new topic and its acknowledged records were unreachable.
  for (const how of ['paused before its put', 'whose put the SDK sent again'] as const) {
    it(`an alter ${how} while the topic was deleted and re-created leaves the new topic alone`, async () => {
      const s = await setup();
      const clock = new ManualClock(Date.now());
      const e = engineOn(s, clock);
      let fresh: Topic | undefined;
      let fired = false;
      const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
        if (fired || op.type !== 'put' || op.item.sk !== topicKey(s.name).sk || op.item.pk !== topicKey(s.name).pk) return s.meta.write(op);
        fired = true;
        if (how === 'whose put the SDK sent again') await s.meta.write(op);
        await e.deleteTopic(s.name);
        fresh = await e.createTopic(s.name, 1);
        await e.produce(s.name, [{ value: enc('new-0') }]);
        return s.meta.write(op);
      };
      const meta = new Proxy(s.meta, {
        get(target, prop) {
          if (prop === 'write') return write;
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const admin = closing(new LogEngine(meta, s.objects, clock));
      await e.createTopic(s.name, 1);
      const altered = await admin.topics.alter(s.name, { partitions: 3, config: { 'retention.ms': 60_000 } }).then(
        () => 'altered',
        (err: SamsaError) => err.code,
      );
      expect(fired).toBe(true);
      // Was: the name held the deleted incarnation's id, with 3 partitions.
      const now = await e.topics.get(s.name, { fresh: true });
      expect(now.id).toBe(fresh!.id);
      expect([now.partitions, now.config['retention.ms']]).toEqual([1, fresh!.config['retention.ms']]);
      await e.produce(s.name, [{ value: enc('new-1') }]);
      expect(await values(e, s.name)).toEqual(['new-0', 'new-1']);
      // The topic it read is gone: said so, rather than altering the one created since.
      expect(altered).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    });
  }

  // Items mode: an alter that adds partitions marks their heads before its put (markItemsHeads).
  // Held up there while the topic was deleted, its put is refused (404, above) — but the heads
  // it marked, under the deleted incarnation's id and beyond the partition count the deletion
  // recorded, were never tombstoned nor removed: left in the table for good. When the put had
  // landed before the deletion (the SDK's repeat), the deletion covers them and they are kept as
  // tombstones until their time is up.
  for (const how of ['paused before its put', 'whose put the SDK sent again'] as const) {
    it(`an items-mode alter ${how} while the topic was deleted leaves nothing of the deleted incarnation once retention is done`, async () => {
      const s = await setup();
      const clock = new ManualClock(Date.now());
      const e = closing(new LogEngine(s.meta, s.objects, clock, { itemCommits: true }));
      let fired = false;
      const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
        if (fired || op.type !== 'put' || op.item.sk !== topicKey(s.name).sk || op.item.pk !== topicKey(s.name).pk) return s.meta.write(op);
        fired = true;
        if (how === 'whose put the SDK sent again') await s.meta.write(op);
        await e.deleteTopic(s.name);
        await e.createTopic(s.name, 1);
        return s.meta.write(op);
      };
      const meta = new Proxy(s.meta, {
        get(target, prop) {
          if (prop === 'write') return write;
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const admin = closing(new LogEngine(meta, s.objects, clock, { itemCommits: true }));
      const old = await e.createTopic(s.name, 1);
      expect(old.commit).toBe('items');
      await e.produce(s.name, [{ value: enc('old-0') }]);
      const altered = await admin.topics.alter(s.name, { partitions: 4 }).then(
        () => 'altered',
        (err: SamsaError) => err.code,
      );
      expect(fired).toBe(true);
      expect(altered).toBe('UNKNOWN_TOPIC_OR_PARTITION');
      const left = async (): Promise<MetaItem[]> => {
        const out: MetaItem[] = [];
        for (let p = 0; p < 4; p++) out.push(...(await s.meta.query({ pk: partitionPk(old.id, p) })).items);
        return out;
      };
      const deleted = how === 'whose put the SDK sent again' ? 4 : 1;
      // Right after the refusal: the heads the deletion recorded are tombstoned, and the alter
      // removed those beyond them.
      expect((await left()).filter((i) => i.sk === 'head').map((i) => [i.pk, i['deleted']])).toEqual(Array.from({ length: deleted }, (_, p) => [partitionPk(old.id, p), true]));
      clock.advance(GRACE + 1);
      await e.retention.runDeletions();
      // The partitions the deletion knew of are bare tombstones (with their fences) until their time is up.
      const heads = (await left()).filter((i) => i.sk === 'head');
      expect(heads).toEqual(Array.from({ length: deleted }, (_, p) => ({ pk: partitionPk(old.id, p), sk: 'head', deleted: true })));
      clock.advance(TOMBSTONE_TTL_MS + 1);
      await e.retention.runDeletions();
      // Was (paused): the heads of partitions 1 to 3, marked by the alter, under the deleted id.
      expect(await left()).toEqual([]);
      expect(await s.meta.get(topicDeletionKey(old.id))).toBeUndefined();
      expect(await s.meta.get(topicDeletionDoneKey(old.id))).toBeUndefined();
      expect(await keys(s, topicDir(old))).toEqual([]);
      expect(await keys(s, walPrefix(old.id))).toEqual([]);
    });
  }

  // The same heads, left by an alter killed between its marking and its put (a Lambda timed
  // out): the topic never named them, and its deletion, later, records the count it has. The
  // retention pass that removes the deletion finds them beyond that count.
  it('an items-mode alter killed before its put leaves nothing of the topic once it is deleted and retention is done', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = closing(new LogEngine(s.meta, s.objects, clock, { itemCommits: true }));
    const old = await e.createTopic(s.name, 2);
    await e.produce(s.name, [{ value: enc('old-0') }]);
    const fm = faultyMetaStore(s.meta);
    fm.faults.add({ method: 'write', times: 1, when: (c) => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.pk === topicKey(s.name).pk, action: { kind: 'fail', error: new Error('killed') } });
    const killed = closing(new LogEngine(fm, s.objects, clock, { itemCommits: true }));
    await expect(killed.topics.alter(s.name, { partitions: 40 })).rejects.toThrow('killed');
    expect(fm.faults.fired(0)).toBe(1);
    expect((await e.topics.get(s.name, { fresh: true })).partitions).toBe(2);
    await e.deleteTopic(s.name);
    clock.advance(GRACE + 1);
    await e.retention.runDeletions();
    clock.advance(TOMBSTONE_TTL_MS + 1);
    await e.retention.runDeletions();
    const left: MetaItem[] = [];
    for (let p = 0; p < 40; p++) left.push(...(await s.meta.query({ pk: partitionPk(old.id, p) })).items);
    // Was: the heads of partitions 2 to 39, marked by the killed alter.
    expect(left).toEqual([]);
    expect(await s.meta.get(topicDeletionKey(old.id))).toBeUndefined();
  });

  // Items mode: a create marks its heads, under its new id, before its put. Two creates of one
  // name racing: the one that loses is refused "already exists" — and its heads, under an id no
  // topic item ever held, were left in the table for good (no deletion ever names that id).
  it('an items-mode create that loses a race for its name leaves no heads behind', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = closing(new LogEngine(s.meta, s.objects, clock, { itemCommits: true }));
    let loser: string | undefined;
    const write = async (op: WriteOp): Promise<MetaItem | undefined> => {
      if (loser !== undefined || op.type !== 'put' || op.item.sk !== topicKey(s.name).sk || op.item.pk !== topicKey(s.name).pk) return s.meta.write(op);
      loser = op.item['id'] as string;
      await e.createTopic(s.name, 1); // the other create, between this one's marking and its put
      return s.meta.write(op);
    };
    const meta = new Proxy(s.meta, {
      get(target, prop) {
        if (prop === 'write') return write;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const racing = closing(new LogEngine(meta, s.objects, clock, { itemCommits: true }));
    await expect(racing.createTopic(s.name, 3)).rejects.toMatchObject({ code: 'TOPIC_ALREADY_EXISTS' });
    expect(loser).toBeDefined();
    const winner = await e.topics.get(s.name, { fresh: true });
    expect(winner.id).not.toBe(loser);
    const left: MetaItem[] = [];
    for (let p = 0; p < 3; p++) left.push(...(await s.meta.query({ pk: partitionPk(loser!, p) })).items);
    // Was: the three heads the refused create marked.
    expect(left).toEqual([]);
    // The winner's head is untouched: marked for items mode.
    expect((await s.meta.query({ pk: partitionPk(winner.id, 0) })).items).toEqual([expect.objectContaining({ sk: 'head', next_offset: 'items' })]);
    await e.produce(s.name, [{ value: enc('a') }]);
    expect(await values(e, s.name)).toEqual(['a']);
  });

  // The store applied the create's put and the SDK retried it on its own (a lost answer): the
  // retry fails its condition on the very item it wrote. The create made the topic: it answers
  // so, not 409 TOPIC_ALREADY_EXISTS (a fixture that deletes and creates the name at once then
  // failed, or with KafkaJS's createTopics went on believing another topic held it).
  it('a create whose put the SDK retried behind its back answers that it created the topic', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    await oldTopic(e, s.name);
    await e.deleteTopic(s.name);
    const fm = faultyMetaStore(s.meta);
    fm.faults.add({ method: 'write', times: 1, when: (c) => c.method === 'write' && c.args[0].type === 'put' && c.args[0].item.pk === topicKey(s.name).pk, action: { kind: 'repeat' } });
    const admin = closing(new LogEngine(fm, s.objects, clock));
    const created = await admin.createTopic(s.name, 1);
    expect(fm.faults.fired(0)).toBe(1);
    expect((await e.topics.get(s.name, { fresh: true })).id).toBe(created.id);
    // A create of a name that is taken is still refused.
    await expect(admin.createTopic(s.name, 1)).rejects.toMatchObject({ code: 'TOPIC_ALREADY_EXISTS' });
  });

  // Mixed versions: a build before markers by id (still running during a deploy, or whose
  // markers a deploy left) keeps the topic item "deleting" beside a marker by name. This build
  // refuses that name until the deletion is done ("marked for deletion"), and finishes it.
  it('a deletion queued by an older build (marker by name) is finished, and its name freed', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    const old = await oldTopic(e, s.name);
    await s.meta.transact([
      { type: 'update', key: topicKey(s.name), set: topicDeletingSet(clock.now()), condition: { op: 'eq', attr: 'id', value: old.id } },
      { type: 'put', item: legacyDeletionMarkerToItem({ name: s.name, topicId: old.id, partitions: old.partitions }) },
    ]);
    e.topics.invalidate(s.name);
    await expect(e.fetch(s.name, 0)).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
    await expect(e.createTopic(s.name, 1)).rejects.toThrow(/marked for deletion/);
    expect((await e.retention.runDeletions()).deletedTopics).toBe(0); // its grace, from the topic item
    clock.advance(GRACE + 1);
    expect((await e.retention.runDeletions()).deletedTopics).toBe(1);
    await expectRemoved(s, old);
    expect(await s.meta.query({ pk: DELETIONS_PK })).toMatchObject({ items: [] });
    await newTopic(e, s.name);
    expect(await values(e, s.name)).toEqual(newValues);
  });
}

describe('a deleted topic’s name is free at once, on SQLite + local files', () => scenario(() => localStores('samsa-recreate-')));
describeAws('a deleted topic’s name is free at once, on S3 + DynamoDB (emulator)', () => scenario(awsStores));
