// The `.index` lookups a streamed fetch plans with: `positionBefore` finds, for a byte limit, a
// batch start from which at least one whole batch ends within the limit (the entry before the
// last one at or before it), checked against a linear scan on generated indexes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../../helpers/fast-check';
import { encodeIndexEntries, lookupOffset, positionBefore } from '../../../lib/log/segment-index';

/** Sorted, strictly increasing index entries (offsets and positions), as a flush writes them. */
const entries = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 10_000 })), { maxLength: 60 })
  .map((steps) => {
    let rel = 0;
    let position = 0;
    return steps.map(([dOff, dPos], i) => {
      if (i > 0) {
        rel += dOff;
        position += dPos;
      }
      return { relOffset: rel, position };
    });
  });

describe('positionBefore', () => {
  it('is the position of the entry before the last one at or before the limit (linear scan)', () => {
    fc.assert(
      fc.property(entries, fc.integer({ min: -10, max: 700_000 }), (es, limit) => {
        const atOrBefore = es.filter((e) => e.position <= limit);
        const want = atOrBefore.length >= 2 ? atOrBefore[atOrBefore.length - 2]!.position : undefined;
        expect(positionBefore(encodeIndexEntries(es), limit)).toBe(want);
      }),
    );
  });

  it('leaves a whole index interval between the jump and the limit', () => {
    const index = encodeIndexEntries([0, 4096, 8192, 12288].map((position, i) => ({ relOffset: i * 10, position })));
    expect(positionBefore(index, 12_000)).toBe(4096); // the batch at 4096 ends by 8192 ≤ 12,000
    expect(positionBefore(index, 8192)).toBe(4096);
    expect(positionBefore(index, 8191)).toBe(0);
    expect(positionBefore(index, 4095)).toBeUndefined();
    expect(lookupOffset(index, 25)).toEqual({ relOffset: 20, position: 8192 });
  });
});
