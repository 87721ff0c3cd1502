// The flush function's handler (functions/flush.ts) on the embedded stores, with a fake Lambda
// context: its pass ends before the function's timeout would kill it, by the context's remaining
// time less a margin for one step, and it still writes its EMF metrics line and report, which
// say whether the pass got round every partition. Each flush step advances the clock 20 s.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { flushHandler } from '../../../lib/runtime/lambda/flush-handler';
import { ManualClock } from '../../../lib/util/clock';
import { partitionRecords, steppingObjects } from '../../helpers/log';
import { localStores, type TestStores } from '../../helpers/stores';

beforeAll(codecsReady);

const STEP_MS = 20_000;
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
});

const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs });

async function setup(backlog: number[]): Promise<{ engine: LogEngine; stores: TestStores; handler: ReturnType<typeof flushHandler>; lines: string[] }> {
  await codecsReady();
  const stores = await localStores('samsa-flushfn-');
  opened.push({ close: stores.cleanup });
  const clock = new ManualClock(Date.now());
  const objects = steppingObjects(stores.objects, clock, STEP_MS);
  // A lease far longer than the slow steps, so that only the deadline stops the pass.
  const engine = new LogEngine(stores.meta, objects, clock, { flush: { stepBytes: 1024, indexIntervalBytes: 4096 }, leaseMs: 3_600_000 });
  opened.push(engine);
  await engine.createTopic('t', backlog.length);
  for (const [p, n] of backlog.entries()) {
    for (let i = 0; i < n; i++) await engine.produceBatches('t', p, encodeRecordBatch([{ value: new TextEncoder().encode(`p${p}-${i}`.padEnd(1024, '.')) }]));
  }
  const lines: string[] = [];
  const handler = flushHandler({ engine, groups: new GroupCoordinator(engine.meta, engine), table: 'tbl', write: (l) => void lines.push(l) });
  return { engine, stores, handler, lines };
}

const emf = (lines: string[]) => {
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
};

describe('flush function: a pass that would outlive the invocation', () => {
  it('stops before the timeout, writes its metrics and a report saying it is incomplete, and hands the lease back', async () => {
    const { engine, stores, handler, lines } = await setup([8, 8]);
    // Four steps' worth of time left in the invocation: the pass must leave room for one step
    // to finish, so it starts fewer than four, and far fewer than the 16 the backlog needs.
    const out = await handler({}, context(4 * STEP_MS));
    expect(out['complete']).toBe(false);
    expect(out['steps']).toBeGreaterThanOrEqual(1);
    expect(out['steps']).toBeLessThan(4);
    expect(out['partitionsLeft']).toBeGreaterThanOrEqual(1);
    expect(out['unflushedRecords']).toBe(16 - (out['steps'] as number));
    const m = emf(lines);
    expect(m['UnflushedRecords']).toBe(16 - (out['steps'] as number));
    expect(m['FlushedBytes']).toBe(out['bytes']);
    // Nothing of this pass keeps a lease: another process flushes at once.
    const topic = await engine.topics.get('t');
    const other = new LogEngine(stores.meta, stores.objects, engine.clock);
    for (const p of [0, 1]) {
      expect(await other.leases.acquire(topic, p)).toHaveProperty('epoch');
      await other.leases.release(topic, p);
    }
  });

  it('with less time left than one step needs, starts none but still reports and writes its metrics', async () => {
    const { handler, lines } = await setup([3]);
    const out = await handler({}, context(1000));
    expect(out).toMatchObject({ complete: false, steps: 0, partitionsLeft: 1, unflushedRecords: 3 });
    expect(emf(lines)['UnflushedRecords']).toBe(3);
  });

  it('passes cut short one after another flush everything, and the records read back whole', async () => {
    const { engine, handler, lines } = await setup([5, 1, 5]);
    let out: Record<string, unknown> = {};
    for (let pass = 0; pass < 20 && out['complete'] !== true; pass++) out = await handler({}, context(4 * STEP_MS));
    expect(out['complete']).toBe(true);
    expect(out['unflushedRecords']).toBe(0);
    expect(lines.length).toBeGreaterThan(1);
    for (const [p, n] of [5, 1, 5].entries()) {
      const got = await partitionRecords(engine, 't', p);
      expect(got.map((r) => r.offset)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(got.map((r) => r.value.replace(/\.+$/, ''))).toEqual(Array.from({ length: n }, (_, i) => `p${p}-${i}`));
    }
  });

  it('a hand-off of one busy partition stops before the timeout too, and says so', async () => {
    const { engine, handler } = await setup([8]);
    const topic = await engine.topics.get('t');
    const out = await handler({ samsa: 'flush', topic: 't', topic_id: topic.id, partition: 0 }, context(4 * STEP_MS));
    expect(out).toMatchObject({ job: 'flush', topic: 't', partition: 0, complete: false, skipped: false });
    expect(out['steps']).toBeGreaterThanOrEqual(1);
    expect(out['steps']).toBeLessThan(4);
  });
});

describe('flush function: the scheduled pass report', () => {
  // The report merged the pass's stats with the lag measurement, and the lag's `partitions`
  // (every partition) overwrote the pass's (the partitions it flushed), which `npm run
  // job:flush` and the embedded job loop report under the same name.
  it('says how many partitions the pass flushed, and how many there are, under different names', async () => {
    const { handler } = await setup([2, 0, 3]);
    const out = await handler({});
    expect(out).toMatchObject({ complete: true, partitions: 2, partitionsTotal: 3, unflushedRecords: 0 });
  });
});

describe('flush function: leases after an invocation', () => {
  // Lambda freezes an instance between invocations. A lease it still holds then stops every
  // other instance from flushing that partition until it expires (a hand-off of a busy
  // partition to another instance is skipped), so an invocation hands back what it holds.
  it('a complete scheduled pass and a hand-off leave no partition leased', async () => {
    const { engine, handler } = await setup([2, 3]);
    expect(await handler({}, context(3_600_000))).toMatchObject({ complete: true });
    const topic = await engine.topics.get('t');
    await engine.produceBatches('t', 1, encodeRecordBatch([{ value: new TextEncoder().encode('more') }]));
    expect(await handler({ samsa: 'flush', topic: 't', topic_id: topic.id, partition: 1 }, context(3_600_000))).toMatchObject({ complete: true, skipped: false });
    const other = new LogEngine(engine.meta, engine.objects, engine.clock);
    for (const p of [0, 1]) {
      expect(await other.leases.acquire(topic, p), `partition ${p}`).toHaveProperty('epoch');
      await other.leases.release(topic, p);
    }
  });
});
