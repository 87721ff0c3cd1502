// SQLite-adapter specifics the shared contract cannot assume: pragmas, persistence across
// reopen, lock conflicts between connections, and input validation.

import { promises as fs, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConditionFailedError, StorageError, TransactionConflictError } from '../../../lib/errors.js';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store.js';
import type { WriteOp } from '../../../lib/storage/ports.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'samsa-sqlite-'));
  file = path.join(dir, 'meta.db');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('SqliteMetaStore', () => {
  it('runs in WAL mode with synchronous=FULL', async () => {
    const s = new SqliteMetaStore({ path: file });
    await s.write({ type: 'put', item: { pk: 'p', sk: 's' } });
    const raw = new Database(file);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    // synchronous is per connection: read it through the store's own connection.
    const db = (s as unknown as { db: Database.Database }).db;
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    await s.close();
  });

  it('keeps data across close and reopen', async () => {
    const a = new SqliteMetaStore({ path: file });
    await a.write({ type: 'update', key: { pk: 'p', sk: 's' }, add: { n: 2 }, set: { b: Uint8Array.from([1]) } });
    await a.close();
    const b = new SqliteMetaStore({ path: file });
    const got = await b.get({ pk: 'p', sk: 's' });
    expect(got?.n).toBe(2);
    expect(got?.b).toBeInstanceOf(Uint8Array);
    await b.close();
  });

  it('turns a lock held by another connection into a retriable TransactionConflictError', async () => {
    const s = new SqliteMetaStore({ path: file, busyTimeoutMs: 50 });
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const e = await s.write({ type: 'put', item: { pk: 'p', sk: 's' } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TransactionConflictError);
    expect((e as TransactionConflictError).retriable).toBe(true);
    other.exec('ROLLBACK');
    other.close();
    await s.write({ type: 'put', item: { pk: 'p', sk: 's' } });
    await s.close();
  });

  it('sees writes committed by another store on the same file (conditions are not cached)', async () => {
    const a = new SqliteMetaStore({ path: file });
    const b = new SqliteMetaStore({ path: file });
    await a.write({ type: 'put', item: { pk: 'p', sk: 's', v: 1 } });
    await b.write({ type: 'update', key: { pk: 'p', sk: 's' }, set: { v: 2 }, condition: { op: 'eq', attr: 'v', value: 1 } });
    await expect(
      a.write({ type: 'update', key: { pk: 'p', sk: 's' }, set: { v: 3 }, condition: { op: 'eq', attr: 'v', value: 1 } }),
    ).rejects.toBeInstanceOf(ConditionFailedError);
    await a.close();
    await b.close();
  });

  // Issue 18: in the WITHOUT ROWID table older databases have, the whole row is the b-tree key,
  // and SQLite reads an overflowing key whole to compare it — so finding a small item (a head)
  // beside inline commit pages of tens of KiB read several pages' values each time.
  it('finds a small item beside large ones without reading their values (bytes read from the file)', async () => {
    if (!readChars()) return; // /proc/self/io is Linux's
    const a = new SqliteMetaStore({ path: file });
    const big = new Uint8Array(100 * 1024).fill(7);
    await a.transact(Array.from({ length: 40 }, (_, i): WriteOp => ({ type: 'put', item: { pk: 'p', sk: `x#${String(i).padStart(4, '0')}`, data: big } })));
    await a.write({ type: 'put', item: { pk: 'p', sk: 'head', n: 1 } });
    await a.close();
    const s = new SqliteMetaStore({ path: file });
    // The smallest page cache SQLite allows, so reads reach the file (through the OS's cache).
    (s as unknown as { db: Database.Database }).db.pragma('cache_size = 10');
    const before = readChars()!;
    for (let i = 0; i < 20; i++) expect((await s.get({ pk: 'p', sk: 'head' }))?.n).toBe(1);
    const read = readChars()! - before;
    // Twenty lookups of a tiny item: a few index pages each at most, not 100 KiB values.
    expect(read).toBeLessThan(20 * 100 * 1024);
    await s.close();
  });

  it('deletes and puts without a condition, and creates of a free key, read no stored item (issue 18)', async () => {
    const s = new SqliteMetaStore({ path: file });
    const big = new Uint8Array(64 * 1024).fill(1);
    await s.transact(Array.from({ length: 10 }, (_, i): WriteOp => ({ type: 'put', item: { pk: 'p', sk: `x#${i}`, data: big } })));
    await s.write({ type: 'put', item: { pk: 'p', sk: 'c', v: 1 } });
    const sGet = (s as unknown as { sGet: { get: (...a: unknown[]) => unknown } }).sGet;
    const get = sGet.get.bind(sGet);
    let reads = 0;
    sGet.get = (...a: unknown[]) => {
      reads++;
      return get(...a);
    };
    await s.transact(Array.from({ length: 5 }, (_, i): WriteOp => ({ type: 'delete', key: { pk: 'p', sk: `x#${i}` } })));
    await s.write({ type: 'delete', key: { pk: 'p', sk: 'x#5' } });
    await s.write({ type: 'put', item: { pk: 'p', sk: 'x#6', data: new Uint8Array(1) } });
    // A create-if-absent of a free key (a commit page) reads nothing either (issue 18 item 1).
    await s.transact([{ type: 'put', item: { pk: 'p', sk: 'y#1', v: 1 }, condition: { op: 'notExists' } }]);
    expect(reads).toBe(0);
    // ...and of a taken key reads the item its failure reports.
    await expect(s.write({ type: 'put', item: { pk: 'p', sk: 'y#1', v: 2 }, condition: { op: 'notExists' } })).rejects.toMatchObject({ item: { pk: 'p', sk: 'y#1', v: 1 } });
    expect(reads).toBe(1);
    await s.write({ type: 'delete', key: { pk: 'p', sk: 'y#1' } });
    reads = 0;
    // Conditions and updates still see the stored item.
    await expect(s.write({ type: 'delete', key: { pk: 'p', sk: 'c' }, condition: { op: 'eq', attr: 'v', value: 2 } })).rejects.toBeInstanceOf(ConditionFailedError);
    await s.write({ type: 'update', key: { pk: 'p', sk: 'c' }, add: { v: 1 } });
    expect((await s.get({ pk: 'p', sk: 'c' }))?.v).toBe(2);
    expect(reads).toBe(3);
    expect((await s.query({ pk: 'p', beginsWith: 'x#' })).items.map((i) => [i.sk, (i.data as Uint8Array).length])).toEqual([
      ['x#6', 1],
      ['x#7', big.length],
      ['x#8', big.length],
      ['x#9', big.length],
    ]);
    await s.close();
  });

  // Issue 18 item 1: a put of an existing key updates the row where it is. INSERT OR REPLACE
  // deleted it and inserted it again under a new rowid at the table's right edge, so a
  // single-record commit (rewrite the head, add one commit page) wrote 4.7 16 KiB WAL frames
  // here; in place it writes 3.2 (the head's leaf, the right-most leaf, one index leaf).
  it('rewrites an existing item in place: a head rewrite plus one new page costs about three WAL frames, not five', async () => {
    const s = new SqliteMetaStore({ path: file, checkpointIntervalMs: 0 });
    // No checkpoint in between, so the WAL's growth counts every frame written.
    (s as unknown as { db: Database.Database }).db.pragma('wal_autocheckpoint = 0');
    const head = (n: number): WriteOp => ({ type: 'put', item: { pk: 't#0', sk: 'head', n, recent: new Uint8Array(3000).fill(n % 256) } });
    const page = (i: number): WriteOp => ({ type: 'put', item: { pk: 't#0', sk: `page#${String(i).padStart(12, '0')}`, data: new Uint8Array(1200).fill(1) } });
    for (let i = 0; i < 200; i++) await s.transact([head(i), page(i)]);
    const raw = new Database(file, { readonly: true });
    const rowid = () => raw.prepare("SELECT rowid FROM items WHERE pk = 't#0' AND sk = 'head'").pluck().get();
    const before = { wal: statSync(`${file}-wal`).size, rowid: rowid() };
    const N = 50;
    for (let i = 200; i < 200 + N; i++) await s.transact([head(i), page(i)]);
    const frames = (statSync(`${file}-wal`).size - before.wal) / (16384 + 24);
    expect(rowid()).toBe(before.rowid);
    expect(frames / N).toBeLessThan(4);
    expect((await s.get({ pk: 't#0', sk: 'head' }))?.n).toBe(200 + N - 1);
    expect((await s.query({ pk: 't#0', beginsWith: 'page#' })).items).toHaveLength(200 + N);
    raw.close();
    await s.close();
  });

  it('still serves a database made with the older WITHOUT ROWID table', async () => {
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.exec('CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (pk, sk)) WITHOUT ROWID');
    raw.close();
    const s = new SqliteMetaStore({ path: file });
    await s.write({ type: 'put', item: { pk: 'p', sk: 'b', v: 2 } });
    await s.write({ type: 'put', item: { pk: 'p', sk: 'a', v: 1 } });
    await s.write({ type: 'update', key: { pk: 'p', sk: 'a' }, set: { v: 3 }, condition: { op: 'eq', attr: 'v', value: 1 } });
    // A create-if-absent is an insert that does nothing on a taken key, on this table too.
    await s.transact([{ type: 'put', item: { pk: 'p', sk: 'c', v: 4 }, condition: { op: 'notExists' } }]);
    await expect(s.transact([{ type: 'put', item: { pk: 'p', sk: 'c', v: 5 }, condition: { op: 'notExists' } }])).rejects.toMatchObject({ index: 0, item: { pk: 'p', sk: 'c', v: 4 } });
    expect((await s.query({ pk: 'p' })).items.map((i) => [i.sk, i.v])).toEqual([
      ['a', 3],
      ['b', 2],
      ['c', 4],
    ]);
    await s.close();
    const check = new Database(file);
    expect(check.prepare("SELECT sql FROM sqlite_master WHERE name = 'items'").pluck().get()).toMatch(/WITHOUT ROWID/);
    check.close();
  });

  it('reads rows written before binary values had a column of their own, whole and withoutBinary', async () => {
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.exec('CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (pk, sk))');
    const data = new Uint8Array([1, 2, 3]);
    raw.prepare('INSERT INTO items (pk, sk, value) VALUES (?, ?, ?)').run('p', 'x#1', v8.serialize({ last: 1, exts: [{ base: 0, data }] }));
    raw.close();
    const s = new SqliteMetaStore({ path: file });
    await s.write({ type: 'put', item: { pk: 'p', sk: 'x#2', last: 2, exts: [{ base: 2, data }] } });
    const whole = (await s.query({ pk: 'p' })).items.map((i) => (i.exts as Array<{ data: Uint8Array }>).map((e) => Array.from(e.data)));
    expect(whole).toEqual([[[1, 2, 3]], [[1, 2, 3]]]);
    expect((await s.query({ pk: 'p', withoutBinary: true })).items).toEqual([
      { pk: 'p', sk: 'x#1', last: 1, exts: [{ base: 0 }] },
      { pk: 'p', sk: 'x#2', last: 2, exts: [{ base: 2 }] },
    ]);
    await s.close();
  });

  it('stores attributes as JSON text with binary values apart, and reads the v8 rows of earlier builds', async () => {
    const s = new SqliteMetaStore({ path: file });
    const buf = Buffer.from([9, 8, 7]);
    const arr = new Uint8Array([1, 2]);
    await s.write({ type: 'put', item: { pk: 'p', sk: 'n', cfg: { 'retention.ms': 5, list: [1, 'two', null, true, { deep: [arr] }] }, b: buf, e: new Uint8Array(0) } });
    const got = (await s.get({ pk: 'p', sk: 'n' }))!;
    expect(got).toEqual({ pk: 'p', sk: 'n', cfg: { 'retention.ms': 5, list: [1, 'two', null, true, { deep: [arr] }] }, b: buf, e: new Uint8Array(0) });
    expect(Buffer.isBuffer(got.b)).toBe(true); // a Buffer stays a Buffer, a Uint8Array a plain one
    expect(Buffer.isBuffer(((got.cfg as { list: Array<{ deep: Uint8Array[] }> }).list[4]!).deep[0])).toBe(false);
    // Earlier builds: v8 serialization, binary values referenced into `bin` as host objects.
    class OldSerializer extends v8.DefaultSerializer {
      parts: Buffer[] = [];
      at = 0;
      _writeHostObject(view: NodeJS.ArrayBufferView): void {
        const bytes = view as Uint8Array;
        this.writeUint32(Buffer.isBuffer(bytes) ? 1 : 0);
        this.writeUint32(this.at);
        this.writeUint32(bytes.byteLength);
        this.parts.push(Buffer.from(bytes));
        this.at += bytes.byteLength;
      }
    }
    const old = new OldSerializer();
    old.writeHeader();
    old.writeValue({ last: 4, exts: [{ base: 3, data: new Uint8Array([5, 6]) }] });
    const raw = new Database(file);
    raw.prepare('INSERT INTO items (pk, sk, value, bin) VALUES (?, ?, ?, ?)').run('p', 'o', old.releaseBuffer(), Buffer.concat(old.parts));
    expect(raw.prepare("SELECT typeof(value) FROM items WHERE pk = 'p' AND sk = 'n'").pluck().get()).toBe('text');
    raw.close();
    expect(await s.get({ pk: 'p', sk: 'o' })).toEqual({ pk: 'p', sk: 'o', last: 4, exts: [{ base: 3, data: new Uint8Array([5, 6]) }] });
    expect((await s.query({ pk: 'p', withoutBinary: true })).items.find((i) => i.sk === 'o')).toEqual({ pk: 'p', sk: 'o', last: 4, exts: [{ base: 3 }] });
    // An update of such a row keeps its attributes, binary values included, and writes JSON.
    await s.write({ type: 'update', key: { pk: 'p', sk: 'o' }, set: { n: 1 }, condition: { op: 'eq', attr: 'last', value: 4 } });
    expect(await s.get({ pk: 'p', sk: 'o' })).toEqual({ pk: 'p', sk: 'o', last: 4, exts: [{ base: 3, data: new Uint8Array([5, 6]) }], n: 1 });
    await s.close();
  });

  // Issue 18 item 1 made the commit's writes cheaper (a create-if-absent without a read, an
  // update on the parsed row). The bytes stored are what readers of every earlier build parse:
  // pinned here as they were before that change.
  it('stores a commit page and a head update as the same JSON text and binary column as before', async () => {
    const s = new SqliteMetaStore({ path: file });
    const data = Buffer.from([1, 2, 3, 4]);
    const head = { pk: 'log#t#0', sk: 'head', next_offset: 7, lease_owner: 'h/1/ab', ret_upto: 0, tails: [{ base: 5, data: new Uint8Array([9]) }], recent: [1, 2] };
    await s.write({ type: 'put', item: head });
    await s.transact([
      { type: 'put', item: { pk: 'log#t#0', sk: 'x#00000000000000000007', base: 7, last: 7, exts: [{ base: 7, last: 7, kind: 'inline', pos: 0, len: 4, wb: 7, max_ts: 1764550000123, data, cid: 4503599627370497 }] }, condition: { op: 'notExists' } },
      { type: 'update', key: { pk: 'log#t#0', sk: 'head' }, set: { next_offset: 8, recent: [1, 2, 7, 4503599627370497], new_attr: 'é' }, remove: ['tails'], add: { ret_upto: 3 }, condition: { op: 'eq', attr: 'next_offset', value: 7 } },
    ]);
    const raw = new Database(file, { readonly: true });
    const rows = raw.prepare<[], { sk: string; value: string; bin: Buffer | null }>("SELECT sk, value, bin FROM items WHERE pk = 'log#t#0' ORDER BY sk").all();
    raw.close();
    expect(rows.map((r) => [r.sk, r.value, r.bin?.toString('hex') ?? null])).toEqual([
      ['head', '{"next_offset":8,"lease_owner":"h/1/ab","ret_upto":3,"recent":[1,2,7,4503599627370497],"new_attr":"é"}', null],
      ['x#00000000000000000007', '{"base":7,"last":7,"exts":[{"base":7,"last":7,"kind":"inline","pos":0,"len":4,"wb":7,"max_ts":1764550000123,"data":{"\\u0000b":[1,0,4]},"cid":4503599627370497}]}', '01020304'],
    ]);
    await s.close();
  });

  it('reports the first failing condition of a transaction, before any write error of an earlier op', async () => {
    const s = new SqliteMetaStore({ path: ':memory:' });
    await s.transact([
      { type: 'put', item: { pk: 'p', sk: 'a', v: 1 } },
      { type: 'put', item: { pk: 'p', sk: 'b', v: 'text' } },
    ]);
    const failure = (ops: WriteOp[]) => s.transact(ops).then(() => undefined, (e: unknown) => e);
    // Both creates fail: the first is reported, with the item it found.
    const both = await failure([
      { type: 'put', item: { pk: 'p', sk: 'a', v: 2 }, condition: { op: 'notExists' } },
      { type: 'put', item: { pk: 'p', sk: 'b', v: 2 }, condition: { op: 'notExists' } },
    ]);
    expect(both).toBeInstanceOf(ConditionFailedError);
    expect([(both as ConditionFailedError).index, (both as ConditionFailedError).item]).toEqual([0, { pk: 'p', sk: 'a', v: 1 }]);
    // An update that cannot apply (add to a string) and a later failing condition: the condition.
    const later = await failure([
      { type: 'update', key: { pk: 'p', sk: 'b' }, add: { v: 1 } },
      { type: 'put', item: { pk: 'p', sk: 'c', big: 'x'.repeat(500 * 1024) }, condition: { op: 'notExists' } },
      { type: 'put', item: { pk: 'p', sk: 'a', v: 3 }, condition: { op: 'notExists' } },
    ]);
    expect(later).toBeInstanceOf(ConditionFailedError);
    expect((later as ConditionFailedError).index).toBe(2);
    // Without one, the write error; an oversized create of an existing key fails its condition.
    await expect(failure([{ type: 'update', key: { pk: 'p', sk: 'b' }, add: { v: 1 } }])).resolves.toBeInstanceOf(StorageError);
    const big = await failure([{ type: 'put', item: { pk: 'p', sk: 'a', big: 'x'.repeat(500 * 1024) }, condition: { op: 'notExists' } }]);
    expect(big).toBeInstanceOf(ConditionFailedError);
    await expect(failure([{ type: 'put', item: { pk: 'p', sk: 'd', big: 'x'.repeat(500 * 1024) }, condition: { op: 'notExists' } }])).resolves.not.toBeInstanceOf(ConditionFailedError);
    // Nothing of a failed transaction is kept, a create before the failure included.
    await failure([
      { type: 'put', item: { pk: 'p', sk: 'e', v: 1 }, condition: { op: 'notExists' } },
      { type: 'update', key: { pk: 'p', sk: 'a' }, set: { v: 9 }, condition: { op: 'eq', attr: 'v', value: 0 } },
    ]);
    expect((await s.query({ pk: 'p' })).items.map((i) => [i.sk, i.v])).toEqual([
      ['a', 1],
      ['b', 'text'],
    ]);
    await s.close();
  });

  describe('validation', () => {
    const s = new SqliteMetaStore({ path: ':memory:' });
    const bug = (op: WriteOp) => async () => {
      const e = await s.write(op).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Error);
      expect(e).not.toBeInstanceOf(StorageError); // misuse is a bug, not a storage condition
    };
    const rejected = (op: WriteOp) => async () => {
      await expect(s.write(op)).rejects.toBeInstanceOf(StorageError);
    };
    it('refuses bad attribute names', bug({ type: 'put', item: { pk: 'p', sk: 's', 'bad-name': 1 } }));
    it('refuses setting the key', bug({ type: 'update', key: { pk: 'p', sk: 's' }, set: { pk: 'x' } }));
    it('refuses an attribute in both set and remove', bug({ type: 'update', key: { pk: 'p', sk: 's' }, set: { a: 1 }, remove: ['a'] }));
    it('refuses an empty and', bug({ type: 'put', item: { pk: 'p', sk: 's' }, condition: { op: 'and', conds: [] } }));
    it('refuses a non-finite add', bug({ type: 'update', key: { pk: 'p', sk: 's' }, add: { n: Number.NaN } }));
    it('rejects empty key values as DynamoDB does', rejected({ type: 'put', item: { pk: '', sk: 's' } }));
    it('rejects an over-long sort key', rejected({ type: 'put', item: { pk: 'p', sk: 'x'.repeat(1025) } }));
    it('rejects non-finite numbers', rejected({ type: 'put', item: { pk: 'p', sk: 's', n: Infinity } }));
    it('rejects unsupported values', rejected({ type: 'put', item: { pk: 'p', sk: 's', d: new Date() as never } }));
    it('names where a nested bad value sits', async () => {
      await expect(s.write({ type: 'put', item: { pk: 'p', sk: 's', a: [1, { b: Number.NaN }] } })).rejects.toThrow(/a\[1\]\.b: numbers must be finite/);
      await expect(s.write({ type: 'update', key: { pk: 'p', sk: 's' }, set: { m: { x: ['ok', new Map() as never] } } })).rejects.toThrow(/m\.x\[1\]: unsupported value/);
    });
    it('refuses a bad query limit', async () => {
      await expect(s.query({ pk: 'p', limit: 0 })).rejects.toThrow(/limit/);
    });
  });
});

/** Bytes this process has read through read(2)/pread(2) so far (Linux), else undefined. */
function readChars(): number | undefined {
  try {
    const m = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
