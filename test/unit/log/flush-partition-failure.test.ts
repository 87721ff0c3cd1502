// One partition whose flush fails (its segment writes refused, a corrupt extent) must not stop a
// flush pass from flushing the others. The pass aborted at the first error, and every pass walks
// the partitions in the same order (the embedded job loop's engine lives on, and its cursor moves
// only when a deadline cuts a pass), so a partition failing for good starved every partition
// after it. Now the pass counts it in `failedPartitions`, logs it, and carries on, as retention
// does; the next pass retries it.
import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { flushHandler } from '../../../lib/runtime/lambda/flush-handler';
import { faultyObjectStore } from '../../../lib/storage/faults';
import { partitionRecords } from '../../helpers/log';
import { localStores } from '../../helpers/stores';

beforeAll(codecsReady);
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
  vi.restoreAllMocks();
});

it('a pass flushes every other partition when one fails, and reports the failure', async () => {
  const stores = await localStores('samsa-flushfail-');
  opened.push({ close: stores.cleanup });
  let broken = true;
  // Every segment file write of partition 1 fails while `broken` (keys: <topic dir>/<partition>/<base>.<ext>).
  const segmentOf1 = (key: unknown) => broken && /\/1\/(chunks\/)?[\d+]+\.(log|index|timeindex)$/.test(String(key));
  const objects = faultyObjectStore(stores.objects, [
    { method: 'append', when: (c) => segmentOf1(c.args[0]), times: Infinity, action: { kind: 'fail', error: new Error('disk on fire') } },
    { method: 'put', when: (c) => segmentOf1(c.args[0]), times: Infinity, action: { kind: 'fail', error: new Error('disk on fire') } },
  ]);
  const engine = new LogEngine(stores.meta, objects, undefined, { flush: { stepBytes: 4096, indexIntervalBytes: 4096 } });
  opened.push(engine);
  await engine.createTopic('t', 3);
  for (const p of [0, 1, 2]) for (let i = 0; i < 3; i++) await engine.produceBatches('t', p, encodeRecordBatch([{ value: new TextEncoder().encode(`p${p}-${i}`) }]));
  const errors = vi.spyOn(console, 'error').mockImplementation(() => {});

  // Several passes: whichever partition a pass starts at, the failing one never blocks the rest.
  for (let pass = 0; pass < 3; pass++) {
    const stats = await engine.flushAll();
    expect(stats.failedPartitions).toBe(1);
  }
  expect(errors.mock.calls.some((c) => String(c[0]).includes('t/1'))).toBe(true);
  const topic = await engine.topics.get('t');
  for (const p of [0, 2]) {
    const head = await engine.head(topic, p);
    expect(head.flushed, `partition ${p}`).toBe(3);
  }
  expect((await engine.head(topic, 1)).flushed).toBe(0);

  // The flush function still writes its metrics, then fails the invocation so its Errors alarm sees it.
  const lines: string[] = [];
  const handler = flushHandler({ engine, groups: new GroupCoordinator(engine.meta, engine), table: 'tbl', write: (l) => void lines.push(l) });
  await expect(handler({})).rejects.toThrow('flush of 1 partition(s) failed');
  expect(JSON.parse(lines[0]!)['UnflushedRecords']).toBe(3);

  // Mended, the next pass flushes it, and every record reads back once, in order.
  broken = false;
  expect((await engine.flushAll()).failedPartitions).toBe(0);
  expect((await engine.head(topic, 1)).flushed).toBe(3);
  for (const p of [0, 1, 2]) expect((await partitionRecords(engine, 't', p)).map((r) => r.value)).toEqual([0, 1, 2].map((i) => `p${p}-${i}`));
});
