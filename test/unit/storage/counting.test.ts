import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countingMetaStore, countingObjectStore, itemSize, valueSize } from '../../../lib/storage/counting.js';
import { LocalObjectStore } from '../../../lib/storage/local-object-store.js';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store.js';

describe('countingObjectStore', () => {
  it('counts calls, errors and bytes in/out, and resets', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'samsa-count-'));
    const s = countingObjectStore(new LocalObjectStore({ root }));
    await s.put('a', new Uint8Array(10));
    await s.append('a', 10, new Uint8Array(5));
    await s.get('a', { start: 0, end: 4 });
    await s.get('a');
    await s.head('a');
    await s.list('');
    await expect(s.get('missing')).rejects.toThrow();
    expect(s.counts.snapshot()).toEqual({
      calls: { put: 1, append: 1, get: 3, head: 1, list: 1 },
      errors: { get: 1 },
      bytesIn: 15,
      bytesOut: 19,
    });
    const snap = s.counts.snapshot();
    s.counts.reset();
    expect(s.counts.snapshot()).toEqual({ calls: {}, errors: {}, bytesIn: 0, bytesOut: 0 });
    expect(snap.calls.put).toBe(1); // snapshots are copies
    await s.close();
    await fs.rm(root, { recursive: true, force: true });
  });
});

describe('countingMetaStore', () => {
  it('counts calls and item bytes read and written', async () => {
    const s = countingMetaStore(new SqliteMetaStore({ path: ':memory:' }));
    const item = { pk: 'p', sk: 's', v: 'hello' };
    await s.write({ type: 'put', item });
    await s.get({ pk: 'p', sk: 's' });
    await s.query({ pk: 'p' });
    await s.transact([{ type: 'delete', key: { pk: 'p', sk: 's' } }]);
    const c = s.counts.snapshot();
    expect(c.calls).toEqual({ write: 1, get: 1, query: 1, transact: 1 });
    expect(c.bytesOut).toBe(2 * itemSize(item));
    expect(c.bytesIn).toBe(itemSize(item) + itemSize({ pk: 'p', sk: 's' }));
    expect(s.limits.maxTransactItems).toBe(100);
    await s.close();
  });
});

describe('itemSize (DynamoDB item-size estimate)', () => {
  it('sums attribute names and values', () => {
    expect(itemSize({ pk: 'ab', sk: 'c' })).toBe(2 + 2 + 2 + 1);
    expect(valueSize('\u00e9')).toBe(2);
    expect(valueSize(new Uint8Array(7))).toBe(7);
    expect(valueSize(true)).toBe(1);
    expect(valueSize(null)).toBe(1);
    expect(valueSize(12345)).toBe(4); // 5 significant digits → 3 bytes + 1
    expect(valueSize(1000)).toBe(2); // trailing zeros are not significant
    expect(valueSize([1, 'ab'])).toBe(3 + (1 + 2) + (1 + 2));
    expect(valueSize({ k: 'v' })).toBe(3 + 1 + 1 + 1);
  });

  it('sizes integers by arithmetic exactly as by their decimal string (the former method)', () => {
    const byString = (v: number) => {
      const digits = String(Math.abs(v)).replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
    };
    const xs = [0, -0, 1, -1, 9, 10, 99, 100, 101, 120, 1_200_300, 1_764_500_000_000, 1e15, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    for (let d = 0; d < 16; d++) for (let m = 1; m < 1e6; m = m * 7 + 3) if (Number.isSafeInteger(m * 10 ** d)) xs.push(m * 10 ** d, -m * 10 ** d);
    for (const x of xs) expect([x, valueSize(x)]).toEqual([x, byString(x)]);
    expect(valueSize(0.5)).toBe(byString(0.5));
    expect(valueSize(1.25e-7)).toBe(byString(1.25e-7));
  });
});
