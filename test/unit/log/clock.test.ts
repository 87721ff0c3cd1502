// Time that decides something comes from the injected Clock (lib/util/clock.ts), so it can be
// moved by hand: here the write-ahead age bound the orphan sweeper relies on, the sweeper's
// grace, and lease expiry, with no real waiting.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransactionConflictError } from '../../../lib/errors';
import { COMMIT_MAX_WAL_AGE_MS } from '../../../lib/log/commit';
import { LogEngine } from '../../../lib/log/engine';
import { walPrefix } from '../../../lib/log/keys';
import { codecsReady } from '../../../lib/records';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { faultyMetaStore } from '../../../lib/storage/faults';
import type { MetaStore, ObjectStore } from '../../../lib/storage/ports';
import { ManualClock } from '../../../lib/util/clock';
import { localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const LEASE = 30_000;

let stores: TestStores;
let meta: MetaStore;
let objects: ObjectStore;
let clock: ManualClock;

beforeEach(async () => {
  await codecsReady();
  stores = await localStores('samsa-clock-');
  ({ meta, objects } = stores);
  // Object stores stamp real time; the sweeper compares it with this clock.
  clock = new ManualClock(Date.now());
});
afterEach(async () => {
  await stores.cleanup();
});

describe('ManualClock', () => {
  it('ends a sleep only when moved past its deadline', async () => {
    let woke = false;
    const sleeping = clock.sleep(1000).then(() => (woke = true));
    clock.advance(999);
    await Promise.resolve();
    expect(woke).toBe(false);
    expect(clock.sleeping).toBe(1);
    clock.advance(1);
    await sleeping;
    expect(woke).toBe(true);
    expect(clock.sleeping).toBe(0);
  });
});

describe('time moved by hand', () => {
  it('a commit that stalls past the write-ahead age bound writes its object again, and the sweeper takes the stale one after its grace', async () => {
    // The first commit transaction "freezes" the process for longer than the age bound, then
    // fails retriably: the retry must not reference an object the sweeper may already judge.
    let frozen = false;
    const m = faultyMetaStore(meta, [
      {
        method: 'transact',
        when: () => {
          if (frozen) return false;
          frozen = true;
          clock.advance(COMMIT_MAX_WAL_AGE_MS + 1);
          return true;
        },
        action: { kind: 'fail', error: new TransactionConflictError('frozen, then lost') },
      },
    ]);
    const e = new LogEngine(m, objects, clock, { inlineMaxBytes: 64, leaseMs: LEASE, retention: DEFAULT_RETENTION_OPTIONS });
    await e.createTopic('t', 1);
    const topic = await e.topics.get('t');
    frozen = false;
    const value = 'w'.repeat(500); // past inlineMaxBytes: written ahead
    await e.produce('t', [{ value: enc(value), partition: 0 }]);
    expect(frozen).toBe(true);

    const wal = (await objects.list(walPrefix(topic.id))).objects.map((o) => o.key);
    expect(wal).toHaveLength(2); // the stale object, and the one written again for the retry
    const [extent] = (await e.reader.extentsFrom(topic, 0, 0, await e.head(topic, 0), 10)) ?? [];
    expect(extent?.obj).toBeDefined();
    const stale = wal.filter((k) => k !== extent!.obj);
    expect(stale).toHaveLength(1);

    // Within the grace nothing goes; past it the unreferenced object does, the committed one stays.
    clock.advance(DEFAULT_RETENTION_OPTIONS.orphanGraceMs - COMMIT_MAX_WAL_AGE_MS - 60_000);
    expect((await e.retention.runOnce()).sweptObjects).toBe(0);
    clock.advance(2 * 60_000 + COMMIT_MAX_WAL_AGE_MS);
    expect((await e.retention.runOnce()).sweptObjects).toBe(1);
    expect((await objects.list(walPrefix(topic.id))).objects.map((o) => o.key)).toEqual([extent!.obj]);
    const got = await e.fetch('t', 0, { offset: 0 });
    expect(new TextDecoder().decode(got.records()[0]!.value!)).toBe(value);
    await e.close();
  });

  it('a silent lease holder is taken over once the hand-moved clock passes the lease, never before', async () => {
    const opts = { leaseMs: LEASE, headOnlyCommits: true };
    const holder = new LogEngine(meta, objects, clock, opts);
    await holder.createTopic('t', 1);
    const topic = await holder.topics.get('t');
    expect('epoch' in (await holder.leases.acquire(topic, 0))).toBe(true);

    // Another process (its own lease manager) watching the same record version.
    const other = new LogEngine(meta, objects, clock, opts);
    expect(await other.leases.acquire(topic, 0)).toMatchObject({ busy: true });
    clock.advance(LEASE - 1);
    expect(holder.leases.stillHeld(topic, 0)).toBe(false); // the holder stops acting at 2/3
    expect(await other.leases.acquire(topic, 0)).toMatchObject({ busy: true });
    clock.advance(1);
    expect(await other.leases.acquire(topic, 0)).toEqual({ epoch: 2 });
    await other.close();
    await holder.close();
  });
});
