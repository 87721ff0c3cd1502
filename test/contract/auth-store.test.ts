// The access-control store contract on SQLite (every run) and DynamoDB on the emulator.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteMetaStore } from '../../lib/storage/sqlite-meta-store';
import { describeAws, makeDynamoStore, perSuite } from '../helpers/aws';
import { authStoreContract } from './auth-store.contract';

authStoreContract('sqlite', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-auth-'));
  const store = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite') });
  return { store, cleanup: async () => (await store.close(), fs.rmSync(dir, { recursive: true, force: true })) };
});

describeAws('access control on the emulator', () => {
  authStoreContract('dynamodb', perSuite(() => makeDynamoStore()));
});
