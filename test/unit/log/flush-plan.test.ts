// The flush step's plan on plain data (lib/log/flush-plan.ts): how batches are packed into
// segments, where a step stops, and which writes commit it — no store involved.
import { describe, expect, it } from 'vitest';
import { deadWalObjects, type PackOptions, StepPacker, stepWrites } from '../../../lib/log/flush-plan';
import type { Extent, Segment } from '../../../lib/log/model';
import type { BatchInfo } from '../../../lib/log/reader';

const opts: PackOptions = { stepBytes: 1000, indexIntervalBytes: 150, maxSegments: 20, segmentBytes: 400, segmentMs: 60_000 };

/** An extent of `sizes.length` one-record batches from `base`, their bytes numbered by offset. */
function extent(base: number, sizes: number[], kind: Extent['kind'] = 'inline', obj?: string): { e: Extent; bytes: Uint8Array; batches: BatchInfo[] } {
  const batches: BatchInfo[] = [];
  let pos = 0;
  sizes.forEach((len, i) => {
    batches.push({ start: pos, end: pos + len, base: base + i, last: base + i, maxTs: 1000 + base + i, count: 1 });
    pos += len;
  });
  const bytes = new Uint8Array(pos);
  for (const b of batches) bytes.fill(b.base % 256, b.start, b.end);
  const e: Extent = { sk: 'x', base, last: base + sizes.length - 1, kind, pos: 0, len: pos, wb: base, maxTs: 0, ...(obj ? { obj } : {}) };
  return { e, bytes, batches };
}

const open = (over: Partial<Segment> = {}): Segment => ({
  base: 0, last: 1, size: 200, indexSize: 0, timeIndexSize: 0, maxTs: 1001, maxTsOffset: 1, sinceIndex: 200, timeIndexTs: -1,
  createdAt: 0, closed: false, etags: { log: '"a"' }, ...over,
});

describe('flush step plan', () => {
  it('continues the open segment, rolls at segment.bytes, and indexes every index.interval.bytes', () => {
    const p = new StepPacker(open(), 1000, opts);
    const x = extent(2, [100, 100, 100]);
    expect(p.add(x.e, x.bytes, x.batches)).toBe(true);
    const plan = p.plan()!;
    expect(plan.segments.map((s) => [s.seg.base, s.seg.last, s.seg.size, s.isNew, s.seg.closed])).toEqual([
      [0, 3, 400, false, true], // 200 + 2 × 100 reaches segment.bytes: closed by the roll
      [4, 4, 100, true, false],
    ]);
    // The open segment had 200 bytes since its last index entry (> 150): the first batch added gets one.
    expect(plan.segments[0]!.index).toEqual([{ relOffset: 2, position: 200 }]);
    expect(plan.segments[0]!.timeIndex).toEqual([{ timestamp: 1002, relOffset: 2 }]);
    expect(plan.segments[0]!.extents).toEqual([{ base: 2, last: 3, pos: 200, len: 200, maxTs: 1003 }]);
    expect(plan).toMatchObject({ newFlushed: 5, bytes: 300, batches: 3, consumed: [x.e] });
    expect(plan.remainder).toBeUndefined();
  });

  it('rolls an open segment older than segment.ms, and starts one when the last is closed', () => {
    expect(new StepPacker(open({ createdAt: 0 }), 60_000, opts).add(extent(2, [10]).e, extent(2, [10]).bytes, extent(2, [10]).batches)).toBe(true);
    const aged = new StepPacker(open({ createdAt: 0 }), 60_000, opts);
    const x = extent(2, [10]);
    aged.add(x.e, x.bytes, x.batches);
    expect(aged.plan()!.segments.map((s) => [s.seg.base, s.isNew, s.seg.closed])).toEqual([
      [0, false, true],
      [2, true, false],
    ]);
    const afterClosed = new StepPacker(open({ closed: true }), 0, opts);
    afterClosed.add(x.e, x.bytes, x.batches);
    expect(afterClosed.plan()!.segments.map((s) => [s.seg.base, s.isNew])).toEqual([[2, true]]);
  });

  it('stops at stepBytes inside an extent, keeping the rest as a remainder page, and frees only wholly moved objects', () => {
    const p = new StepPacker(undefined, 0, { ...opts, segmentBytes: 10_000 });
    const a = extent(0, [400, 400], 'wal', 'wal/t/0/a');
    const b = extent(2, [100, 300, 300], 'wal', 'wal/t/0/b');
    expect(p.add(a.e, a.bytes, a.batches)).toBe(true);
    expect(p.add(b.e, b.bytes, b.batches)).toBe(false); // 800 + 100 fits, + 300 does not
    const plan = p.plan()!;
    expect(plan).toMatchObject({ bytes: 900, batches: 3, newFlushed: 3, consumed: [a.e] });
    expect(plan.remainder?.batches.map((x) => x.base)).toEqual([3, 4]);
    expect(deadWalObjects(plan)).toEqual(['wal/t/0/a']);

    const ops = stepWrites({ id: 'id', name: 't' }, 0, 0, 7, plan);
    const head = ops.find((o) => o.type === 'update')!;
    expect(head).toMatchObject({ set: { flushed: 3 }, condition: { op: 'and', conds: [expect.anything(), { op: 'eq', attr: 'leader_epoch', value: 7 }, { op: 'attrNotExists', attr: 'deleted' }] } });
    const page = ops.find((o) => o.type === 'put' && o.item.sk.startsWith('x#'));
    // The remainder page points into the same object past the moved batches, at their original offsets.
    expect(page).toMatchObject({ item: { base: 3, last: 4, exts: [{ base: 3, last: 4, kind: 'wal', obj: 'wal/t/0/b', pos: 100, len: 600, wb: 3 }] } });
    expect(ops.filter((o) => o.type === 'put' && o.item.sk.startsWith('sx#')).map((o) => (o.type === 'put' ? [o.item['base'], o.item['last']] : []))).toEqual([[0, 2]]);
    expect(ops.find((o) => o.type === 'put' && o.item.sk.startsWith('seg#'))).toMatchObject({ condition: { op: 'notExists' } });
  });

  it('stops before a roll past maxSegments, and plans nothing when nothing moved', () => {
    const p = new StepPacker(undefined, 0, { ...opts, segmentBytes: 100, maxSegments: 2 });
    const x = extent(0, [100, 100, 100]);
    expect(p.add(x.e, x.bytes, x.batches)).toBe(false);
    const plan = p.plan()!;
    expect(plan.segments.map((s) => s.seg.base)).toEqual([0, 1]);
    expect(plan.remainder?.batches.map((b) => b.base)).toEqual([2]);
    expect(plan.consumed).toEqual([]);
    expect(new StepPacker(open(), 0, opts).plan()).toBeUndefined();
  });

  it('a grown open segment is conditional on its catalogued size and on being open', () => {
    const p = new StepPacker(open(), 0, { ...opts, segmentBytes: 10_000 });
    const x = extent(2, [10]);
    p.add(x.e, x.bytes, x.batches);
    const ops = stepWrites({ id: 'id', name: 't' }, 0, 2, 1, p.plan()!);
    expect(ops.find((o) => o.type === 'put' && o.item.sk.startsWith('seg#'))).toMatchObject({
      item: { size: 210, closed: false },
      condition: { op: 'and', conds: [{ op: 'eq', attr: 'size', value: 200 }, { op: 'eq', attr: 'closed', value: false }] },
    });
  });
});
