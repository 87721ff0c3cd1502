// A topic deletion whose marking transaction applied but whose answer was lost (the store
// reported a failure, or the SDK retried it and the retry failed its condition). The caller
// retries the DELETE, and sees the topic gone. Every DELETE answer must come after the
// incarnation's partitions are tombstoned (design note 0007): otherwise a process still holding
// the topic kept acknowledging writes to it, all to be removed with it, until the retention job
// wrote the tombstones after its grace.
import { afterEach, describe, expect, it } from 'vitest';
import { SamsaError } from '../../../lib/errors';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { faultyMetaStore, type FaultAction } from '../../../lib/storage/faults';
import { ManualClock } from '../../../lib/util/clock';
import { localStores, type TestStores } from '../../helpers/stores';

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
