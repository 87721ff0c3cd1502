// A flush pass (and a hand-off flush of one partition) has a deadline on the injected clock: it
// starts no step past it, hands back the lease of a partition it stopped in, says how far it got,
// and the next pass starts after where the last one stopped, so a backlog early in the topic
// list cannot keep the partitions behind it from being flushed. Each flush step here advances
// the clock by one second (its segment append), so "time" is counted in steps.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import type { Topic } from '../../../lib/log/topics';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { ManualClock } from '../../../lib/util/clock';
import { partitionRecords, steppingObjects } from '../../helpers/log';
import { localStores, type TestStores } from '../../helpers/stores';

beforeAll(codecsReady);

const STEP_MS = 1000;
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
});

const batch = (p: number, i: number) => encodeRecordBatch([{ value: new TextEncoder().encode(`p${p}-${i}`.padEnd(1024, '.')) }]);

/** An engine on fresh embedded stores whose clock moves STEP_MS at every segment .log write. */
async function engineWithSteppingClock(stores?: TestStores): Promise<{ engine: LogEngine; clock: ManualClock; stores: TestStores }> {
  const s = stores ?? (await localStores('samsa-flushdl-'));
  if (!stores) opened.push({ close: s.cleanup });
  const clock = new ManualClock(Date.now());
  const objects = steppingObjects(s.objects, clock, STEP_MS);
  // One 1 KiB batch per step: a partition's backlog of n batches takes n steps.
  const engine = new LogEngine(s.meta, objects, clock, { flush: { stepBytes: 1024, indexIntervalBytes: 4096 } });
  opened.push(engine);
  return { engine, clock, stores: s };
}

async function fill(engine: LogEngine, name: string, backlog: number[]): Promise<Topic> {
  await engine.createTopic(name, backlog.length);
  for (const [p, n] of backlog.entries()) for (let i = 0; i < n; i++) await engine.produceBatches(name, p, batch(p, i));
  return engine.topics.get(name);
}

const flushedOf = async (engine: LogEngine, topic: Topic) =>
  Promise.all(Array.from({ length: topic.partitions }, async (_, p) => (await engine.head(topic, p)).flushed));

/** Every partition holds exactly what was produced to it, at contiguous offsets from 0. */
async function expectIntact(engine: LogEngine, name: string, backlog: number[]): Promise<void> {
  for (const [p, n] of backlog.entries()) {
    const got = await partitionRecords(engine, name, p);
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(got.map((r) => r.value.replace(/\.+$/, ''))).toEqual(Array.from({ length: n }, (_, i) => `p${p}-${i}`));
  }
}

describe('flush pass deadline', () => {
  it('a pass without a deadline flushes everything and says it is complete', async () => {
    const { engine } = await engineWithSteppingClock();
    const topic = await fill(engine, 'all', [2, 3]);
    const stats = await engine.flushAll();
    expect(stats).toMatchObject({ complete: true, partitionsLeft: 0, steps: 5, batches: 5 });
    expect(await flushedOf(engine, topic)).toEqual([2, 3]);
  });

  it('stops starting steps at the deadline, hands the lease back, and says how far it got', async () => {
    const { engine, clock, stores } = await engineWithSteppingClock();
    const backlog = [6, 6, 6];
    const topic = await fill(engine, 'dl', backlog);
    // Steps start at +0, +1 s and +2 s; the one that would start at +3 s is past the deadline.
    const stats = await engine.flushAll({ deadline: clock.monotonic() + 2.5 * STEP_MS });
    expect(stats.steps).toBe(3);
    expect(stats.complete).toBe(false);
    // The partition it stopped in and the two it never reached.
    expect(stats.partitionsLeft).toBe(3);
    const flushed = await flushedOf(engine, topic);
    expect(flushed.reduce((a, b) => a + b, 0)).toBe(3);
    const stoppedIn = flushed.findIndex((f) => f > 0);
    // Its lease was handed back: another process takes it at once, without waiting it out.
    const other = new LogEngine(stores.meta, stores.objects, clock);
    const lease = await other.leases.acquire(topic, stoppedIn);
    expect(lease).toHaveProperty('epoch');
    await other.leases.release(topic, stoppedIn);
  });

  it('a pass cut short is resumed after where it stopped: every backlog is reached, nothing lost or doubled', async () => {
    const { engine, clock } = await engineWithSteppingClock();
    // One partition's backlog outlasts several passes; the others need one or two steps.
    const backlog = [10, 2, 1, 10, 2];
    const topic = await fill(engine, 'fair', backlog);
    const reached = new Set<number>();
    let passes = 0;
    let before = await flushedOf(engine, topic);
    for (;;) {
      passes++;
      const stats = await engine.flushAll({ deadline: clock.monotonic() + 2.5 * STEP_MS });
      expect(stats.steps).toBeLessThanOrEqual(3);
      const after = await flushedOf(engine, topic);
      after.forEach((f, p) => f > before[p]! && reached.add(p));
      before = after;
      // Within as many passes as there are partitions, every partition with a backlog has
      // been worked on (a pass that always began at the same place would still be on p0).
      if (passes === backlog.length) expect([...reached].sort()).toEqual([0, 1, 2, 3, 4]);
      if (stats.complete) break;
      expect(passes).toBeLessThan(20);
    }
    expect(await flushedOf(engine, topic)).toEqual(backlog);
    await expectIntact(engine, 'fair', backlog);
  });

  it('a hand-off flush of one partition stops at its deadline too, and the next one carries on', async () => {
    const { engine, clock, stores } = await engineWithSteppingClock();
    const topic = await fill(engine, 'one', [5]);
    const first = await engine.flushPartition(topic, 0, { deadline: clock.monotonic() + 1.5 * STEP_MS });
    expect(first).toMatchObject({ steps: 2, complete: false, skipped: false });
    const other = new LogEngine(stores.meta, stores.objects, clock);
    expect(await other.leases.acquire(topic, 0)).toHaveProperty('epoch');
    await other.leases.release(topic, 0);
    // Past the deadline already: no step, no lease taken.
    const none = await engine.flushPartition(topic, 0, { deadline: clock.monotonic() });
    expect(none).toMatchObject({ steps: 0, complete: false });
    const rest = await engine.flushPartition(topic, 0);
    expect(rest).toMatchObject({ steps: 3, complete: true });
    await expectIntact(engine, 'one', [5]);
  });
});
