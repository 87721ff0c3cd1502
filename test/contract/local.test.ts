// Runs the port contracts against the embedded adapters: a folder-backed ObjectStore and
// SQLite MetaStore (on disk, and in memory). Each test gets a fresh temp directory.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalObjectStore } from '../../lib/storage/local-object-store.js';
import { SqliteMetaStore } from '../../lib/storage/sqlite-meta-store.js';
import { metaStoreContract } from './meta-store.contract.js';
import { objectStoreContract } from './object-store.contract.js';

const tempDir = () => fs.mkdtemp(path.join(os.tmpdir(), 'samsa-contract-'));

objectStoreContract('local folder', async () => {
  const root = await tempDir();
  const store = new LocalObjectStore({ root });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
});

metaStoreContract('sqlite file', async () => {
  const dir = await tempDir();
  const store = new SqliteMetaStore({ path: path.join(dir, 'meta.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
});

metaStoreContract('sqlite :memory:', async () => {
  const store = new SqliteMetaStore({ path: ':memory:' });
  return { store, cleanup: () => store.close() };
});
