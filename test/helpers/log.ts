// Reading a whole partition back through the engine, for engine-level tests that check what a
// log holds after faults: every offset from 0 to the high watermark, contiguous.
import { expect } from 'vitest';
import type { LogEngine } from '../../lib/log/engine';
import { COMMIT_ITEM_END, COMMIT_ITEM_PREFIX, partitionPk } from '../../lib/log/keys';
import { faultyObjectStore } from '../../lib/storage/faults';
import type { MetaItem, MetaStore, ObjectStore } from '../../lib/storage/ports';
import type { ManualClock } from '../../lib/util/clock';

const decoder = new TextDecoder();

/** Partition 0's values as text, in offset order, asserting the offsets have no hole. */
export async function partitionValues(e: LogEngine, topic: string): Promise<string[]> {
  const out: string[] = [];
  let offset = 0;
  for (;;) {
    const r = await e.fetch(topic, 0, { offset, maxRecords: 10_000, maxBytes: 64 << 20 });
    const recs = r.records();
    recs.forEach((rec, i) => {
      expect(rec.offset).toBe(offset + i);
      out.push(rec.value ? decoder.decode(rec.value) : '');
    });
    if (recs.length === 0 || r.nextOffset >= r.highWatermark) return out;
    offset = r.nextOffset;
  }
}

/** A partition's commit items (items mode, design note 0010) as stored, in offset order. */
export async function commitItems(meta: MetaStore, topicId: string, partition = 0): Promise<MetaItem[]> {
  const out: MetaItem[] = [];
  let startAfter: string | undefined;
  do {
    const page = await meta.query({ pk: partitionPk(topicId, partition), gte: COMMIT_ITEM_PREFIX, lt: COMMIT_ITEM_END, startAfter, limit: 500 });
    out.push(...page.items);
    startAfter = page.next;
  } while (startAfter);
  return out;
}

/** Every record of a partition, in offset order, with its offset and its value as text. */
export async function partitionRecords(engine: LogEngine, topic: string, partition: number): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = [];
  let offset = 0;
  for (;;) {
    const r = await engine.fetch(topic, partition, { offset, maxRecords: 10_000, maxBytes: 64 << 20 });
    const recs = r.records();
    for (const rec of recs) out.push({ offset: rec.offset, value: rec.value ? decoder.decode(rec.value) : '' });
    if (recs.length === 0 || r.nextOffset >= r.highWatermark) break;
    offset = r.nextOffset;
  }
  return out;
}

/**
 * `objects`, with `clock` moved on `stepMs` at every append to a segment's `.log`: one flush
 * step each, so a test with a deadline counts time in steps.
 */
export function steppingObjects(objects: ObjectStore, clock: ManualClock, stepMs: number): ObjectStore {
  return faultyObjectStore(objects, [
    {
      method: 'append',
      when: (c) => {
        if (String(c.args[0]).endsWith('.log')) clock.advance(stepMs);
        return false;
      },
      action: { kind: 'fail', error: new Error('never') },
    },
  ]);
}
