// Local-adapter specifics the shared contract cannot assume: key validation, temp files,
// directory layout and pruning.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidRangeError, StorageError } from '../../../lib/errors.js';
import { LocalObjectStore, TEMP_PREFIX } from '../../../lib/storage/local-object-store.js';
import { compareUtf8, prefixSuccessor } from '../../../lib/storage/local-utf8.js';

let root: string;
let store: LocalObjectStore;
beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'samsa-local-'));
  store = new LocalObjectStore({ root: path.join(root, 'objects') });
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const walk = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(p + '/', ...(await walk(p)));
    else out.push(p);
  }
  return out;
};

describe('LocalObjectStore keys', () => {
  it.each(['', '/abs', '../escape', 'a/../../b', 'a//b', 'a/', 'a/./b', 'nul\0byte', `a/${TEMP_PREFIX}x`, 'x'.repeat(256)])(
    'rejects %j before touching the disk',
    async (key) => {
      await expect(store.put(key, new Uint8Array(1))).rejects.toBeInstanceOf(StorageError);
      await expect(store.get(key)).rejects.toBeInstanceOf(StorageError);
      expect(await walk(root)).toEqual([]);
    },
  );

  it('lists nothing for prefixes that could escape the root', async () => {
    await fs.mkdir(path.join(root, 'secret'), { recursive: true });
    await fs.writeFile(path.join(root, 'secret', 'f'), 'x');
    await store.put('a', new Uint8Array(1));
    expect(await store.list('../')).toEqual({ objects: [] });
    expect(await store.list('a/../../secret/')).toEqual({ objects: [] });
    expect(await store.list('/')).toEqual({ objects: [] });
  });

  it('reports a key nested under an object key as a StorageError', async () => {
    await store.put('a', new Uint8Array(1));
    await expect(store.put('a/b', new Uint8Array(1))).rejects.toBeInstanceOf(StorageError);
  });

  it('rejects malformed ranges and keepBytes', async () => {
    await store.put('r', new Uint8Array(4));
    await expect(store.get('r', { start: 3, end: 2 })).rejects.toBeInstanceOf(InvalidRangeError);
    await expect(store.get('r', { start: -1, end: 2 })).rejects.toBeInstanceOf(InvalidRangeError);
    await expect(store.append('r', -1, new Uint8Array(1))).rejects.toBeInstanceOf(InvalidRangeError);
    await expect(store.append('r', 1.5, new Uint8Array(1))).rejects.toBeInstanceOf(InvalidRangeError);
  });
});

describe('LocalObjectStore files', () => {
  it('leaves no temp file behind after put, conditional put and its failure', async () => {
    await store.put('t/a', new Uint8Array(3));
    await store.put('t/b', new Uint8Array(3), { ifNoneMatch: true });
    await expect(store.put('t/b', new Uint8Array(3), { ifNoneMatch: true })).rejects.toThrow();
    await store.append('t/c', 0, new Uint8Array(3));
    const files = (await walk(store.root)).map((p) => path.relative(store.root, p));
    expect(files.sort()).toEqual(['t', 't/a', 't/b', 't/c']);
  });

  it('never lists temp files left by a crash', async () => {
    await store.put('d/x', new Uint8Array(1));
    await fs.writeFile(path.join(store.root, 'd', `${TEMP_PREFIX}deadbeef`), 'half');
    expect((await store.list('')).objects.map((o) => o.key)).toEqual(['d/x']);
    expect((await store.list('d/')).objects.map((o) => o.key)).toEqual(['d/x']);
  });

  it('writes appends in place, keeping the file (inode) and its prefix', async () => {
    await store.put('log', new TextEncoder().encode('abcdef'));
    const before = await fs.stat(path.join(store.root, 'log'));
    await store.append('log', 6, new TextEncoder().encode('gh'));
    const after = await fs.stat(path.join(store.root, 'log'));
    expect(after.ino).toBe(before.ino);
    expect(await fs.readFile(path.join(store.root, 'log'), 'utf8')).toBe('abcdefgh');
  });

  it('prunes empty folders on delete but keeps the root', async () => {
    await store.put('x/y/z/obj', new Uint8Array(1));
    await store.put('x/keep', new Uint8Array(1));
    await store.delete(['x/y/z/obj']);
    expect((await walk(store.root)).map((p) => path.relative(store.root, p)).sort()).toEqual(['x', 'x/keep']);
    await store.delete(['x/keep']);
    expect(await walk(store.root)).toEqual([]);
    await expect(fs.stat(store.root)).resolves.toBeTruthy();
  });

  it('survives puts racing deletes that prune the same folder', async () => {
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      ops.push(store.put(`race/k${i}`, new Uint8Array(1)));
      ops.push(store.delete([`race/k${i - 1}`]));
    }
    await Promise.all(ops);
    expect((await store.list('race/')).objects.map((o) => o.key)).toContain('race/k49');
  });
});

describe('UTF-8 ordering helpers', () => {
  it('compareUtf8 agrees with byte order where UTF-16 order does not', () => {
    const xs = ['a', '\uFFFD', '\u{1F600}', '\uE000', '\u00e9', 'b', '', '\u{10FFFF}', '\uD7FF'];
    const byBytes = [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...xs].sort(compareUtf8)).toEqual(byBytes);
  });

  it('prefixSuccessor bounds exactly the strings with the prefix', () => {
    expect(prefixSuccessor('ab')).toBe('ac');
    expect(prefixSuccessor('a\u{10FFFF}')).toBe('b');
    expect(prefixSuccessor('\uD7FF')).toBe('\uE000');
    expect(prefixSuccessor('\uFFFF')).toBe('\u{10000}');
    expect(prefixSuccessor('')).toBeUndefined();
    const p = 'd\uFFFD';
    const succ = prefixSuccessor(p) as string;
    for (const s of [p, p + '\u{10FFFF}', p + 'zzz', p + '\u{1F600}']) {
      expect(compareUtf8(s, p)).toBeGreaterThanOrEqual(0);
      expect(compareUtf8(s, succ)).toBeLessThan(0);
    }
    expect(compareUtf8('d\u{1F600}', succ)).toBeGreaterThanOrEqual(0);
  });
});
