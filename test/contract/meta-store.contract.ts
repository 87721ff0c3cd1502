// The MetaStore contract: DynamoDB-shaped behaviour every adapter (SQLite, DynamoDB) must show,
// written once and run per adapter (see local.test.ts). Each test uses its own random pk prefix,
// so a factory may hand out a shared table.

import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConditionFailedError, StorageError, TransactionConflictError } from '../../lib/errors.js';
import { countingMetaStore } from '../../lib/storage/counting.js';
import { faultyMetaStore } from '../../lib/storage/faults.js';
import type { Condition, MetaItem, MetaKey, MetaStore, MetaValue, QueryOptions, WriteOp } from '../../lib/storage/ports.js';

export interface MetaStoreFixture {
  store: MetaStore;
  cleanup(): Promise<void>;
}

/** Normalises Buffers to plain Uint8Arrays so deep equality compares bytes only. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

async function failure(p: Promise<unknown>): Promise<ConditionFailedError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ConditionFailedError);
  return e as ConditionFailedError;
}

const retriable = (e: unknown) => e instanceof ConditionFailedError || e instanceof TransactionConflictError;

export function metaStoreContract(name: string, make: () => Promise<MetaStoreFixture>): void {
  describe(`MetaStore contract: ${name}`, () => {
    let store: MetaStore;
    let fixture: MetaStoreFixture;
    let ns: string;
    const key = (sk: string, pk = 'p'): MetaKey => ({ pk: `${ns}#${pk}`, sk });

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
      ns = `contract-${randomBytes(6).toString('hex')}`;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    describe('get and put', () => {
      it('returns undefined for an absent item', async () => {
        expect(await store.get(key('none'))).toBeUndefined();
      });

      it('batchGet (where offered) returns items in key order, undefined where absent, past 100 keys', async () => {
        if (!store.batchGet) return; // optional: callers fall back to get
        const keys = Array.from({ length: 150 }, (_, i) => key(`b${i}`, `bp${i % 7}`));
        await store.transact(keys.filter((_, i) => i % 3 === 0 && i < 99).map((k, i) => ({ type: 'put', item: { ...k, n: i } })));
        await store.write({ type: 'put', item: { ...keys[149]!, n: -1 } });
        const got = await store.batchGet(keys);
        expect(got).toHaveLength(150);
        got.forEach((item, i) => {
          if (i % 3 === 0 && i < 99) expect(item).toMatchObject({ ...keys[i], n: i / 3 });
          else if (i === 149) expect(item).toMatchObject({ ...keys[149], n: -1 });
          else expect(item).toBeUndefined();
        });
      });

      it('round-trips every value type, nested, with binary as bytes', async () => {
        const item: MetaItem = {
          ...key('all'),
          str: 'h\u00e9llo \u{1F600}',
          empty: '',
          int: 42,
          neg: -7,
          float: 0.125,
          big: 2 ** 53 - 1,
          yes: true,
          no: false,
          nil: null,
          bin: Uint8Array.from([0, 1, 2, 254, 255]),
          emptyBin: new Uint8Array(0),
          list: [1, 'two', null, [3, { four: 4 }], Uint8Array.from([9])],
          emptyList: [],
          map: { a: 1, nested: { b: [true, false], c: Uint8Array.from([7, 7]) } },
          emptyMap: {},
        };
        const written = await store.write({ type: 'put', item });
        expect(plain(written)).toEqual(plain(item));
        const got = await store.get(key('all'));
        expect(plain(got)).toEqual(plain(item));
        expect(got?.bin).toBeInstanceOf(Uint8Array);
        expect(((got?.map as Record<string, MetaValue>).nested as Record<string, MetaValue>).c).toBeInstanceOf(Uint8Array);
        expect(((got?.list as MetaValue[])[4] as Uint8Array)[0]).toBe(9);
      });

      it('stores a binary view of a larger buffer as just the viewed bytes', async () => {
        const backing = Buffer.from('xxABCxx');
        await store.write({ type: 'put', item: { ...key('view'), b: backing.subarray(2, 5) } });
        expect(Array.from((await store.get(key('view')))?.b as Uint8Array)).toEqual([65, 66, 67]);
      });

      it('replaces the whole item on put', async () => {
        await store.write({ type: 'put', item: { ...key('r'), a: 1, b: 2 } });
        await store.write({ type: 'put', item: { ...key('r'), c: 3 } });
        expect(await store.get(key('r'))).toEqual({ ...key('r'), c: 3 });
      });

      it('keeps items apart by pk and sk', async () => {
        await store.write({ type: 'put', item: { ...key('s', 'p1'), v: 1 } });
        await store.write({ type: 'put', item: { ...key('s', 'p10'), v: 2 } });
        await store.write({ type: 'put', item: { ...key('s2', 'p1'), v: 3 } });
        expect((await store.get(key('s', 'p1')))?.v).toBe(1);
        expect((await store.get(key('s', 'p10')))?.v).toBe(2);
        expect((await store.get(key('s2', 'p1')))?.v).toBe(3);
      });

      it('does not let the caller mutate the stored item through the returned object', async () => {
        const got = await store.write({ type: 'put', item: { ...key('m'), v: 1 } });
        (got as MetaItem).v = 99;
        expect((await store.get(key('m')))?.v).toBe(1);
      });
    });

    describe('conditions', () => {
      const stored = (): MetaItem => ({
        ...key('c'),
        n: 5,
        s: 'm',
        emoji: '\u{1F600}',
        yes: true,
        nil: null,
        bin: Uint8Array.from([1, 2]),
        list: [1],
        map: { a: 1 },
      });
      // [description, condition, holds on the stored item, holds when the item is absent]
      const cases: [string, Condition, boolean, boolean][] = [
        ['notExists', { op: 'notExists' }, false, true],
        ['exists', { op: 'exists' }, true, false],
        ['attrExists present', { op: 'attrExists', attr: 'n' }, true, false],
        ['attrExists missing', { op: 'attrExists', attr: 'zz' }, false, false],
        ['attrExists null-valued', { op: 'attrExists', attr: 'nil' }, true, false],
        ['attrNotExists present', { op: 'attrNotExists', attr: 'n' }, false, true],
        ['attrNotExists missing', { op: 'attrNotExists', attr: 'zz' }, true, true],
        ['eq number', { op: 'eq', attr: 'n', value: 5 }, true, false],
        ['eq number differs', { op: 'eq', attr: 'n', value: 6 }, false, false],
        ['eq number vs string', { op: 'eq', attr: 'n', value: '5' }, false, false],
        ['eq string', { op: 'eq', attr: 's', value: 'm' }, true, false],
        ['eq string vs number', { op: 'eq', attr: 's', value: 0 }, false, false],
        ['eq boolean', { op: 'eq', attr: 'yes', value: true }, true, false],
        ['eq boolean differs', { op: 'eq', attr: 'yes', value: false }, false, false],
        ['eq null', { op: 'eq', attr: 'nil', value: null }, true, false],
        ['eq binary', { op: 'eq', attr: 'bin', value: Uint8Array.from([1, 2]) }, true, false],
        ['eq binary differs', { op: 'eq', attr: 'bin', value: Uint8Array.from([1, 3]) }, false, false],
        ['eq binary prefix', { op: 'eq', attr: 'bin', value: Uint8Array.from([1]) }, false, false],
        ['eq on a list', { op: 'eq', attr: 'list', value: 1 }, false, false],
        ['eq missing', { op: 'eq', attr: 'zz', value: 5 }, false, false],
        ['ne differs', { op: 'ne', attr: 'n', value: 6 }, true, true],
        ['ne equal', { op: 'ne', attr: 'n', value: 5 }, false, true],
        ['ne type mismatch', { op: 'ne', attr: 'n', value: '5' }, true, true],
        ['ne missing (true, like DynamoDB <>)', { op: 'ne', attr: 'zz', value: 1 }, true, true],
        ['ne binary equal', { op: 'ne', attr: 'bin', value: Uint8Array.from([1, 2]) }, false, true],
        ['lt true', { op: 'lt', attr: 'n', value: 6 }, true, false],
        ['lt equal', { op: 'lt', attr: 'n', value: 5 }, false, false],
        ['le equal', { op: 'le', attr: 'n', value: 5 }, true, false],
        ['le below', { op: 'le', attr: 'n', value: 4 }, false, false],
        ['gt true', { op: 'gt', attr: 'n', value: 4 }, true, false],
        ['gt equal', { op: 'gt', attr: 'n', value: 5 }, false, false],
        ['ge equal', { op: 'ge', attr: 'n', value: 5 }, true, false],
        ['ge above', { op: 'ge', attr: 'n', value: 5.5 }, false, false],
        ['lt negative', { op: 'lt', attr: 'n', value: -1 }, false, false],
        ['lt missing', { op: 'lt', attr: 'zz', value: 100 }, false, false],
        ['ge missing', { op: 'ge', attr: 'zz', value: -100 }, false, false],
        ['lt number vs string', { op: 'lt', attr: 'n', value: '9' }, false, false],
        ['gt string vs number', { op: 'gt', attr: 's', value: 1 }, false, false],
        ['gt string', { op: 'gt', attr: 's', value: 'a' }, true, false],
        ['lt string', { op: 'lt', attr: 's', value: 'a' }, false, false],
        ['le string equal', { op: 'le', attr: 's', value: 'm' }, true, false],
        ['lt string is not numeric', { op: 'lt', attr: 's', value: 'ma' }, true, false],
        // UTF-8 order: U+1F600 (F0 9F..) sorts after U+FFFD (EF BF BD); UTF-16 order disagrees.
        ['gt string by UTF-8 bytes', { op: 'gt', attr: 'emoji', value: '\uFFFD' }, true, false],
        ['lt string by UTF-8 bytes', { op: 'lt', attr: 'emoji', value: '\uFFFD' }, false, false],
        ['and all true', { op: 'and', conds: [{ op: 'eq', attr: 'n', value: 5 }, { op: 'eq', attr: 's', value: 'm' }] }, true, false],
        ['and one false', { op: 'and', conds: [{ op: 'eq', attr: 'n', value: 5 }, { op: 'eq', attr: 's', value: 'x' }] }, false, false],
        ['or one true', { op: 'or', conds: [{ op: 'eq', attr: 'n', value: 0 }, { op: 'eq', attr: 's', value: 'm' }] }, true, false],
        ['or none true', { op: 'or', conds: [{ op: 'eq', attr: 'n', value: 0 }, { op: 'eq', attr: 's', value: 'x' }] }, false, false],
        [
          'or of notExists and a version check',
          { op: 'or', conds: [{ op: 'notExists' }, { op: 'and', conds: [{ op: 'exists' }, { op: 'lt', attr: 'n', value: 10 }] }] },
          true,
          true,
        ],
      ];

      it.each(cases)('%s', async (_label, condition, onItem, onAbsent) => {
        await store.write({ type: 'put', item: stored() });
        const put = store.write({ type: 'put', item: { ...key('c'), marker: 'written' }, condition });
        if (onItem) {
          expect((await put)?.marker).toBe('written');
        } else {
          const e = await failure(put);
          expect(e.index).toBe(0);
          expect(plain(e.item)).toEqual(plain(stored()));
          expect(plain(await store.get(key('c')))).toEqual(plain(stored()));
        }

        const absent = store.write({ type: 'put', item: { ...key('absent'), marker: 'written' }, condition });
        if (onAbsent) {
          expect((await absent)?.marker).toBe('written');
        } else {
          const e = await failure(absent);
          expect(e.item).toBeUndefined();
          expect(await store.get(key('absent'))).toBeUndefined();
        }
      });
    });

    describe('update', () => {
      it('creates the item when absent, with add counting from 0', async () => {
        const got = await store.write({ type: 'update', key: key('u'), set: { name: 'x' }, add: { count: 3 } });
        expect(got).toEqual({ ...key('u'), name: 'x', count: 3 });
        expect(await store.get(key('u'))).toEqual({ ...key('u'), name: 'x', count: 3 });
      });

      it('sets, removes and adds, leaving other attributes alone', async () => {
        await store.write({ type: 'put', item: { ...key('u'), keep: 'k', a: 1, b: 2, n: 10, m: { x: 1, y: 2 } } });
        const got = await store.write({
          type: 'update',
          key: key('u'),
          set: { a: 'now a string', m: { z: 3 }, fresh: [1, 2] },
          remove: ['b', 'neverThere'],
          add: { n: -4, c: 2.5 },
        });
        const expected = { ...key('u'), keep: 'k', a: 'now a string', m: { z: 3 }, fresh: [1, 2], n: 6, c: 2.5 };
        expect(got).toEqual(expected);
        expect(await store.get(key('u'))).toEqual(expected);
      });

      it('applies a condition atomically with the update', async () => {
        await store.write({ type: 'put', item: { ...key('u'), v: 1 } });
        await store.write({ type: 'update', key: key('u'), set: { v: 2 }, condition: { op: 'eq', attr: 'v', value: 1 } });
        const e = await failure(
          store.write({ type: 'update', key: key('u'), set: { v: 3 }, condition: { op: 'eq', attr: 'v', value: 1 } }),
        );
        expect(e.item).toEqual({ ...key('u'), v: 2 });
        expect(await store.get(key('u'))).toEqual({ ...key('u'), v: 2 });
      });

      it('does not create an item when its condition fails', async () => {
        await failure(store.write({ type: 'update', key: key('u'), set: { v: 1 }, condition: { op: 'exists' } }));
        expect(await store.get(key('u'))).toBeUndefined();
      });

      it('rejects add on a non-number attribute without changing the item', async () => {
        await store.write({ type: 'put', item: { ...key('u'), s: 'text' } });
        const e = await store.write({ type: 'update', key: key('u'), add: { s: 1 } }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(StorageError);
        expect(e).not.toBeInstanceOf(ConditionFailedError);
        expect(await store.get(key('u'))).toEqual({ ...key('u'), s: 'text' });
      });

      it('stores binary values given in set', async () => {
        await store.write({ type: 'update', key: key('u'), set: { b: Uint8Array.from([5, 6]) } });
        expect(Array.from((await store.get(key('u')))?.b as Uint8Array)).toEqual([5, 6]);
      });
    });

    describe('delete and check', () => {
      it('deletes, ignores absent items and returns undefined', async () => {
        await store.write({ type: 'put', item: { ...key('d'), v: 1 } });
        expect(await store.write({ type: 'delete', key: key('d') })).toBeUndefined();
        expect(await store.get(key('d'))).toBeUndefined();
        expect(await store.write({ type: 'delete', key: key('d') })).toBeUndefined();
      });

      it('keeps the item when a conditional delete fails', async () => {
        await store.write({ type: 'put', item: { ...key('d'), v: 1 } });
        const e = await failure(store.write({ type: 'delete', key: key('d'), condition: { op: 'eq', attr: 'v', value: 2 } }));
        expect(e.item).toEqual({ ...key('d'), v: 1 });
        expect(await store.get(key('d'))).toEqual({ ...key('d'), v: 1 });
        await store.write({ type: 'delete', key: key('d'), condition: { op: 'eq', attr: 'v', value: 1 } });
        expect(await store.get(key('d'))).toBeUndefined();
      });

      it('check evaluates a condition without writing anything', async () => {
        expect(await store.write({ type: 'check', key: key('k'), condition: { op: 'notExists' } })).toBeUndefined();
        expect(await store.get(key('k'))).toBeUndefined();
        await store.write({ type: 'put', item: { ...key('k'), v: 1 } });
        const e = await failure(store.write({ type: 'check', key: key('k'), condition: { op: 'notExists' } }));
        expect(e.item).toEqual({ ...key('k'), v: 1 });
      });
    });

    describe('transact', () => {
      const setup = async () => {
        await store.write({ type: 'put', item: { ...key('t1'), v: 1 } });
        await store.write({ type: 'put', item: { ...key('t2'), v: 2 } });
        await store.write({ type: 'put', item: { ...key('t3'), v: 3 } });
      };

      it('applies every op together', async () => {
        await setup();
        await store.transact([
          { type: 'put', item: { ...key('t0'), v: 0 }, condition: { op: 'notExists' } },
          { type: 'update', key: key('t1'), add: { v: 10 }, condition: { op: 'eq', attr: 'v', value: 1 } },
          { type: 'delete', key: key('t2') },
          { type: 'check', key: key('t3'), condition: { op: 'eq', attr: 'v', value: 3 } },
        ]);
        expect(await store.get(key('t0'))).toEqual({ ...key('t0'), v: 0 });
        expect(await store.get(key('t1'))).toEqual({ ...key('t1'), v: 11 });
        expect(await store.get(key('t2'))).toBeUndefined();
        expect(await store.get(key('t3'))).toEqual({ ...key('t3'), v: 3 });
      });

      it('writes nothing when one condition fails, naming its index and item', async () => {
        await setup();
        const e = await failure(
          store.transact([
            { type: 'put', item: { ...key('t0'), v: 0 }, condition: { op: 'notExists' } },
            { type: 'update', key: key('t1'), add: { v: 10 } },
            { type: 'update', key: key('t2'), set: { v: 20 }, condition: { op: 'eq', attr: 'v', value: 999 } },
            { type: 'delete', key: key('t3') },
          ]),
        );
        expect(e.index).toBe(2);
        expect(e.item).toEqual({ ...key('t2'), v: 2 });
        expect(await store.get(key('t0'))).toBeUndefined();
        expect(await store.get(key('t1'))).toEqual({ ...key('t1'), v: 1 });
        expect(await store.get(key('t2'))).toEqual({ ...key('t2'), v: 2 });
        expect(await store.get(key('t3'))).toEqual({ ...key('t3'), v: 3 });
      });

      it('reports a failed check op and a failed create with no item', async () => {
        await setup();
        const e1 = await failure(
          store.transact([
            { type: 'put', item: { ...key('new'), v: 1 } },
            { type: 'check', key: key('t3'), condition: { op: 'lt', attr: 'v', value: 3 } },
          ]),
        );
        expect(e1.index).toBe(1);
        expect(e1.item).toEqual({ ...key('t3'), v: 3 });
        expect(await store.get(key('new'))).toBeUndefined();
        const e2 = await failure(
          store.transact([
            { type: 'put', item: { ...key('new'), v: 1 } },
            { type: 'update', key: key('ghost'), set: { v: 1 }, condition: { op: 'exists' } },
          ]),
        );
        expect(e2.index).toBe(1);
        expect(e2.item).toBeUndefined();
        expect(await store.get(key('new'))).toBeUndefined();
        expect(await store.get(key('ghost'))).toBeUndefined();
      });

      it('rejects two ops on one key, and writes nothing', async () => {
        const p = store.transact([
          { type: 'put', item: { ...key('dup'), v: 1 } },
          { type: 'put', item: { ...key('other'), v: 1 } },
          { type: 'update', key: key('dup'), add: { v: 1 } },
        ]);
        const e = await p.catch((x: unknown) => x);
        expect(e).toBeInstanceOf(Error);
        expect(e).not.toBeInstanceOf(ConditionFailedError);
        expect(await store.get(key('dup'))).toBeUndefined();
        expect(await store.get(key('other'))).toBeUndefined();
      });

      it('accepts limits.maxTransactItems ops and rejects one more', async () => {
        const n = store.limits.maxTransactItems;
        const ops = (count: number): WriteOp[] =>
          Array.from({ length: count }, (_, i) => ({ type: 'put', item: { ...key(`many/${i}`), i } }));
        await expect(store.transact(ops(n + 1))).rejects.toThrow();
        expect(await store.get(key('many/0'))).toBeUndefined();
        await store.transact(ops(n));
        expect((await store.get(key(`many/${n - 1}`)))?.i).toBe(n - 1);
      });

      it('accepts an empty transaction', async () => {
        await store.transact([]);
      });
    });

    describe('concurrency', () => {
      it('loses no update when 50 writers increment one counter with read + conditional write', async () => {
        await store.write({ type: 'put', item: { ...key('ctr'), n: 0 } });
        const worker = async () => {
          for (let attempt = 0; attempt < 1000; attempt++) {
            const cur = await store.get(key('ctr'));
            const n = cur?.n as number;
            try {
              await store.write({ type: 'update', key: key('ctr'), set: { n: n + 1 }, condition: { op: 'eq', attr: 'n', value: n } });
              return;
            } catch (e) {
              if (!retriable(e)) throw e;
            }
          }
          throw new Error('worker gave up');
        };
        await Promise.all(Array.from({ length: 50 }, worker));
        expect((await store.get(key('ctr')))?.n).toBe(50);
      });

      it('loses no update across concurrent conditional transactions on two items', async () => {
        await store.transact([
          { type: 'put', item: { ...key('x'), n: 0 } },
          { type: 'put', item: { ...key('y'), n: 0 } },
        ]);
        const worker = async () => {
          for (let attempt = 0; attempt < 1000; attempt++) {
            const x = (await store.get(key('x')))?.n as number;
            const y = (await store.get(key('y')))?.n as number;
            try {
              await store.transact([
                { type: 'update', key: key('x'), set: { n: x + 1 }, condition: { op: 'eq', attr: 'n', value: x } },
                { type: 'update', key: key('y'), set: { n: y + 2 }, condition: { op: 'eq', attr: 'n', value: y } },
              ]);
              return;
            } catch (e) {
              if (!retriable(e)) throw e;
            }
          }
          throw new Error('worker gave up');
        };
        await Promise.all(Array.from({ length: 20 }, worker));
        expect((await store.get(key('x')))?.n).toBe(20);
        expect((await store.get(key('y')))?.n).toBe(40);
      });

      it('lets exactly one of many concurrent notExists creates win', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            store.write({ type: 'put', item: { ...key('once'), owner: i }, condition: { op: 'notExists' } }),
          ),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConditionFailedError);
        expect((await store.get(key('once')))?.owner).toBe(winners[0]);
      });

      it('sums concurrent unconditional adds', async () => {
        await Promise.all(Array.from({ length: 40 }, () => store.write({ type: 'update', key: key('sum'), add: { n: 1 } })));
        expect((await store.get(key('sum')))?.n).toBe(40);
      });
    });

    describe('query', () => {
      // Insertion order is scrambled; the store must sort by sk's UTF-8 bytes.
      const sks = ['b', 'a', 'bb', 'ba', 'c', 'b\u00e9', 'd\uFFFD', 'd\u{1F600}', 'b/1', 'b/2', 'c0'];
      const sorted = [...sks].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const fill = async () => {
        for (const sk of sks) await store.write({ type: 'put', item: { ...key(sk), sk_copy: sk } });
        // Neighbouring partitions that must never leak into results.
        await store.write({ type: 'put', item: { ...key('a', 'p0'), other: true } });
        await store.write({ type: 'put', item: { ...key('b', 'p1'), other: true } });
      };
      const q = async (o: Omit<QueryOptions, 'pk'>) => {
        const page = await store.query({ pk: key('').pk, ...o });
        for (const it of page.items) expect(it.sk_copy).toBe(it.sk);
        return page.items.map((i) => i.sk);
      };

      it('returns the whole partition in order, and in reverse', async () => {
        await fill();
        expect(await q({})).toEqual(sorted);
        expect(await q({ reverse: true })).toEqual([...sorted].reverse());
        const page = await store.query({ pk: key('').pk });
        expect(page.next).toBeUndefined();
        expect(page.items[0]).toEqual({ ...key('a'), sk_copy: 'a' });
      });

      it('leaves binary values out with withoutBinary, at any depth, and nothing else', async () => {
        const bytes = (n: number) => new Uint8Array(n).fill(7);
        const full: MetaItem = {
          ...key('bin'),
          top: bytes(3000),
          empty: bytes(0),
          n: 1,
          exts: [
            { base: 0, data: bytes(40_000), kind: 'inline' },
            { base: 5, obj: 'w/1', kind: 'wal' },
          ],
          map: { a: bytes(2), s: 'x', list: [bytes(1), 'y', null] },
        };
        await store.write({ type: 'put', item: full });
        await store.write({ type: 'put', item: { ...key('plain'), n: 2, tags: ['a'] } });
        const page = await store.query({ pk: key('').pk, withoutBinary: true });
        expect(page.items).toEqual([
          { ...key('bin'), n: 1, exts: [{ base: 0, kind: 'inline' }, { base: 5, obj: 'w/1', kind: 'wal' }], map: { s: 'x', list: ['y', null] } },
          { ...key('plain'), n: 2, tags: ['a'] },
        ]);
        // The item itself is unchanged, read whole by get and by a plain query.
        expect(plain(await store.get(key('bin')))).toEqual(plain(full));
        expect(plain((await store.query({ pk: key('').pk, beginsWith: 'bin' })).items)).toEqual([plain(full)]);
        // Rewritten (replaced, then updated), the bytes follow the item.
        await store.write({ type: 'update', key: key('bin'), set: { top: bytes(5) }, remove: ['empty'] });
        const { empty: _e, ...rest } = full;
        expect(plain(await store.get(key('bin')))).toEqual(plain({ ...rest, top: bytes(5) }));
      });

      it('returns nothing for an empty partition', async () => {
        expect(await store.query({ pk: key('', 'empty').pk })).toEqual({ items: [] });
      });

      it('honours gte, gt, lte and lt, alone and combined', async () => {
        await fill();
        const between = (lo: string, hi: string, incLo: boolean, incHi: boolean) =>
          sorted.filter((s) => {
            const a = Buffer.compare(Buffer.from(s), Buffer.from(lo));
            const b = Buffer.compare(Buffer.from(s), Buffer.from(hi));
            return (incLo ? a >= 0 : a > 0) && (incHi ? b <= 0 : b < 0);
          });
        expect(await q({ gte: 'b' })).toEqual(sorted.filter((s) => s >= 'b'));
        expect(await q({ gt: 'b' })).toEqual(sorted.filter((s) => s > 'b'));
        expect(await q({ lte: 'bb' })).toEqual(sorted.filter((s) => s <= 'bb'));
        expect(await q({ lt: 'bb' })).toEqual(sorted.filter((s) => s < 'bb'));
        expect(await q({ gte: 'b', lt: 'c' })).toEqual(between('b', 'c', true, false));
        expect(await q({ gt: 'b', lte: 'c' })).toEqual(between('b', 'c', false, true));
        expect(await q({ gte: 'b', lte: 'c', reverse: true })).toEqual(between('b', 'c', true, true).reverse());
        expect(await q({ gte: 'd\uFFFD' })).toEqual(['d\uFFFD', 'd\u{1F600}']);
        expect(await q({ gt: 'd\uFFFD' })).toEqual(['d\u{1F600}']);
        expect(await q({ gt: 'c', lt: 'b' })).toEqual([]);
      });

      it('honours beginsWith, also with other bounds and reverse', async () => {
        await fill();
        expect(await q({ beginsWith: 'b' })).toEqual(sorted.filter((s) => s.startsWith('b')));
        expect(await q({ beginsWith: 'b/' })).toEqual(['b/1', 'b/2']);
        expect(await q({ beginsWith: 'b', reverse: true })).toEqual(sorted.filter((s) => s.startsWith('b')).reverse());
        expect(await q({ beginsWith: 'b', gt: 'b/1' })).toEqual(
          sorted.filter((s) => s.startsWith('b') && Buffer.compare(Buffer.from(s), Buffer.from('b/1')) > 0),
        );
        expect(await q({ beginsWith: 'd' })).toEqual(['d\uFFFD', 'd\u{1F600}']);
        expect(await q({ beginsWith: 'd\uFFFD' })).toEqual(['d\uFFFD']);
        expect(await q({ beginsWith: 'zz' })).toEqual([]);
      });

      it('paginates forward and backward with limit and next', async () => {
        await fill();
        for (const reverse of [false, true]) {
          for (const limit of [1, 3, 4, sorted.length, sorted.length + 5]) {
            const seen: string[] = [];
            let startAfter: string | undefined;
            for (let i = 0; ; i++) {
              expect(i).toBeLessThan(50);
              const page = await store.query({ pk: key('').pk, reverse, limit, ...(startAfter !== undefined && { startAfter }) });
              expect(page.items.length).toBeLessThanOrEqual(limit);
              seen.push(...page.items.map((x) => x.sk));
              if (page.next === undefined) break;
              expect(page.next).toBe(page.items[page.items.length - 1]?.sk);
              startAfter = page.next;
            }
            expect(seen).toEqual(reverse ? [...sorted].reverse() : sorted);
          }
        }
      });

      it('sets next on a full page that has more after it', async () => {
        await fill();
        const page = await store.query({ pk: key('').pk, limit: 2 });
        expect(page.items.map((i) => i.sk)).toEqual(sorted.slice(0, 2));
        expect(page.next).toBe(sorted[1]);
      });

      it('resumes after startAfter, with other bounds, in either direction', async () => {
        await fill();
        expect(await q({ startAfter: 'b' })).toEqual(sorted.slice(sorted.indexOf('b') + 1));
        expect(await q({ startAfter: 'b', reverse: true })).toEqual(sorted.slice(0, sorted.indexOf('b')).reverse());
        expect(await q({ beginsWith: 'b', startAfter: 'b/2' })).toEqual(
          sorted.filter((s) => s.startsWith('b')).slice(sorted.filter((s) => s.startsWith('b')).indexOf('b/2') + 1),
        );
        expect(await q({ beginsWith: 'b', startAfter: 'b/1', reverse: true })).toEqual(['b']);
      });
    });

    describe('item size limit', () => {
      it('accepts an item just under limits.maxItemBytes and round-trips it', async () => {
        const data = randomBytes(store.limits.maxItemBytes - 1024);
        await store.write({ type: 'put', item: { ...key('big'), data } });
        const got = await store.get(key('big'));
        expect(Buffer.compare(Buffer.from(got?.data as Uint8Array), data)).toBe(0);
      });

      it('rejects an item over the limit with a StorageError, storing nothing', async () => {
        const data = randomBytes(store.limits.maxItemBytes + 1);
        const e = await store.write({ type: 'put', item: { ...key('huge'), data } }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(StorageError);
        expect(e).not.toBeInstanceOf(ConditionFailedError);
        expect(await store.get(key('huge'))).toBeUndefined();
      });

      it('rejects an update that would grow an item past the limit, keeping the old item', async () => {
        const half = Math.floor(store.limits.maxItemBytes / 2) + 100;
        await store.write({ type: 'put', item: { ...key('grow'), a: randomBytes(half) } });
        const e = await store.write({ type: 'update', key: key('grow'), set: { b: randomBytes(half) } }).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(StorageError);
        expect(Object.keys((await store.get(key('grow'))) ?? {}).sort()).toEqual(['a', 'pk', 'sk']);
      });

      it('rejects an oversized item inside a transaction, writing nothing', async () => {
        const e = await store
          .transact([
            { type: 'put', item: { ...key('ok'), v: 1 } },
            { type: 'put', item: { ...key('huge'), data: randomBytes(store.limits.maxItemBytes + 1) } },
          ])
          .catch((x: unknown) => x);
        expect(e).toBeInstanceOf(StorageError);
        expect(await store.get(key('ok'))).toBeUndefined();
      });
    });

    describe('traits', () => {
      it('describe a store the engine can size its writes by', () => {
        const t = store.traits;
        expect(t.writeUnitBytes).toBeGreaterThan(0);
        expect(t.writeUnitBytes).toBeLessThan(store.limits.maxItemBytes);
        // An inline commit is an item (with its key and extent fields): it must fit, with room.
        expect(t.inlineMaxBytes).toBeGreaterThan(0);
        expect(t.inlineMaxBytes).toBeLessThanOrEqual(store.limits.maxItemBytes - 4096);
        expect(typeof t.transactionsCostDouble).toBe('boolean');
        expect(typeof t.sharedAcrossHosts).toBe('boolean');
      });

      it('size attributes with their names, and the same after the store round-trips them', async () => {
        const t = store.traits;
        expect(t.sizeOf({})).toBe(0);
        expect(t.sizeOf({ d: randomBytes(1000) })).toBeGreaterThanOrEqual(1001);
        const item: MetaItem = { ...key('sized'), n: 12345, s: 'héllo', b: true, l: [1, 'x'], m: { k: randomBytes(10) } };
        expect(t.sizeOf(item)).toBeGreaterThan(t.sizeOf({ ...item, m: {} }));
        await store.write({ type: 'put', item });
        expect(t.sizeOf((await store.get(key('sized')))!)).toBe(t.sizeOf(item));
      });

      it('an item sized under the limit by them is stored', async () => {
        const item: MetaItem = { ...key('fits'), data: randomBytes(100) };
        item['data'] = randomBytes(store.limits.maxItemBytes - store.traits.sizeOf(item) + 100 - 64);
        expect(store.traits.sizeOf(item)).toBeLessThanOrEqual(store.limits.maxItemBytes);
        await store.write({ type: 'put', item });
        expect(await store.get(key('fits'))).toBeDefined();
      });

      it('are forwarded by the counting and fault-injecting wrappers', () => {
        expect(countingMetaStore(store).traits).toBe(store.traits);
        expect(faultyMetaStore(store).traits).toBe(store.traits);
      });
    });
  });
}
