// ObjectStore over a local folder, for embedded mode and tests. Each key is a relative file
// path under `root`. A resolved put/append has been fsynced (file and, when its entry changed,
// directory), and whole-object writes go through a temp file + rename so a reader or a process
// killed mid-write never leaves a half-written object visible. See docs/design/0001.

import { randomBytes } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { InvalidRangeError, ObjectNotFoundError, PreconditionFailedError, StorageError } from '../errors.js';
import { concatBytes } from '../util/bytes.js';
import { checkComposeSource } from './compose-source.js';
import { compareUtf8 } from './local-utf8.js';
import type { AppendOptions, ByteRange, ComposeSource, ListPage, ObjectInfo, ObjectStore, PutOptions } from './ports.js';

/** Temp files live beside their target (same directory → rename is atomic) under this prefix. */
export const TEMP_PREFIX = '.samsa-tmp-';
const DEFAULT_LIST_LIMIT = 1000;

export interface LocalObjectStoreOptions {
  root: string;
  /**
   * fsync files and directories before a write resolves (default true). Without it a resolved
   * write has reached the OS, which survives a crash of this process (kill -9) but not of the
   * machine; Samsa's SAMSA_FSYNC chooses (see docs/design/0004-embedded-durability.md).
   */
  fsync?: boolean;
}

interface NodeError extends Error {
  code?: string;
}
const codeOf = (e: unknown): string | undefined => (e as NodeError | null)?.code;

export class LocalObjectStore implements ObjectStore {
  readonly root: string;
  private readonly sync: boolean;

  constructor(opts: LocalObjectStoreOptions) {
    this.root = path.resolve(opts.root);
    this.sync = opts.fsync ?? true;
  }

  private async syncDir(dir: string): Promise<void> {
    if (this.sync) await fsyncDir(dir);
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    const tmp = await this.writeTemp(dir, body);
    try {
      if (opts.ifNoneMatch) {
        // link() fails with EEXIST if the name is taken: an atomic create-if-absent, and the
        // object appears fully written or not at all.
        try {
          await fs.link(tmp, file);
        } catch (e) {
          if (codeOf(e) === 'EEXIST') throw new PreconditionFailedError(key);
          throw this.wrap(e, key, 'put');
        }
      } else {
        try {
          await fs.rename(tmp, file);
        } catch (e) {
          throw this.wrap(e, key, 'put');
        }
      }
    } finally {
      // After rename this is a no-op (ENOENT); after link it drops the temp name.
      await fs.unlink(tmp).catch(() => undefined);
    }
    await this.syncDir(dir);
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const file = this.pathOf(key);
    if (range) checkRange(key, range);
    let fh: FileHandle;
    try {
      fh = await fs.open(file, 'r');
    } catch (e) {
      throw this.missingOr(e, key, 'get');
    }
    try {
      const size = (await fh.stat()).size;
      const start = range ? Math.min(range.start, size) : 0;
      const end = range ? Math.min(range.end, size) : size;
      const out = Buffer.allocUnsafe(end - start);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) break; // truncated underneath us: return what exists
        done += bytesRead;
      }
      return done === out.length ? out : out.subarray(0, done);
    } catch (e) {
      throw this.missingOr(e, key, 'get');
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.pathOf(key), { bigint: true });
      if (!st.isFile()) return undefined;
      return { key, size: Number(st.size), lastModified: Number(st.mtimeMs), etag: etagOf(st) };
    } catch (e) {
      const c = codeOf(e);
      if (c === 'ENOENT' || c === 'ENOTDIR') return undefined;
      throw this.wrap(e, key, 'head');
    }
  }

  async delete(keys: string[]): Promise<void> {
    const files = keys.map((k) => this.pathOf(k)); // validate all before touching any
    const dirs = new Set<string>();
    for (const [i, file] of files.entries()) {
      try {
        await fs.unlink(file);
        dirs.add(path.dirname(file));
      } catch (e) {
        const c = codeOf(e);
        if (c !== 'ENOENT' && c !== 'ENOTDIR' && c !== 'EISDIR') throw this.wrap(e, keys[i] as string, 'delete');
      }
    }
    for (const dir of dirs) {
      // Durable delete: a retention pass must not see the object come back after a crash.
      await this.syncDir(dir);
      await this.pruneEmptyDirs(dir);
    }
  }

  async list(prefix: string, opts: { startAfter?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = opts.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`list: limit must be a positive integer, got ${limit}`);
    if (prefix.includes('\0')) throw new StorageError(`invalid key prefix: contains NUL`);
    const startAfter = opts.startAfter;
    // Only the folder part of the prefix is walked; the remainder filters entry names.
    const slash = prefix.lastIndexOf('/');
    const folder = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    if (folder && folder.split('/').slice(0, -1).some((s) => s === '' || s === '.' || s === '..')) {
      return { objects: [] }; // no valid key lives under such a folder
    }
    const objects: ObjectInfo[] = [];
    // One extra entry tells whether another page exists, so `next` is exact.
    const want = limit + 1;

    const walk = async (dirKey: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(path.join(this.root, dirKey), { withFileTypes: true });
      } catch (e) {
        const c = codeOf(e);
        if (c === 'ENOENT' || c === 'ENOTDIR') return;
        throw this.wrap(e, dirKey, 'list');
      }
      const named = entries
        .filter((d) => !d.name.startsWith(TEMP_PREFIX) && (d.isFile() || d.isDirectory()))
        .map((d) => ({ k: dirKey + d.name + (d.isDirectory() ? '/' : ''), dir: d.isDirectory() }))
        // A directory sorts as "name/": every key below it starts so, and no sibling file
        // can be named with a trailing slash, so this is the keys' own order.
        .sort((a, b) => compareUtf8(a.k, b.k));
      for (const { k, dir } of named) {
        if (objects.length >= want) return;
        if (dir) {
          if (!(k.startsWith(prefix) || prefix.startsWith(k))) continue;
          // Every key below k is > startAfter unless startAfter sorts after the whole subtree.
          if (startAfter !== undefined && compareUtf8(startAfter, k) > 0 && !startAfter.startsWith(k)) continue;
          await walk(k);
        } else {
          if (!k.startsWith(prefix)) continue;
          if (startAfter !== undefined && compareUtf8(k, startAfter) <= 0) continue;
          try {
            const st = await fs.stat(path.join(this.root, k));
            objects.push({ key: k, size: st.size, lastModified: Math.floor(st.mtimeMs) });
          } catch (e) {
            if (codeOf(e) !== 'ENOENT') throw this.wrap(e, k, 'list'); // deleted meanwhile
          }
        }
      }
    };
    await walk(folder);
    if (objects.length > limit) {
      objects.length = limit;
      return { objects, next: objects[limit - 1]?.key };
    }
    return { objects };
  }

  /**
   * Reads the sources and replaces `key` atomically (a rename). Local files append in place, so
   * the flush never writes chunks here; this serves the port's contract (and tests).
   */
  async compose(key: string, sources: readonly ComposeSource[], opts: AppendOptions = {}): Promise<{ etag: string }> {
    const parts: Uint8Array[] = [];
    for (const src of sources) {
      checkComposeSource(src, await this.head(src.key));
      parts.push(await this.get(src.key, { start: 0, end: src.size }));
    }
    if (opts.ifMatch !== undefined) {
      const current = await this.head(key);
      if (!current || current.etag !== opts.ifMatch) throw new PreconditionFailedError(key);
    }
    await this.put(key, concatBytes(parts), opts.ifNoneMatch ? { ifNoneMatch: true } : {});
    return { etag: (await this.head(key))?.etag ?? '' };
  }

  async append(key: string, keepBytes: number, parts: Uint8Array | readonly Uint8Array[], opts: AppendOptions = {}): Promise<{ etag: string }> {
    const body: readonly Uint8Array[] = parts instanceof Uint8Array ? [parts] : parts;
    let length = 0;
    for (const p of body) length += p.length;
    if (!Number.isInteger(keepBytes) || keepBytes < 0) {
      throw new InvalidRangeError(key, `keepBytes must be a non-negative integer, got ${keepBytes}`);
    }
    // The ETag check and the write are two steps: atomic against writers in this process (the
    // log engine serialises them), best effort across processes sharing a data folder.
    if (opts.ifMatch !== undefined) {
      const current = await this.head(key);
      if (!current || current.etag !== opts.ifMatch) throw new PreconditionFailedError(key);
    }
    // Nothing to keep: replace atomically, so a crash cannot expose a torn first write.
    if (keepBytes === 0) {
      await this.put(key, concatBytes(body), opts.ifNoneMatch ? { ifNoneMatch: true } : {});
      return { etag: (await this.head(key))?.etag ?? '' };
    }
    const file = this.pathOf(key);
    let fh: FileHandle;
    try {
      fh = await fs.open(file, fsc.O_RDWR);
    } catch (e) {
      throw this.missingOr(e, key, 'append');
    }
    try {
      const size = (await fh.stat()).size;
      if (size < keepBytes) throw new InvalidRangeError(key, `object has ${size} bytes, cannot keep ${keepBytes}`);
      // Bytes below keepBytes are never written, so concurrent readers of that range are safe.
      await writevAll(fh, body, keepBytes);
      const newSize = keepBytes + length;
      if (size > newSize) await fh.truncate(newSize);
      // fdatasync also flushes the size change, which is all that is needed to read the data.
      if (this.sync) await fh.datasync();
      return { etag: etagOf(await fh.stat({ bigint: true })) };
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw this.wrap(e, key, 'append');
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {}

  /** Maps a key to its file, refusing anything that could escape root or collide with temp files. */
  pathOf(key: string): string {
    if (typeof key !== 'string' || key.length === 0) throw new StorageError('invalid key: empty');
    if (key.includes('\0')) throw new StorageError(`invalid key ${JSON.stringify(key)}: contains NUL`);
    if (key.startsWith('/') || path.isAbsolute(key)) throw new StorageError(`invalid key ${JSON.stringify(key)}: absolute`);
    for (const seg of key.split('/')) {
      if (seg === '') throw new StorageError(`invalid key ${JSON.stringify(key)}: empty path segment`);
      if (seg === '.' || seg === '..') throw new StorageError(`invalid key ${JSON.stringify(key)}: relative segment`);
      if (seg.startsWith(TEMP_PREFIX)) throw new StorageError(`invalid key ${JSON.stringify(key)}: reserved prefix`);
      if (Buffer.byteLength(seg) > 255) throw new StorageError(`invalid key ${JSON.stringify(key)}: segment over 255 bytes`);
    }
    return path.join(this.root, key);
  }

  /** Writes body to a new fsynced temp file in dir (creating dir if needed) and returns its path. */
  private async writeTemp(dir: string, body: Uint8Array): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const tmp = path.join(dir, TEMP_PREFIX + randomBytes(8).toString('hex'));
      let fh: FileHandle;
      try {
        fh = await fs.open(tmp, 'wx');
      } catch (e) {
        // The directory may not exist yet, or a concurrent delete pruned it: (re)create it.
        if (codeOf(e) === 'ENOENT' && attempt < 5) {
          await this.ensureDir(dir);
          continue;
        }
        throw this.wrap(e, dir, 'put');
      }
      try {
        await writeAll(fh, body, 0);
        if (this.sync) await fh.datasync();
      } catch (e) {
        await fh.close().catch(() => undefined);
        await fs.unlink(tmp).catch(() => undefined);
        throw this.wrap(e, dir, 'put');
      }
      await fh.close();
      return tmp;
    }
  }

  /** mkdir -p, then fsync every directory that gained an entry so the new path survives a crash. */
  private async ensureDir(dir: string): Promise<void> {
    let first: string | undefined;
    try {
      first = await fs.mkdir(dir, { recursive: true });
    } catch (e) {
      if (codeOf(e) === 'EEXIST' || codeOf(e) === 'ENOTDIR') {
        throw new StorageError(`cannot create folder ${dir}: a path component is an object (key nests under another key)`);
      }
      throw this.wrap(e, dir, 'mkdir');
    }
    if (first === undefined) return;
    for (let d = dir; ; d = path.dirname(d)) {
      await this.syncDir(path.dirname(d));
      if (d === first || d === this.root || path.dirname(d) === d) break;
    }
  }

  private async pruneEmptyDirs(dir: string): Promise<void> {
    for (let d = dir; d !== this.root && d.startsWith(this.root + path.sep); d = path.dirname(d)) {
      try {
        await fs.rmdir(d);
      } catch {
        return; // not empty (or gone): stop climbing
      }
    }
  }

  private missingOr(e: unknown, key: string, op: string): Error {
    const c = codeOf(e);
    if (c === 'ENOENT' || c === 'ENOTDIR' || c === 'EISDIR') return new ObjectNotFoundError(key);
    return this.wrap(e, key, op);
  }

  private wrap(e: unknown, key: string, op: string): Error {
    if (e instanceof StorageError) return e;
    const c = codeOf(e);
    const retriable = c === 'EMFILE' || c === 'ENFILE' || c === 'EAGAIN' || c === 'EBUSY';
    const hint = c === 'EISDIR' || c === 'ENOTDIR' ? ' (a key cannot be both an object and a folder of other keys)' : '';
    return new StorageError(`local ${op} ${key}: ${(e as Error).message}${hint}`, retriable, { cause: e });
  }
}

/** A file's identity and version: inode, size and nanosecond mtime change with every write. */
function etagOf(st: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `"${st.ino.toString(36)}-${st.size.toString(36)}-${st.mtimeNs.toString(36)}"`;
}

async function writeAll(fh: FileHandle, body: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < body.length) {
    const { bytesWritten } = await fh.write(body, done, body.length - done, position + done);
    done += bytesWritten;
  }
}

/** `parts` end to end from `position`, with as few writev calls as the system takes. */
async function writevAll(fh: FileHandle, parts: readonly Uint8Array[], position: number): Promise<void> {
  let pending = parts.filter((p) => p.length > 0);
  while (pending.length > 0) {
    const batch = pending.slice(0, MAX_IOVECS);
    let { bytesWritten } = await fh.writev(batch, position);
    if (bytesWritten <= 0) throw new Error(`writev wrote nothing at ${position}`);
    position += bytesWritten;
    // Drop what was written; a part written in part keeps its rest.
    let i = 0;
    while (i < pending.length && bytesWritten >= pending[i]!.length) bytesWritten -= pending[i++]!.length;
    pending = pending.slice(i);
    if (bytesWritten > 0) pending[0] = pending[0]!.subarray(bytesWritten);
  }
}

/** Parts per writev: Linux's IOV_MAX. */
const MAX_IOVECS = 1024;

/** fsync a directory so entries added or removed in it are durable. A directory that is gone
 * (pruned by a concurrent delete) has nothing left to make durable. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await fs.open(dir, 'r');
  } catch (e) {
    if (codeOf(e) === 'ENOENT') return;
    throw e;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function checkRange(key: string, r: ByteRange): void {
  if (!Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start < 0 || r.end < r.start) {
    throw new InvalidRangeError(key, `bad range [${r.start}, ${r.end})`);
  }
}
