// Partition leases and short-lived processes (issue 11 item 6): a job pass (`npm run job:*`, a
// scheduled Lambda) lives for one pass, so it never watches a lease for a whole duration. A
// holder that went silent — it kept its lease after flushing, or it was killed mid-flush —
// must not keep such passes from flushing and applying retention for more than two lease
// durations. Each "process" below is a fresh engine (its own LeaseManager, nothing observed).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { headKey } from '../../../lib/log/keys';
import { codecsReady } from '../../../lib/records';
import { faultyMetaStore, Gate } from '../../../lib/storage/faults';
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
  stores = await localStores('samsa-lease-');
  ({ meta, objects } = stores);
  clock = new ManualClock();
});
afterEach(async () => {
  await stores.cleanup();
});

/** A process as AWS mode runs it: many hosts, so no "owner is dead" shortcut. */
const process_ = (m: MetaStore = meta) =>
  new LogEngine(m, objects, clock, {
    leaseMs: LEASE,
    inlineMaxBytes: 256,
    headOnlyCommits: true,
    flush: { stepBytes: 2048, indexIntervalBytes: 256 },
    retention: { deletionGraceMs: 5_000, orphanGraceMs: 60 * 60 * 1000, budgetMs: 60_000, partitionsPerRun: 100, segmentsPerStep: 100 },
  });

async function produce(e: LogEngine, topic: string, n: number, from: number): Promise<void> {
  for (let i = from; i < from + n; i++) await e.produce(topic, [{ value: enc(`r${i}-${'x'.repeat(100)}`), partition: 0 }]);
}

/**
 * Fresh one-pass processes every quarter lease from now on, as a scheduler would start them;
 * returns the time (since the call) of the first whose pass did the work.
 */
async function firstPassThatWorks(pass: (e: LogEngine) => Promise<boolean>, limitMs: number): Promise<number | undefined> {
  const t0 = clock.now();
  for (let t = 0; t <= limitMs; t += LEASE / 4) {
    const job = process_();
    const worked = await pass(job);
    await job.close(); // a job hands its leases back when it exits
    if (worked) return clock.now() - t0;
    clock.advance(LEASE / 4);
  }
  return undefined;
}

describe('leases and one-pass processes', () => {
  it('a server that flushed and went quiet (kept its lease, never renews) does not block job:flush beyond two lease durations', async () => {
    const server = process_();
    await server.createTopic('t', 1);
    await produce(server, 't', 5, 0);
    const topic = await server.topics.get('t');
    expect((await server.flushPartition(topic, 0)).steps).toBeGreaterThan(0); // server holds the lease
    await produce(server, 't', 5, 5); // and has no reason to flush again for an hour

    const took = await firstPassThatWorks(async (job) => {
      const r = await job.flushPartition(topic, 0);
      return r.steps > 0;
    }, 3 * LEASE);
    expect(took, 'no one-pass process ever flushed').toBeDefined();
    expect(took!).toBeLessThanOrEqual(2 * LEASE);
    // Not before the holder could still be acting (two thirds of a duration after its renewal).
    expect(took!).toBeGreaterThan((2 * LEASE) / 3);
    const head = await server.head(topic, 0);
    expect(head.flushed).toBe(10);
    expect(head.leaderEpoch).toBe(2);

    // The server, waking up later, sees it lost the lease and does not act on it (epoch fence).
    await produce(server, 't', 2, 10);
    const back = await server.flushPartition(topic, 0);
    expect(back.skipped).toBe(false); // the job released it on exit: the server takes it anew
    expect((await server.head(topic, 0)).leaderEpoch).toBe(3);
  });

  it('a job killed mid-flush (lease never released) is recovered by later jobs within two lease durations, for flush and retention', async () => {
    const admin = process_();
    await admin.createTopic('t', 1, { 'segment.bytes': 600, 'retention.bytes': 1200 });
    await produce(admin, 't', 20, 0);
    const topic = await admin.topics.get('t');

    // The "killed" job: it takes the lease, then its first flush transaction never returns.
    const fm = faultyMetaStore(meta);
    const gate = new Gate();
    fm.faults.add({ method: 'transact', action: { kind: 'hang', gate } });
    const dead = process_(fm);
    void dead.flushPartition(topic, 0);
    await gate.reached;
    expect((await admin.head(topic, 0)).leaderEpoch).toBe(1);

    const flushedBy = await firstPassThatWorks(async (job) => (await job.flushPartition(topic, 0)).steps > 0, 3 * LEASE);
    expect(flushedBy, 'flush never recovered the lease').toBeDefined();
    expect(flushedBy!).toBeLessThanOrEqual(2 * LEASE);
    // Let flush finish and the segments close, then kill a retention job the same way.
    for (let i = 0; i < 5; i++) await process_().flushPartition(topic, 0).then(() => clock.advance(LEASE * 2));
    expect((await admin.head(topic, 0)).flushed).toBe(20);
    const fm2 = faultyMetaStore(meta);
    const gate2 = new Gate();
    const retentionJob = process_(fm2);
    // It takes the lease (an update of the head), then hangs on its log-start move.
    fm2.faults.add({ method: 'write', when: (c) => c.method === 'write' && c.args[0].type === 'update' && 'log_start' in (c.args[0].set ?? {}), action: { kind: 'hang', gate: gate2 } });
    void retentionJob.retention.runOnce();
    await gate2.reached;
    const startBefore = (await admin.head(topic, 0)).logStart;
    expect(startBefore).toBe(0);
    const retainedBy = await firstPassThatWorks(async (job) => (await job.retention.runOnce()).deletedSegments > 0, 3 * LEASE);
    expect(retainedBy, 'retention never recovered the lease').toBeDefined();
    expect(retainedBy!).toBeLessThanOrEqual(2 * LEASE);
    expect((await admin.head(topic, 0)).logStart).toBeGreaterThan(0);
  });

  it('a lease renewed in time is never taken, however many fresh processes look', async () => {
    const holder = process_();
    await holder.createTopic('t', 1);
    await produce(holder, 't', 3, 0);
    const topic = await holder.topics.get('t');
    await holder.flushPartition(topic, 0);
    for (let i = 0; i < 12; i++) {
      clock.advance(LEASE / 3);
      expect(await holder.leases.guard(topic, 0, 1).renew()).toBe(true);
      await produce(holder, 't', 1, 3 + i);
      const job = process_();
      expect((await job.flushPartition(topic, 0)).skipped).toBe(true);
    }
    expect((await holder.head(topic, 0)).leaderEpoch).toBe(1);
    const item = await meta.get(headKey(topic.id, 0));
    expect(item?.['lease_until']).toBe(clock.now() + LEASE);
  });
});
