// A topic deletion whose marking transaction applied but whose answer was lost (the store
// reported a failure, or the SDK retried it and the retry failed its condition). The caller
// retries the DELETE, and sees the topic gone. Every DELETE answer must come after the
// incarnation's partitions are tombstoned (design note 0007): otherwise a process still holding
// the topic kept acknowledging writes to it, all to be removed with it, until the retention job
// wrote the tombstones after its grace.
import { afterEach, describe, expect, it } from 'vitest';
import { SamsaError, ThrottledError } from '../../../lib/errors';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { faultyMetaStore, type FaultAction } from '../../../lib/storage/faults';
import { TOPIC_DELETIONS_PK, topicDeletionDoneKey, topicKey } from '../../../lib/log/keys';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import type { MetaStore, WriteOp } from '../../../lib/storage/ports';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = new TextEncoder();
const rec = (v: string, partition = 0) => ({ key: null, value: enc.encode(v), headers: [], partition });

describe('a deletion whose marking lost its answer', () => {
  let s: TestStores | undefined;
  const engines: LogEngine[] = [];
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
    await s?.cleanup();
    s = undefined;
  });

  it.each<[string, FaultAction]>([
    ['applied, then reported failed', { kind: 'failAfter', error: new Error('socket hang up') }],
    ['applied, then retried by the SDK (the retry fails its condition)', { kind: 'repeat' }],
  ])('%s: the retried DELETE answers only once the partitions are tombstoned', async (_name, action) => {
    await codecsReady();
    s = await localStores('samsa-delete-lost-');
    const meta = faultyMetaStore(s.meta);
    // The process holding the topic: its cache never expires (its clock stands still).
    const holder = new LogEngine(s.meta, s.objects, new ManualClock(Date.now()), { headOnlyCommits: true });
    const admin = new LogEngine(meta, s.objects, undefined, { headOnlyCommits: true });
    engines.push(holder, admin);
    await admin.createTopic('doomed', 2);
    await holder.produce('doomed', [rec('before-0'), rec('before-1', 1)]);

    meta.faults.add({ method: 'transact', times: 1, action });
    let first: unknown;
    try {
      await admin.deleteTopic('doomed');
    } catch (err) {
      first = err;
    }
    meta.faults.clear();
    // The client retries what failed; a topic found marked is gone (404), but only after its
    // tombstones are down.
    if (first !== undefined) {
      const again = await admin.deleteTopic('doomed').then(() => undefined, (err: unknown) => err);
      if (again !== undefined) expect((again as SamsaError).code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    }
    // Was: acknowledged, offset 1 — a write into an incarnation its DELETE had answered for.
    for (const p of [0, 1]) {
      const late = await holder.produce('doomed', [rec('after', p)]).then(() => 'acknowledged', (err: SamsaError) => err.code);
      expect(late, `partition ${p}`).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    }
  });

  // The store applied the marking transaction and the SDK retried it on its own (a lost
  // answer): the retry fails its condition, and the DELETE, reading the topic again, finds it
  // gone. It was gone because of this very DELETE: the answer is that it deleted the topic, not
  // 404 "does not exist" (the client's deleteTopic threw, `samsa topics delete` exited 1 on a
  // topic it had deleted).
  it('a DELETE whose marking the SDK retried behind its back answers that it deleted the topic', async () => {
    await codecsReady();
    s = await localStores('samsa-delete-lost-');
    const meta = faultyMetaStore(s.meta);
    const holder = new LogEngine(s.meta, s.objects, new ManualClock(Date.now()), { headOnlyCommits: true });
    const admin = new LogEngine(meta, s.objects, undefined, { headOnlyCommits: true });
    engines.push(holder, admin);
    await admin.createTopic('doomed', 2);
    await holder.produce('doomed', [rec('before-0'), rec('before-1', 1)]);
    meta.faults.add({ method: 'transact', times: 1, action: { kind: 'repeat' } });
    await expect(admin.deleteTopic('doomed')).resolves.toBeUndefined();
    expect(meta.faults.fired(0)).toBe(1);
    await expect(admin.topics.find('doomed', { fresh: true })).resolves.toBeUndefined();
    for (const p of [0, 1]) {
      const late = await holder.produce('doomed', [rec('after', p)]).then(() => 'acknowledged', (err: SamsaError) => err.code);
      expect(late, `partition ${p}`).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    }
    // A DELETE of a topic that is not there is still 404.
    await expect(admin.deleteTopic('doomed')).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION' });
  });
});

// The SDK sends a transaction again when its answer did not come (DynamoDB transactions here
// carry no idempotency token): the first send applied, the second fails its condition. Between
// the two, seconds may pass (the SDK waits out its request timeout), and since a deleted name is
// free at once, another client may create the name in that time.
function sentTwice(inner: MetaStore, match: (ops: WriteOp[]) => boolean, meanwhile: () => Promise<void>): MetaStore {
  let fired = false;
  const transact = async (ops: WriteOp[]): Promise<void> => {
    if (fired || !match(ops)) return inner.transact(ops);
    fired = true;
    await inner.transact(ops);
    await meanwhile();
    return inner.transact(ops);
  };
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'transact') return transact;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The DELETE's first write: its topic item marked "deleting". */
const marking = (name: string) => (ops: WriteOp[]) => ops.some((op) => op.type === 'update' && op.key.pk === topicKey(name).pk && op.key.sk === topicKey(name).sk);

function recreatedDuringRetry(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'lostmark');
  // `pass`: a retention pass also ran in between, past the deletion grace, and finished the
  // deletion, its marker with it. The SDK sends again only after its socket timeout (30 s by
  // default, lib/storage/aws-clients.ts), well past the 5 s grace after which a pass (the
  // schedule, or another deletion's hand-off on Lambda) removes the marker the DELETE's token is in.
  for (const [byId, pass] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`a DELETE ${byId ? '?topic_id=' : 'by name'} whose marking the SDK sent again after another client created the name${pass ? ' and a pass finished the deletion' : ''}: deletes only the topic it found, and says it did`, async () => {
      const s = await setup();
      const clock = new ManualClock(Date.now());
      const other = closing(new LogEngine(s.meta, s.objects, clock, { headOnlyCommits: true }));
      let created: string | undefined;
      const meta = sentTwice(s.meta, marking(s.name), async () => {
        created = (await other.createTopic(s.name, 1)).id;
        await other.produce(s.name, [rec('new-0')]);
        if (pass) {
          clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
          expect((await other.retention.runDeletions()).deletedTopics).toBe(1);
        }
      });
      const admin = closing(new LogEngine(meta, s.objects, clock, { headOnlyCommits: true }));
      const old = await admin.createTopic(s.name, 1);
      await admin.produce(s.name, [rec('old-0')]);

      // Was, by name: 204 after deleting the new topic too (the retry after the failed condition
      // read the name again and marked whatever held it). With ?topic_id=: 404 "does not exist"
      // for the topic this DELETE had deleted.
      await expect(admin.deleteTopic(s.name, byId ? { topicId: old.id } : {})).resolves.toBeUndefined();
      expect(created).toBeDefined();
      const now = await other.topics.find(s.name, { fresh: true });
      expect(now?.id).toBe(created);
      const values = (await other.fetch(s.name, 0, { offset: 0, maxRecords: 10 })).records().map((r) => new TextDecoder().decode(r.value ?? new Uint8Array(0)));
      expect(values).toEqual(['new-0']);
      await expect(other.produce(s.name, [rec('new-1')])).resolves.toBeDefined();
    });
  }

  // The same lost answer, and the read that looks for this DELETE's own marker fails too (a
  // throttled read the SDK gave up on). That read cannot say the marking was not this DELETE's:
  // taken as "another's", the DELETE read the name again and marked the topic created under it.
  // (With ?topic_id= the retry refuses any other incarnation, and finds its own marker.)
  it('a DELETE by name whose marking the SDK sent again after a create of the name, and whose look for its own marker failed: deletes only the topic it found', async () => {
    const s = await setup();
    const other = closing(new LogEngine(s.meta, s.objects, undefined, { headOnlyCommits: true }));
    let created: string | undefined;
    const twice = sentTwice(s.meta, marking(s.name), async () => {
      created = (await other.createTopic(s.name, 1)).id;
      await other.produce(s.name, [rec('new-0')]);
    });
    const meta = faultyMetaStore(twice);
    const admin = closing(new LogEngine(meta, s.objects, undefined, { headOnlyCommits: true }));
    await admin.createTopic(s.name, 1);
    await admin.produce(s.name, [rec('old-0')]);
    meta.faults.add({ method: 'get', when: (c) => c.method === 'get' && c.args[0].pk === TOPIC_DELETIONS_PK, action: { kind: 'fail', error: new ThrottledError('read throttled') } });

    // Was: 204 after deleting the new topic too (the failed read counted as "another DELETE's
    // marking", and the retry read the name again and marked what held it).
    await expect(admin.deleteTopic(s.name)).resolves.toBeUndefined();
    expect(meta.faults.fired(0)).toBe(1);
    expect(created).toBeDefined();
    const now = await other.topics.find(s.name, { fresh: true });
    expect(now?.id).toBe(created);
    const values = (await other.fetch(s.name, 0, { offset: 0, maxRecords: 10 })).records().map((r) => new TextDecoder().decode(r.value ?? new Uint8Array(0)));
    expect(values).toEqual(['new-0']);
    await expect(other.produce(s.name, [rec('new-1')])).resolves.toBeDefined();
  });

  // A rolling deploy: the pass that finished the deletion was one of the build before the
  // done record (topic-deletions-done), which removes the marker and keeps no token. The DELETE
  // then finds neither: it cannot tell its own marking, and must not take it for another's.
  it("a DELETE by name whose marking the SDK sent again after a create of the name and a previous build's pass finished the deletion: deletes only the topic it found", async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const other = closing(new LogEngine(s.meta, s.objects, clock, { headOnlyCommits: true }));
    let created: string | undefined;
    const deleting: { id?: string } = {};
    const meta = sentTwice(s.meta, marking(s.name), async () => {
      created = (await other.createTopic(s.name, 1)).id;
      await other.produce(s.name, [rec('new-0')]);
      clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
      expect((await other.retention.runDeletions()).deletedTopics).toBe(1);
      // What that build's last transaction leaves: no record of the DELETE's token.
      await s.meta.write({ type: 'delete', key: topicDeletionDoneKey(deleting.id!) });
    });
    const admin = closing(new LogEngine(meta, s.objects, clock, { headOnlyCommits: true }));
    deleting.id = (await admin.createTopic(s.name, 1)).id;
    await admin.produce(s.name, [rec('old-0')]);

    // Was: 204 after deleting the new topic too. Now 404 (the DELETE cannot tell that the topic
    // it found is gone by its own doing), the new topic left alone.
    const outcome = await admin.deleteTopic(s.name).then(() => 'deleted', (err: SamsaError) => err.code);
    expect(['deleted', 'UNKNOWN_TOPIC_OR_PARTITION']).toContain(outcome);
    expect(created).toBeDefined();
    const now = await other.topics.find(s.name, { fresh: true });
    expect(now?.id).toBe(created);
    const values = (await other.fetch(s.name, 0, { offset: 0, maxRecords: 10 })).records().map((r) => new TextDecoder().decode(r.value ?? new Uint8Array(0)));
    expect(values).toEqual(['new-0']);
    await expect(other.produce(s.name, [rec('new-1')])).resolves.toBeDefined();
  });
}

describe('a DELETE whose marking was sent twice around a create of the name, on SQLite + local files', () => recreatedDuringRetry(() => localStores('samsa-delete-lost-')));
describeAws('a DELETE whose marking was sent twice around a create of the name, on S3 + DynamoDB (emulator)', () => recreatedDuringRetry(awsStores));
