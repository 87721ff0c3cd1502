// Storage for engine-level tests, both kinds behind the ports: a fresh SQLite file and object
// folder, or a fresh bucket and table on the emulator. Each comes with its own cleanup.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { codecsReady } from '../../lib/records';
import { LocalObjectStore } from '../../lib/storage/local-object-store';
import type { MetaItem, MetaKey, MetaStore, ObjectStore } from '../../lib/storage/ports';
import { SqliteMetaStore } from '../../lib/storage/sqlite-meta-store';
import { makeDynamoStore, makeS3Store } from './aws';

export interface TestStores {
  meta: MetaStore;
  objects: ObjectStore;
  cleanup(): Promise<void>;
}

export async function localStores(prefix = 'samsa-test-'): Promise<TestStores> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
  const objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
  return {
    meta,
    objects,
    cleanup: async () => {
      await meta.close?.();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new bucket and table on the emulator (call inside describeAws). */
export async function awsStores(): Promise<TestStores> {
  const [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
  return { meta: ddb.store, objects: s3.store, cleanup: async () => void (await Promise.all([s3.cleanup(), ddb.cleanup()])) };
}

/**
 * For a describe block of engine-level tests: `setup()` gives each test fresh stores and a
 * random topic name, `closing(x)` registers what the test opened; all of it is closed after
 * each test, last opened first.
 */
export function freshStoresEachTest(stores: () => Promise<TestStores>, namePrefix: string): {
  setup(): Promise<TestStores & { name: string }>;
  closing<T extends { close(): Promise<void> }>(x: T): T;
} {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    async setup() {
      await codecsReady();
      const s = await stores();
      cleanups.push(s.cleanup);
      return { ...s, name: `${namePrefix}${Math.random().toString(36).slice(2, 8)}` };
    },
    closing(x) {
      cleanups.push(() => x.close());
      return x;
    },
  };
}

/**
 * `inner` behind a lagging replica: its eventually consistent reads (`consistent: false`) of a
 * key given to `lagOn` still return the item given there, as a DynamoDB read may for a while
 * after a write replaced it. Strongly consistent reads, and every other key, see the store.
 */
export function laggingReplica(inner: MetaStore): { meta: MetaStore; lagOn(key: MetaKey, item: MetaItem | undefined): void } {
  const stale = new Map<string, MetaItem | undefined>();
  const at = (k: MetaKey): string => `${k.pk}\u0000${k.sk}`;
  const get = async (key: MetaKey, opts?: { consistent?: boolean }): Promise<MetaItem | undefined> =>
    opts?.consistent === false && stale.has(at(key)) ? stale.get(at(key)) : inner.get(key, opts);
  const meta = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'get') return get;
      if (prop === 'batchGet') return undefined; // callers fall back to get
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { meta, lagOn: (key, item) => void stale.set(at(key), item) };
}
