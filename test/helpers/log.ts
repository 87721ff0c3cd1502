// Reading a whole partition back through the engine, for engine-level tests that check what a
// log holds after faults: every offset from 0 to the high watermark, contiguous.
import { expect } from 'vitest';
import type { LogEngine } from '../../lib/log/engine';

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
