// Wiring: config → storage adapters → engine. Shared by the Node server, the job runners and
// the Lambda handlers, so every entry point builds Samsa the same way.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config';
import { LogEngine } from './log/engine';
import { codecsReady } from './records';
import { LocalObjectStore } from './storage/local-object-store';
import type { MetaStore, ObjectStore } from './storage/ports';
import { SqliteMetaStore } from './storage/sqlite-meta-store';
import type { Clock } from './util/clock';

export interface Stores {
  meta: MetaStore;
  objects: ObjectStore;
  close(): Promise<void>;
}

export async function openStores(cfg: Config): Promise<Stores> {
  if (cfg.storage === 'aws') {
    // Loaded only in AWS mode: the SDK costs embedded start-up time it does not need.
    const [{ makeDynamoClient, makeS3Client }, { DynamoMetaStore }, { S3ObjectStore }] = await Promise.all([
      import('./storage/aws-clients'),
      import('./storage/dynamo-meta-store'),
      import('./storage/s3-object-store'),
    ]);
    const objects: ObjectStore = new S3ObjectStore({ client: makeS3Client(), bucket: cfg.bucket });
    const meta: MetaStore = new DynamoMetaStore({ client: makeDynamoClient(), table: cfg.table });
    return { meta, objects, close: async () => void (await Promise.all([objects.close?.(), meta.close?.()])) };
  }
  fs.mkdirSync(cfg.dataDir, { recursive: true });
  const meta: MetaStore = new SqliteMetaStore({ path: path.join(cfg.dataDir, 'meta.sqlite'), fsync: cfg.fsync });
  // Segment objects live at <data dir>/objects/topics/<topic>/<partition>/..., as in the bucket.
  const objects: ObjectStore = new LocalObjectStore({ root: path.join(cfg.dataDir, 'objects'), fsync: cfg.fsync });
  return { meta, objects, close: async () => void (await Promise.all([objects.close?.(), meta.close?.()])) };
}

export async function openEngine(cfg: Config, clock?: Clock): Promise<{ engine: LogEngine; stores: Stores }> {
  await codecsReady();
  const stores = await openStores(cfg);
  const engine = new LogEngine(stores.meta, stores.objects, clock, {
    ...(cfg.flushDelayMs >= 0 ? { eagerFlushDelayMs: cfg.flushDelayMs } : {}),
    // Every AWS-mode instance only sees its own commits; re-check the store while waiting.
    longPollRecheckMs: cfg.storage === 'aws' ? 200 : 1000,
  });
  return { engine, stores };
}
