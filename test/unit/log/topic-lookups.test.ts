// Concurrent lookups of one topic share one metadata read (issue 15: an idle group member's
// poll looked its topic up once per partition, each a DynamoDB read once the 1 s cache expired).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { TopicRegistry } from '../../../lib/log/topics';
import { countingMetaStore } from '../../../lib/storage/counting';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';

let dir: string;
let store: SqliteMetaStore;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-topics-'));
  store = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('six concurrent partition lookups after the cache expired make one read; fresh lookups still read', async () => {
  const clock = new ManualClock();
  const meta = countingMetaStore(store);
  const topics = new TopicRegistry(meta, clock);
  await topics.create('t', 6);
  clock.advance(5000);
  meta.counts.reset();
  const got = await Promise.all([0, 1, 2, 3, 4, 5].map((p) => topics.partition('t', p)));
  expect(new Set(got.map((t) => t.id)).size).toBe(1);
  expect(meta.counts.snapshot().calls.get).toBe(1);
  // Cached now; a fresh lookup reads anyway, even alongside a shared one.
  clock.advance(5000);
  meta.counts.reset();
  await Promise.all([topics.find('t'), topics.find('t', { fresh: true }), topics.find('t')]);
  expect(meta.counts.snapshot().calls.get).toBe(2);
  // A missing topic is not remembered: the next lookup reads again — each miss twice, since
  // an eventually consistent "absent" is confirmed by a strongly consistent read.
  meta.counts.reset();
  await Promise.all([topics.find('nope'), topics.find('nope')]);
  await topics.find('nope');
  expect(meta.counts.snapshot().calls.get).toBe(4);
});

it('a cached lookup reads eventually consistently (half price on DynamoDB); a miss and a fresh lookup read strongly', async () => {
  const clock = new ManualClock();
  const reads: Array<boolean | undefined> = [];
  const spy = Object.assign(Object.create(store) as SqliteMetaStore, {
    get: (key: Parameters<SqliteMetaStore['get']>[0], opts?: { consistent?: boolean }) => {
      reads.push(opts?.consistent);
      return store.get(key);
    },
  });
  const topics = new TopicRegistry(spy, clock);
  await topics.create('t', 1);
  clock.advance(5000);
  await topics.find('t');
  expect(reads).toEqual([false]);
  reads.length = 0;
  await topics.find('t', { fresh: true });
  await topics.find('gone');
  expect(reads).toEqual([undefined, false, undefined]);
});
