// The embedded store's WAL checkpoints run in a worker thread, not inside a commit
// (lib/storage/sqlite-checkpointer.ts, issue 18): a commit that crosses SQLite's automatic
// checkpoint threshold no longer copies and syncs the WAL on the event loop, and the worker's
// checkpoints keep the WAL bounded all the same.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store.js';

const PAGE = 16384; // the store's page size for a new database
const VALUE = new Uint8Array(12 * 1024).fill(7); // a row that fills a leaf page's share and spills

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-ckpt-'));
  dirs.push(dir);
  return path.join(dir, 'meta.sqlite');
}

/** Frames the WAL file has room for: it is written from the start again after a full checkpoint, never shrunk. */
function walFrames(db: string): number {
  const size = fs.existsSync(`${db}-wal`) ? fs.statSync(`${db}-wal`).size : 0;
  return Math.max(0, Math.floor((size - 32) / (PAGE + 24)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SqliteMetaStore WAL checkpoints', () => {
  it('a commit never checkpoints the WAL itself, even past SQLite’s 1,000-page threshold', async () => {
    const file = tempDb();
    // A worker that waits far longer than the test runs: only a commit could checkpoint.
    const store = new SqliteMetaStore({ path: file, fsync: false, checkpointIntervalMs: 60_000 });
    try {
      for (let i = 0; i < 900; i++) await store.write({ type: 'put', item: { pk: 'p', sk: `s${String(i).padStart(5, '0')}`, v: VALUE } });
      // Had a commit checkpointed at 1,000 pages (SQLite's default), the next one would have
      // gone back to the start of the file and the WAL would hold about 1,000 frames.
      expect(walFrames(file)).toBeGreaterThan(1500); // 900 rows of about 3.3 pages each (under the backstop's 4,000)
      expect(store.checkpointStats()?.checkpoints).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('the worker checkpoints the WAL and keeps it bounded under steady writes; nothing is lost', async () => {
    const file = tempDb();
    const store = new SqliteMetaStore({ path: file, fsync: false, checkpointIntervalMs: 20 });
    let n = 0;
    const put = () => store.write({ type: 'put', item: { pk: 'p', sk: `s${String(n++).padStart(5, '0')}`, v: VALUE } });
    try {
      // The worker starts after 256 writes (small ones: the WAL file keeps its largest extent).
      for (let i = 0; i < 256; i++) await store.write({ type: 'put', item: { pk: 'w', sk: `w${i}`, v: i } });
      while (store.checkpointStats()!.checkpoints === 0) await sleep(10); // it is up
      // 40 bursts of 100 rows — over 13,000 pages of WAL in all, three times the commit's own
      // backstop threshold — with the loop free between them, as under a steady load.
      for (let burst = 0; burst < 40; burst++) {
        for (let i = 0; i < 100; i++) await put();
        // The loop free until the worker has completed a pass over this burst (at least 60 ms;
        // longer on a loaded machine, where a fixed pause let the worker fall behind and the
        // bound below fail although nothing was wrong).
        const before = store.checkpointStats()!.checkpoints;
        const until = Date.now() + 1000;
        await sleep(60);
        for (;;) {
          const s = store.checkpointStats()!;
          if ((s.checkpoints > before && s.checkpointedFrames === s.walFrames) || Date.now() > until) break;
          await sleep(10);
        }
      }
      const stats = store.checkpointStats()!;
      expect(stats.checkpointedFrames).toBeGreaterThan(0);
      // Reused from the start after each complete checkpoint: a few bursts' worth (about 330
      // pages each) at most, where the commit's backstop alone would have let it reach 4,000.
      expect(walFrames(file)).toBeLessThan(2000);
    } finally {
      await store.close();
    }
    const again = new SqliteMetaStore({ path: file, fsync: false });
    try {
      const all = await again.query({ pk: 'p' });
      expect(all.items.length).toBe(n);
      expect(all.items[n - 1]!.v).toEqual(VALUE);
    } finally {
      await again.close();
    }
  });

  it('an in-memory database has no worker; a file store starts one only once it has written a little', async () => {
    const mem = new SqliteMetaStore({ path: ':memory:' });
    for (let i = 0; i < 300; i++) await mem.write({ type: 'put', item: { pk: 'p', sk: `s${i}`, v: 1 } });
    expect(mem.checkpointStats()).toBeUndefined();
    await mem.close();
    const file = tempDb();
    const writer = new SqliteMetaStore({ path: file });
    for (let i = 0; i < 255; i++) await writer.write({ type: 'put', item: { pk: 'p', sk: 's', v: 1 } });
    expect(writer.checkpointStats()).toBeUndefined();
    await writer.transact([{ type: 'put', item: { pk: 'p', sk: 's', v: 1 } }]);
    expect(writer.checkpointStats()).toBeDefined();
    const reader = new SqliteMetaStore({ path: file });
    expect((await reader.get({ pk: 'p', sk: 's' }))?.v).toBe(1);
    expect(reader.checkpointStats()).toBeUndefined();
    await reader.close();
    await writer.close();
  });
});
