// Wiring: config → storage adapters → engine. Shared by the Node server and the job runners,
// so every entry point builds Samsa the same way. The Lambda handlers use aws.ts
// directly: this module imports the embedded adapters (native SQLite) statically.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from './config';
import type { EngineOptions } from '../log/engine';
import { type Runtime, runtimeOn, type Stores } from './core';
import { LocalObjectStore } from '../storage/local-object-store';
import type { MetaStore, ObjectStore } from '../storage/ports';
import { SqliteMetaStore } from '../storage/sqlite-meta-store';
import type { Clock } from '../util/clock';

export type { Runtime, Stores } from './core';

export async function openStores(cfg: Config): Promise<Stores> {
  if (cfg.storage === 'aws') {
    // Loaded only in AWS mode: the SDK costs embedded start-up time it does not need.
    const { openAwsStores } = await import('./aws');
    return openAwsStores(cfg);
  }
  fs.mkdirSync(cfg.dataDir, { recursive: true });
  const meta: MetaStore = new SqliteMetaStore({ path: path.join(cfg.dataDir, 'meta.sqlite'), fsync: cfg.fsync });
  // Segment objects live at <data dir>/objects/topics/<topic>/<topic id>/<partition>/..., as in the bucket.
  const objects: ObjectStore = new LocalObjectStore({ root: path.join(cfg.dataDir, 'objects'), fsync: cfg.fsync });
  return { meta, objects, close: async () => void (await Promise.all([objects.close?.(), meta.close?.()])) };
}

export async function openEngine(cfg: Config, clock?: Clock, extra: Partial<EngineOptions> = {}): Promise<Runtime> {
  return runtimeOn(cfg, await openStores(cfg), clock, extra);
}
