// The batch-frame walker every reader of stored bytes uses (lib/records/frames.ts): on any
// concatenation of batches it finds what the validating splitter finds, and on a buffer a
// range read cut anywhere it yields only what the buffer holds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes } from '../../../lib/util/bytes.js';
import { BATCH_HEADER_SIZE, batchFrames, batchSizeAt, encodeRecordBatch, splitBatches, wholeBatchBytes } from '../../../lib/records/index.js';
import { records } from './arbitraries.js';

const batches = fc.array(fc.tuple(records, fc.integer({ min: 0, max: 2 ** 40 })), { minLength: 1, maxLength: 6 }).map((bs) => concatBytes(bs.map(([recs, base]) => encodeRecordBatch(recs, { baseOffset: base }))));

describe('batchFrames', () => {
  it('walks the same batches as splitBatches, with their offsets', () => {
    fc.assert(
      fc.property(batches, (buf) => {
        const frames = [...batchFrames(buf)];
        const slices = splitBatches(buf);
        expect(frames.map((f) => [f.start, f.end, f.baseOffset, f.lastOffset])).toEqual(slices.map((s) => [s.start, s.end, s.header.baseOffset, s.header.baseOffset + s.header.lastOffsetDelta]));
        expect(wholeBatchBytes(buf)).toBe(buf.length);
        for (const f of frames) expect(batchSizeAt(buf, f.start)).toBe(f.end - f.start);
      }),
      { numRuns: 100 },
    );
  });

  it('on a buffer cut anywhere: whole frames only, or every frame whose header is held', () => {
    fc.assert(
      fc.property(batches, fc.nat(), (buf, at) => {
        const cut = buf.subarray(0, at % (buf.length + 1));
        const all = [...batchFrames(buf)];
        const whole = [...batchFrames(cut)];
        expect(whole).toEqual(all.filter((f) => f.end <= cut.length));
        expect(wholeBatchBytes(cut)).toBe(whole.at(-1)?.end ?? 0);
        const headers = [...batchFrames(cut, { headersOnly: true })];
        expect(headers.map((f) => f.start)).toEqual(all.filter((f) => f.start + BATCH_HEADER_SIZE <= cut.length).map((f) => f.start));
      }),
      { numRuns: 100 },
    );
  });

  it('stops at a length field it cannot read or that is negative', () => {
    expect(batchSizeAt(new Uint8Array(11))).toBeUndefined();
    const neg = new Uint8Array(70);
    new DataView(neg.buffer).setInt32(8, -1);
    expect(batchSizeAt(neg)).toBeUndefined();
    expect([...batchFrames(neg)]).toEqual([]);
    expect(wholeBatchBytes(neg)).toBe(0);
  });
});
