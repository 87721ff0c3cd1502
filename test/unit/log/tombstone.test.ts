// A process that still holds a deleted topic incarnation cannot write to it, read it, or flush
// it — not even after retention removed its data and the name was re-created (issue 11; the
// seven anomalies of the AWS history run, design note 0008). Two engines on one store stand
// for two processes: `stale` resolved the topic and its heads before the deletion and its
// clock stands still (a SIGSTOPped server: its topic cache never expires), `admin` deletes,
// lets retention remove the data, and re-creates the topic. Run on SQLite and on the emulator,
// with both commit shapes; every case fails on the code before tombstones (the stale write was
// acknowledged — into a log no route can read).
import { afterEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, localStores, type TestStores } from '../../helpers/stores';

const enc = new TextEncoder();
const dec = new TextDecoder();
const rec = (v: string, partition = 0) => ({ key: null, value: enc.encode(v), headers: [], partition });

function scenario(stores: () => Promise<TestStores>): void {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  describe.each([
    { mode: 'transactions', headOnlyCommits: false, itemCommits: false },
    { mode: 'head-only commits', headOnlyCommits: true, itemCommits: false },
    // Items mode (commit-items.ts): commits never write the head; the deletion's fence refuses them.
    { mode: 'items mode', headOnlyCommits: true, itemCommits: true },
  ])('$mode', ({ headOnlyCommits, itemCommits }) => {
    async function setup() {
      await codecsReady();
      const s = await stores();
      cleanups.push(s.cleanup);
      const frozen = new ManualClock(Date.now());
      const wall = new ManualClock(Date.now());
      const opts = { headOnlyCommits, itemCommits, eagerFlushDelayMs: undefined };
      const stale = new LogEngine(s.meta, s.objects, frozen, opts);
      const admin = new LogEngine(s.meta, s.objects, wall, opts);
      cleanups.push(() => stale.close(), () => admin.close());
      const topic = `tomb${Math.random().toString(36).slice(2, 8)}`;
      await admin.createTopic(topic, 2);
      // The stale process has used the topic: its registry and committer cache it.
      await stale.produce(topic, [rec('old-0'), rec('old-1'), rec('old-p1', 1)]);
      await stale.fetch(topic, 0, { offset: 0 });
      /** Delete; retention removes the data past the grace; create the name again. */
      const recreate = async (partitions: number): Promise<void> => {
        await admin.deleteTopic(topic);
        wall.advance(60_000);
        expect((await admin.retention.runOnce()).deletedTopics).toBe(1);
        await admin.createTopic(topic, partitions);
      };
      const values = async (engine: LogEngine, p = 0): Promise<string[]> =>
        (await engine.fetch(topic, p, { offset: 0 })).records().map((r) => dec.decode(r.value!));
      return { stale, admin, topic, recreate, values };
    }

    it('a write by a process holding the deleted incarnation is refused, not acknowledged into an unreadable log', async () => {
      const { stale, admin, topic, recreate, values } = await setup();
      await recreate(2);
      await admin.produce(topic, [rec('new-0')]);

      // Both partitions, at once (each resolved the name to the stale incarnation before either
      // was refused): one whose head the stale process cached, one it never committed to since
      // (its cached head is stale either way).
      const late = await Promise.allSettled([stale.produce(topic, [rec('zombie')]), stale.produce(topic, [rec('zombie-p1', 1)])]);
      for (const r of late) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'UNKNOWN_TOPIC_OR_PARTITION' } });

      // The live log is exactly what was written to it.
      expect(await values(admin)).toEqual(['new-0']);
      expect(await values(admin, 1)).toEqual([]);
      // The refusal dropped the stale topic: a retry writes to the live one.
      await stale.produce(topic, [rec('retried', 1)]);
      expect(await values(admin, 1)).toEqual(['retried']);
    });

    it('a deletion is fenced at once: a write that resolved the topic before the delete fails after it', async () => {
      const { stale, admin, topic } = await setup();
      await admin.deleteTopic(topic);
      // No retention pass yet, no re-creation: the tombstones alone refuse it, including on
      // a partition that was never written (its head did not exist before the deletion).
      await expect(stale.produce(topic, [rec('late')])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
    });

    it('a read by a process holding the deleted incarnation is refused, never served from either log', async () => {
      const { stale, admin, topic, recreate, values } = await setup();
      await recreate(2);
      await admin.produce(topic, [rec('new-0'), rec('new-1')]);
      await expect(stale.fetch(topic, 0, { offset: 0 })).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
      // The refusal dropped the stale topic: a retry reads the live one.
      expect(await values(stale)).toEqual(['new-0', 'new-1']);
    });
  });
}

describe('tombstones on the embedded store (SQLite + files)', () => scenario(() => localStores('samsa-tomb-')));
describeAws('tombstones on S3 + DynamoDB (emulator)', () => scenario(awsStores));
