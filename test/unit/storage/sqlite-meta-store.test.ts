// SQLite-adapter specifics the shared contract cannot assume: pragmas, persistence across
// reopen, lock conflicts between connections, and input validation.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
