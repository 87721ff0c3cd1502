// A flusher paused inside a segment write wakes after others moved on: a successor that took its
// lease and flushed further, or a deletion and re-creation of its topic (segment keys use the
// topic's name, so the new incarnation's objects sit at the keys the paused one was writing).
// Whatever it does on waking must leave the committed records readable. Run on the local
// adapters and on S3 + DynamoDB (the emulator), for both commit shapes.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { type FaultRule, faultyObjectStore, Gate } from '../../../lib/storage/faults';
import { ManualClock } from '../../../lib/util/clock';
import type { ObjectStore } from '../../../lib/storage/ports';
import { describeAws } from '../../helpers/aws';
import { awsStores, localStores, type TestStores } from '../../helpers/stores';
import { partitionValues } from '../../helpers/log';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const LEASE = 30_000;
const GRACE = 5_000;

type Stores = TestStores;

/** The first conditional create of a `.log` segment object: where the paused flusher stops. */
const firstLogCreate: FaultRule<ObjectStore>['when'] = (c) => c.method === 'append' && c.args[0].endsWith('.log') && c.args[3]?.ifNoneMatch === true;

function suite(open: () => Promise<Stores>): void {
  // Segments as one object each, and written in chunks (design note 0011) small enough that
  // every step here starts one: a paused flusher then wakes holding a chunk's old ETag.
  describe.each([
    [false, undefined],
    [true, undefined],
    [true, 256],
  ] as const)('head-only commits: %s, chunks of %s bytes', (headOnlyCommits, chunkBytes) => {
    let s: Stores;
    let clock: ManualClock;
    beforeEach(async () => {
      await codecsReady();
      s = await open();
      clock = new ManualClock();
    });
    afterEach(async () => {
      await s.cleanup();
    });

    const engine = (objects: ObjectStore = s.objects) =>
      new LogEngine(s.meta, objects, clock, {
        leaseMs: LEASE,
        inlineMaxBytes: 256,
        headOnlyCommits,
        flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256, ...(chunkBytes !== undefined ? { chunkBytes } : {}) },
        retention: { deletionGraceMs: GRACE, orphanGraceMs: 60 * 60 * 1000, budgetMs: 60_000, partitionsPerRun: 100, segmentsPerStep: 100 },
      });

    async function produceMany(e: LogEngine, topic: string, n: number, from = 0, tag = 'rec'): Promise<void> {
      for (let i = from; i < from + n; i++) await e.produce(topic, [{ value: enc(`${tag}-${i}-${'p'.repeat(i % 40)}`), partition: 0 }]);
    }


    it('a flusher paused on its first segment create cannot cut the segment its successor extended', async () => {
      const gate = new Gate();
      const fo = faultyObjectStore(s.objects);
      const zombie = engine(fo);
      const successor = engine();
      await successor.createTopic('t', 1, { 'segment.bytes': 1 << 20 });
      await produceMany(successor, 't', 8);
      const topic = await successor.topics.get('t');

      fo.faults.add({ when: firstLogCreate, action: { kind: 'hang', gate } });
      const frozen = zombie.flushPartition(topic, 0).catch((err: unknown) => err);
      await gate.reached;

      // The successor watches the unrenewed lease for a whole duration, takes it (epoch 2) and
      // flushes more records into the same segment: the zombie's bytes are a prefix of it.
      expect((await successor.flushPartition(topic, 0)).skipped).toBe(true);
      clock.advance(LEASE + 1);
      await produceMany(successor, 't', 8, 8);
      const took = await successor.flushPartition(topic, 0);
      expect(took.skipped).toBe(false);
      expect((await successor.head(topic, 0)).leaderEpoch).toBe(2);
      expect((await successor.head(topic, 0)).flushed).toBe(16);
      const before = await partitionValues(successor, 't');
      expect(before).toHaveLength(16);

      // The zombie's create fails; it must not "adopt" the longer object by cutting it to its own length.
      gate.release();
      await frozen;
      expect(await partitionValues(engine(), 't')).toEqual(before);
      // And the partition keeps flushing.
      await produceMany(successor, 't', 4, 16);
      expect((await successor.flushPartition(topic, 0)).steps).toBeGreaterThan(0);
      expect(await partitionValues(engine(), 't')).toEqual([...before, ...(await partitionValues(successor, 't')).slice(16)]);
      expect(await partitionValues(engine(), 't')).toHaveLength(20);
    });

    it('a flusher paused across its topic’s deletion and re-creation cannot write into the new topic’s segments', async () => {
      const gate = new Gate();
      const fo = faultyObjectStore(s.objects);
      const zombie = engine(fo);
      const admin = engine();
      await admin.createTopic('re', 1, { 'segment.bytes': 1 << 20 });
      await produceMany(admin, 're', 8);
      const old = await admin.topics.get('re');

      fo.faults.add({ when: firstLogCreate, action: { kind: 'hang', gate } });
      const frozen = zombie.flushPartition(old, 0).catch((err: unknown) => err);
      await gate.reached;

      // Deleted, its data removed after the grace period (well inside the zombie's lease, so
      // its in-memory lease check still passes), re-created, written and flushed.
      await admin.deleteTopic('re');
      clock.advance(GRACE + 1);
      expect((await admin.retention.runOnce()).deletedTopics).toBe(1);
      await admin.createTopic('re', 1, { 'segment.bytes': 1 << 20 });
      await produceMany(admin, 're', 12, 0, 'new');
      const fresh = await admin.topics.get('re');
      expect(fresh.id).not.toBe(old.id);
      expect((await admin.flushPartition(fresh, 0)).steps).toBeGreaterThan(0);
      const before = await partitionValues(admin, 're');
      expect(before).toEqual(Array.from({ length: 12 }, (_, i) => `new-${i}-${'p'.repeat(i % 40)}`));

      gate.release();
      await frozen;
      const reader = engine();
      expect(await partitionValues(reader, 're')).toEqual(before);
      await produceMany(admin, 're', 3, 12, 'new');
      expect((await admin.flushPartition(fresh, 0)).steps).toBeGreaterThan(0);
      expect(await partitionValues(engine(), 're')).toEqual(Array.from({ length: 15 }, (_, i) => `new-${i}-${'p'.repeat(i % 40)}`));
    });
  });
}

describe('paused flusher on local storage', () => {
  suite(() => localStores('samsa-zombie-'));
});

describeAws('paused flusher on S3 + DynamoDB (emulator)', () => {
  suite(awsStores);
});
