import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
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

  it('sizes integers as the digit-string rule does, without making strings (issue 18)', () => {
    // The rule as it reads: significant digits of the decimal string, halved, plus one.
    const byString = (v: number): number => {
      const digits = String(Math.abs(v)).replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
    };
    const cases = [0, -0, 1, 9, 10, 11, 99, 100, 101, 12345, 1000, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1_700_000_000_000, 4503599627370497, 9_000_000_000_000_000];
    for (const v of cases) expect(valueSize(v), String(v)).toBe(byString(v));
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.maxSafeInteger().map((x) => -x), fc.tuple(fc.integer({ min: -99999, max: 99999 }), fc.integer({ min: 0, max: 10 })).map(([m, e]) => m * 10 ** e)), (v) => {
        expect(valueSize(v)).toBe(byString(v));
      }),
      { numRuns: 5000 },
    );
    // Non-integers keep the string rule.
    for (const v of [0.5, 1.25, 1e21, 1.5e-7, -3.0001]) expect(valueSize(v), String(v)).toBe(byString(v));
  });
});
