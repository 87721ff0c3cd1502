// The ObjectStore contract: behaviour every adapter (local folder, S3) must show, written once
// and run per adapter (see local.test.ts). Each test works under its own random key prefix,
// so a factory may hand out a shared bucket. Nothing here depends on an adapter's internals.

import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRangeError, ObjectNotFoundError, PreconditionFailedError } from '../../lib/errors.js';
import type { ObjectStore } from '../../lib/storage/ports.js';

export interface ObjectStoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const bytes = (b: Uint8Array): number[] => Array.from(b);
const utf8Order = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export function objectStoreContract(name: string, make: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    let fixture: ObjectStoreFixture;
    let ns: string;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
      ns = `contract-${randomBytes(6).toString('hex')}`;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    const putAll = async (keys: string[]) => {
      for (const k of keys) await store.put(k, enc(`body of ${k}`));
    };
    const listAll = async (prefix: string, limit?: number) => {
      const keys: string[] = [];
      const pages: number[] = [];
      let startAfter: string | undefined;
      for (let i = 0; i < 100; i++) {
        const page = await store.list(prefix, { ...(startAfter !== undefined && { startAfter }), ...(limit && { limit }) });
        if (limit) expect(page.objects.length).toBeLessThanOrEqual(limit);
        keys.push(...page.objects.map((o) => o.key));
        pages.push(page.objects.length);
        if (page.next === undefined) return { keys, pages };
        expect(page.next).toBe(page.objects[page.objects.length - 1]?.key);
        startAfter = page.next;
      }
      throw new Error('list never finished');
    };

    describe('put and get', () => {
      it('round-trips bytes, including every byte value and the empty object', async () => {
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        await store.put(`${ns}/all`, all);
        await store.put(`${ns}/empty`, new Uint8Array(0));
        const got = await store.get(`${ns}/all`);
        expect(got).toBeInstanceOf(Uint8Array);
        expect(bytes(got)).toEqual(bytes(all));
        expect((await store.get(`${ns}/empty`)).length).toBe(0);
      });

      it('overwrites an existing object whole (longer then shorter)', async () => {
        await store.put(`${ns}/k`, enc('first version, long'));
        await store.put(`${ns}/k`, enc('second'));
        expect(dec(await store.get(`${ns}/k`))).toBe('second');
      });

      it('keeps objects with nested keys apart', async () => {
        await store.put(`${ns}/topics/a/0/seg`, enc('a0'));
        await store.put(`${ns}/topics/a/1/seg`, enc('a1'));
        expect(dec(await store.get(`${ns}/topics/a/0/seg`))).toBe('a0');
        expect(dec(await store.get(`${ns}/topics/a/1/seg`))).toBe('a1');
      });

      it('throws ObjectNotFoundError for an absent key, with or without a range', async () => {
        await expect(store.get(`${ns}/missing`)).rejects.toBeInstanceOf(ObjectNotFoundError);
        await expect(store.get(`${ns}/missing`, { start: 0, end: 10 })).rejects.toBeInstanceOf(ObjectNotFoundError);
      });

      it('does not mistake a key prefix for an object', async () => {
        await store.put(`${ns}/dir/obj`, enc('x'));
        await expect(store.get(`${ns}/dir`)).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await store.head(`${ns}/dir`)).toBeUndefined();
      });

      it('does not alias the caller’s buffer after put resolves', async () => {
        const body = enc('original');
        await store.put(`${ns}/alias`, body);
        body.fill(0);
        expect(dec(await store.get(`${ns}/alias`))).toBe('original');
      });
    });

    describe('ranged get', () => {
      const body = enc('0123456789');
      beforeEach(async () => {
        await store.put(`${ns}/r`, body);
      });

      it('returns exactly [start, end)', async () => {
        expect(dec(await store.get(`${ns}/r`, { start: 0, end: 3 }))).toBe('012');
        expect(dec(await store.get(`${ns}/r`, { start: 4, end: 7 }))).toBe('456');
        expect(dec(await store.get(`${ns}/r`, { start: 9, end: 10 }))).toBe('9');
        expect(dec(await store.get(`${ns}/r`, { start: 0, end: 10 }))).toBe('0123456789');
      });

      it('clamps a range past the end', async () => {
        expect(dec(await store.get(`${ns}/r`, { start: 7, end: 1000 }))).toBe('789');
        expect((await store.get(`${ns}/r`, { start: 10, end: 20 })).length).toBe(0);
        expect((await store.get(`${ns}/r`, { start: 50, end: 60 })).length).toBe(0);
      });

      it('returns nothing for an empty range', async () => {
        expect((await store.get(`${ns}/r`, { start: 3, end: 3 })).length).toBe(0);
      });

      it('reads a small range of a large object exactly', async () => {
        const big = randomBytes(3 * 1024 * 1024 + 17);
        await store.put(`${ns}/big`, big);
        const start = 2 * 1024 * 1024 - 5;
        const got = await store.get(`${ns}/big`, { start, end: start + 4096 });
        expect(Buffer.compare(Buffer.from(got), big.subarray(start, start + 4096))).toBe(0);
        const tail = await store.get(`${ns}/big`, { start: big.length - 10, end: big.length + 10 });
        expect(Buffer.compare(Buffer.from(tail), big.subarray(big.length - 10))).toBe(0);
      });
    });

    describe('head', () => {
      it('reports size and a plausible lastModified, undefined when absent', async () => {
        const before = Date.now();
        await store.put(`${ns}/h`, enc('12345'));
        const info = await store.head(`${ns}/h`);
        expect(info?.key).toBe(`${ns}/h`);
        expect(info?.size).toBe(5);
        // Only coarse bounds: stores differ in clock source and precision.
        expect(info?.lastModified).toBeGreaterThan(before - 10 * 60_000);
        expect(info?.lastModified).toBeLessThan(Date.now() + 10 * 60_000);
        expect(await store.head(`${ns}/nope`)).toBeUndefined();
      });
    });

    describe('conditional put (ifNoneMatch)', () => {
      it('creates when absent and refuses when present, leaving the first body', async () => {
        await store.put(`${ns}/c`, enc('first'), { ifNoneMatch: true });
        await expect(store.put(`${ns}/c`, enc('second'), { ifNoneMatch: true })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        expect(dec(await store.get(`${ns}/c`))).toBe('first');
      });

      it('lets exactly one of many concurrent creators win', async () => {
        const n = 24;
        const results = await Promise.allSettled(
          Array.from({ length: n }, (_, i) => store.put(`${ns}/race`, enc(`writer ${i}`), { ifNoneMatch: true })),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
        }
        expect(dec(await store.get(`${ns}/race`))).toBe(`writer ${winners[0]}`);
      });

      it('succeeds again after the object is deleted', async () => {
        await store.put(`${ns}/again`, enc('1'), { ifNoneMatch: true });
        await store.delete([`${ns}/again`]);
        await store.put(`${ns}/again`, enc('2'), { ifNoneMatch: true });
        expect(dec(await store.get(`${ns}/again`))).toBe('2');
      });
    });

    describe('append', () => {
      it('creates the object when keepBytes is 0 and the key is absent', async () => {
        await store.append(`${ns}/a`, 0, enc('hello'));
        expect(dec(await store.get(`${ns}/a`))).toBe('hello');
      });

      it('replaces the whole object when keepBytes is 0', async () => {
        await store.put(`${ns}/a`, enc('old content'));
        await store.append(`${ns}/a`, 0, enc('new'));
        expect(dec(await store.get(`${ns}/a`))).toBe('new');
      });

      it('appends at the end when keepBytes is the current size', async () => {
        await store.put(`${ns}/a`, enc('hello'));
        await store.append(`${ns}/a`, 5, enc(' world'));
        await store.append(`${ns}/a`, 11, enc('!'));
        expect(dec(await store.get(`${ns}/a`))).toBe('hello world!');
        expect((await store.head(`${ns}/a`))?.size).toBe(12);
      });

      it('writes a body given in parts end to end, creating, extending and cutting', async () => {
        const whole = enc('0123456789abcdefghij');
        await store.append(`${ns}/p`, 0, [whole.subarray(0, 3), new Uint8Array(0), whole.subarray(3, 10)]);
        expect(dec(await store.get(`${ns}/p`))).toBe('0123456789');
        // Over a thousand parts (more than one writev may take), some of them empty.
        const many = Array.from({ length: 1500 }, (_, i) => (i % 3 === 2 ? new Uint8Array(0) : enc(String.fromCharCode(97 + (i % 26)))));
        const expected = many.map(dec).join('');
        await store.append(`${ns}/p`, 10, many);
        expect(dec(await store.get(`${ns}/p`))).toBe(`0123456789${expected}`);
        await store.append(`${ns}/p`, 4, [enc('x'), enc('yz')]);
        expect(dec(await store.get(`${ns}/p`))).toBe('0123xyz');
        expect((await store.head(`${ns}/p`))?.size).toBe(7);
        await store.append(`${ns}/p`, 7, []);
        expect(dec(await store.get(`${ns}/p`))).toBe('0123xyz');
      });

      it('keeps the prefix and replaces the tail (shorter, longer and empty bodies)', async () => {
        await store.put(`${ns}/a`, enc('hello world'));
        await store.append(`${ns}/a`, 5, enc('!!'));
        expect(dec(await store.get(`${ns}/a`))).toBe('hello!!');
        await store.append(`${ns}/a`, 3, enc('p me, a longer tail'));
        expect(dec(await store.get(`${ns}/a`))).toBe('help me, a longer tail');
        await store.append(`${ns}/a`, 4, new Uint8Array(0));
        expect(dec(await store.get(`${ns}/a`))).toBe('help');
      });

      it('throws ObjectNotFoundError when keepBytes > 0 and the key is absent', async () => {
        await expect(store.append(`${ns}/none`, 3, enc('x'))).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await store.head(`${ns}/none`)).toBeUndefined();
      });

      it('throws InvalidRangeError when the object is shorter than keepBytes, changing nothing', async () => {
        await store.put(`${ns}/a`, enc('abc'));
        await expect(store.append(`${ns}/a`, 4, enc('x'))).rejects.toBeInstanceOf(InvalidRangeError);
        expect(dec(await store.get(`${ns}/a`))).toBe('abc');
      });

      it('never disturbs readers of the kept range while the tail is rewritten', async () => {
        const prefix = randomBytes(64 * 1024);
        await store.put(`${ns}/log`, prefix);
        let appending = true;
        const writer = (async () => {
          for (let i = 0; i < 20; i++) await store.append(`${ns}/log`, prefix.length, randomBytes(1024 * (1 + (i % 7))));
          appending = false;
        })();
        let reads = 0;
        while (appending || reads === 0) {
          const start = (reads * 4099) % (prefix.length - 1000);
          const got = await store.get(`${ns}/log`, { start, end: start + 1000 });
          expect(Buffer.compare(Buffer.from(got), prefix.subarray(start, start + 1000))).toBe(0);
          reads++;
        }
        await writer;
      });

      it('keeps binary content byte-exact across many appends', async () => {
        const chunks = Array.from({ length: 10 }, (_, i) => randomBytes(100 + i * 37));
        let size = 0;
        for (const c of chunks) {
          await store.append(`${ns}/bin`, size, c);
          size += c.length;
        }
        expect(Buffer.compare(Buffer.from(await store.get(`${ns}/bin`)), Buffer.concat(chunks))).toBe(0);
      });
    });

    // Fencing a stale writer: the log engine records each segment object's ETag in its fenced
    // catalog and replaces objects only If-Match that ETag.
    describe('conditional append (ETags)', () => {
      it('returns an ETag that head reports and that changes with every write', async () => {
        const k = `${ns}/etag`;
        const a = await store.append(k, 0, enc('one'));
        expect(a.etag).toBeTruthy();
        expect((await store.head(k))?.etag).toBe(a.etag);
        const b = await store.append(k, 3, enc('-two'));
        expect(b.etag).not.toBe(a.etag);
        expect((await store.head(k))?.etag).toBe(b.etag);
      });

      it('appends only if the ETag still matches, and changes nothing otherwise', async () => {
        const k = `${ns}/fenced`;
        const first = await store.append(k, 0, enc('base'));
        const second = await store.append(k, 4, enc('+new'), { ifMatch: first.etag });
        // A writer still holding the first ETag (a paused former leader) is refused.
        await expect(store.append(k, 4, enc('+old'), { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
        await expect(store.append(k, 0, enc('gone'), { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(dec(await store.get(k))).toBe('base+new');
        expect((await store.head(k))?.etag).toBe(second.etag);
      });

      it('refuses If-Match on an absent key', async () => {
        await expect(store.append(`${ns}/none`, 0, enc('x'), { ifMatch: '"nope"' })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(await store.head(`${ns}/none`)).toBeUndefined();
      });

      it('creates with ifNoneMatch only when absent', async () => {
        const k = `${ns}/create`;
        await store.append(k, 0, enc('first'), { ifNoneMatch: true });
        await expect(store.append(k, 0, enc('second'), { ifNoneMatch: true })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(dec(await store.get(k))).toBe('first');
      });
    });

    describe('compose', () => {
      // Design note 0011: a segment written in chunks becomes one object by composing them,
      // its first chunk being the target itself, conditional on the target's ETag.
      it('concatenates the first `size` bytes of each source, in order, and reports the new ETag', async () => {
        const [a, b, c, k] = ['a', 'b', 'c', 'composed'].map((x) => `${ns}/compose/${x}`) as [string, string, string, string];
        await store.put(a, enc('alpha'));
        await store.put(b, enc('beta-and-a-dead-tail'));
        await store.put(c, enc('gamma'));
        const done = await store.compose(k, [
          { key: a, size: 5 },
          { key: b, size: 4 },
          { key: a, size: 0 },
          { key: c, size: 3 },
        ]);
        expect(dec(await store.get(k))).toBe('alphabetagam');
        expect((await store.head(k))?.etag).toBe(done.etag);
        // The sources are untouched.
        expect(dec(await store.get(b))).toBe('beta-and-a-dead-tail');
      });

      it('takes the target itself as a source: what it held before the call is copied', async () => {
        const k = `${ns}/compose/self`;
        const tail = `${ns}/compose/tail`;
        const first = await store.append(k, 0, enc('head+dead'));
        await store.put(tail, enc('-tail'));
        const done = await store.compose(k, [{ key: k, size: 4, etag: first.etag }, { key: tail, size: 5 }], { ifMatch: first.etag });
        expect(dec(await store.get(k))).toBe('head-tail');
        expect(done.etag).not.toBe(first.etag);
      });

      it('copies a source pinned to its ETag only while it is that version', async () => {
        const src = `${ns}/compose/pinned`;
        const k = `${ns}/compose/out`;
        const v1 = await store.append(src, 0, enc('version-1'));
        await store.compose(k, [{ key: src, size: 9, etag: v1.etag }]);
        expect(dec(await store.get(k))).toBe('version-1');
        await store.append(src, 0, enc('version-2'));
        await expect(store.compose(k, [{ key: src, size: 9, etag: v1.etag }])).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(dec(await store.get(k))).toBe('version-1');
      });

      it('replaces the target only under ifMatch / ifNoneMatch as asked', async () => {
        const src = `${ns}/compose/src`;
        const k = `${ns}/compose/target`;
        await store.put(src, enc('new'));
        const created = await store.compose(k, [{ key: src, size: 3 }], { ifNoneMatch: true });
        expect(dec(await store.get(k))).toBe('new');
        await expect(store.compose(k, [{ key: src, size: 2 }], { ifNoneMatch: true })).rejects.toBeInstanceOf(PreconditionFailedError);
        const other = await store.append(k, 3, enc('+more'), { ifMatch: created.etag });
        // A composer still holding the first ETag (a paused former leader) is refused.
        await expect(store.compose(k, [{ key: src, size: 1 }], { ifMatch: created.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(dec(await store.get(k))).toBe('new+more');
        await store.compose(k, [{ key: src, size: 1 }], { ifMatch: other.etag });
        expect(dec(await store.get(k))).toBe('n');
        await expect(store.compose(`${ns}/compose/absent`, [{ key: src, size: 1 }], { ifMatch: other.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(await store.head(`${ns}/compose/absent`)).toBeUndefined();
      });

      it('throws InvalidRangeError for a source shorter than its size, and ObjectNotFoundError for an absent one, changing nothing', async () => {
        const src = `${ns}/compose/short`;
        const k = `${ns}/compose/keep`;
        await store.put(src, enc('short'));
        await store.put(k, enc('kept'));
        await expect(store.compose(k, [{ key: src, size: 6 }])).rejects.toBeInstanceOf(InvalidRangeError);
        await expect(store.compose(k, [{ key: `${ns}/compose/missing`, size: 1 }])).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(dec(await store.get(k))).toBe('kept');
      });

      it('composes sources past the 5 MiB part minimum mixed with small ones, byte-exact (S3: server-side copies)', async () => {
        const MiB = 1024 * 1024;
        const big = randomBytes(5 * MiB + 3);
        const small = randomBytes(100);
        const k = `${ns}/compose/large`;
        const s1 = `${ns}/compose/small`;
        const first = await store.append(k, 0, big);
        await store.put(s1, small);
        // The target's own 5 MiB (a segment's first chunk), a small chunk, the first 5 MiB of
        // the large one again (after a small source: joined into one part), a 7-byte tail.
        const done = await store.compose(
          k,
          [
            { key: k, size: big.length, etag: first.etag },
            { key: s1, size: small.length },
            { key: k, size: 5 * MiB },
            { key: s1, size: 7 },
          ],
          { ifMatch: first.etag },
        );
        const want = Buffer.concat([big, small, big.subarray(0, 5 * MiB), small.subarray(0, 7)]);
        const got = await store.get(k);
        expect(got.length).toBe(want.length);
        expect(Buffer.compare(Buffer.from(got), want)).toBe(0);
        expect((await store.head(k))?.etag).toBe(done.etag);
      });
    });

    describe('compose (large sources)', () => {
      // S3 copies these server-side, where moto ignores a pinned ETag and copies a range past
      // the end short: the adapter looks at them first.
      it('checks a large source as a small one: pinned ETag, size, presence', async () => {
        const MiB = 1024 * 1024;
        const k = `${ns}/compose/large-src`;
        const out = `${ns}/compose/large-out`;
        const v1 = await store.append(k, 0, randomBytes(5 * MiB + 1));
        await store.append(k, 5 * MiB, enc('!'));
        await expect(store.compose(out, [{ key: k, size: 5 * MiB, etag: v1.etag }])).rejects.toBeInstanceOf(PreconditionFailedError);
        await expect(store.compose(out, [{ key: k, size: 5 * MiB + 2 }])).rejects.toBeInstanceOf(InvalidRangeError);
        await expect(store.compose(out, [{ key: `${ns}/compose/absent-large`, size: 5 * MiB }])).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await store.head(out)).toBeUndefined();
      });
    });

    describe('delete', () => {
      it('removes objects, several at once, and ignores absent keys', async () => {
        await putAll([`${ns}/d/1`, `${ns}/d/2`, `${ns}/d/3`]);
        await store.delete([`${ns}/d/1`, `${ns}/d/3`, `${ns}/d/never`]);
        await expect(store.get(`${ns}/d/1`)).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await store.head(`${ns}/d/3`)).toBeUndefined();
        expect(dec(await store.get(`${ns}/d/2`))).toBe(`body of ${ns}/d/2`);
        expect((await listAll(`${ns}/d/`)).keys).toEqual([`${ns}/d/2`]);
      });

      it('accepts an empty list and absent keys', async () => {
        await store.delete([]);
        await store.delete([`${ns}/ghost`, `${ns}/deep/ghost/key`]);
      });

      it('lets the key be written again afterwards', async () => {
        await store.put(`${ns}/x/y/z`, enc('1'));
        await store.delete([`${ns}/x/y/z`]);
        await store.put(`${ns}/x/y/z`, enc('2'));
        expect(dec(await store.get(`${ns}/x/y/z`))).toBe('2');
      });
    });

    describe('list', () => {
      const names = [
        'topics/a/0000000001.log',
        'topics/a/0000000000.log',
        'topics/a/0000000000.index',
        'topics/ab/0000000000.log',
        'topics/a-b/0000000000.log',
        'topics/a.b',
        'topics/b/x',
        'topics/\u00e9t\u00e9',
        'topics/\uFFFD',
        'topics/\u{1F600}',
        'topicsX',
      ];

      it('returns every key under the prefix in UTF-8 byte order, with sizes', async () => {
        const keys = names.map((n) => `${ns}/${n}`);
        await putAll([...keys].reverse());
        const page = await store.list(`${ns}/`);
        expect(page.objects.map((o) => o.key)).toEqual([...keys].sort(utf8Order));
        expect(page.next).toBeUndefined();
        for (const o of page.objects) expect(o.size).toBe(enc(`body of ${o.key}`).length);
      });

      it('isolates a folder prefix from its siblings (topics/a/ vs topics/ab/)', async () => {
        await putAll(names.map((n) => `${ns}/${n}`));
        expect((await listAll(`${ns}/topics/a/`)).keys).toEqual(
          ['topics/a/0000000000.index', 'topics/a/0000000000.log', 'topics/a/0000000001.log'].map((n) => `${ns}/${n}`),
        );
        expect((await listAll(`${ns}/topics/ab/`)).keys).toEqual([`${ns}/topics/ab/0000000000.log`]);
      });

      it('matches a partial name prefix, not just folders', async () => {
        await putAll(names.map((n) => `${ns}/${n}`));
        const got = (await listAll(`${ns}/topics/a`)).keys.map((k) => k.slice(ns.length + 1));
        expect(got).toEqual(
          [
            'topics/a-b/0000000000.log',
            'topics/a.b',
            'topics/a/0000000000.index',
            'topics/a/0000000000.log',
            'topics/a/0000000001.log',
            'topics/ab/0000000000.log',
          ].sort(utf8Order),
        );
        expect((await listAll(`${ns}/topics/a/0000000000`)).keys).toEqual([
          `${ns}/topics/a/0000000000.index`,
          `${ns}/topics/a/0000000000.log`,
        ]);
      });

      it('returns an empty last page for a prefix with no keys', async () => {
        await putAll([`${ns}/p/1`]);
        expect(await store.list(`${ns}/q/`)).toEqual({ objects: [] });
        expect(await store.list(`${ns}/nothing-here`)).toEqual({ objects: [] });
      });

      it('paginates with limit and next, in order, with no gaps or repeats', async () => {
        const keys = Array.from({ length: 7 }, (_, i) => `${ns}/seg/${String(i).padStart(4, '0')}`);
        await putAll([...keys].reverse());
        const first = await store.list(`${ns}/seg/`, { limit: 3 });
        expect(first.objects.map((o) => o.key)).toEqual(keys.slice(0, 3));
        expect(first.next).toBe(keys[2]);
        const { keys: all, pages } = await listAll(`${ns}/seg/`, 3);
        expect(all).toEqual(keys);
        expect(pages).toEqual([3, 3, 1]);
      });

      it('ends with next undefined when the keys fill the last page exactly', async () => {
        const keys = Array.from({ length: 6 }, (_, i) => `${ns}/six/${i}`);
        await putAll(keys);
        const p1 = await store.list(`${ns}/six/`, { limit: 3 });
        const p2 = await store.list(`${ns}/six/`, { limit: 3, startAfter: p1.next as string });
        expect(p2.objects.map((o) => o.key)).toEqual(keys.slice(3));
        expect(p2.next).toBeUndefined();
      });

      it('resumes after any startAfter, even one that is not a key', async () => {
        const keys = ['a/1', 'a/3', 'b/1', 'b/2', 'c'].map((k) => `${ns}/${k}`);
        await putAll(keys);
        const after = async (s: string) => (await store.list(`${ns}/`, { startAfter: s })).objects.map((o) => o.key);
        expect(await after(`${ns}/a/2`)).toEqual(keys.slice(1));
        expect(await after(`${ns}/a/3`)).toEqual(keys.slice(2));
        expect(await after(`${ns}/a0`)).toEqual(keys.slice(2));
        expect(await after(`${ns}/b/`)).toEqual(keys.slice(2));
        expect(await after(`${ns}/b`)).toEqual(keys.slice(2));
        expect(await after(`${ns}/c`)).toEqual([]);
        expect(await after(`${ns}/`)).toEqual(keys);
      });

      it('reflects deletes and overwrites', async () => {
        await putAll([`${ns}/l/1`, `${ns}/l/2`]);
        await store.delete([`${ns}/l/1`]);
        await store.put(`${ns}/l/2`, enc('now longer than before'));
        const page = await store.list(`${ns}/l/`);
        expect(page.objects.map((o) => [o.key, o.size])).toEqual([[`${ns}/l/2`, 22]]);
      });
    });
  });
}
