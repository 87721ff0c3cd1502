// An in-process Samsa for group tests: SqliteMetaStore(':memory:') + a temporary local object
// store, a manual wall clock, and any number of coordinators ("instances") over the same
// stores, each with its own monotonic clock, so tests move time without sleeping.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GroupCoordinator } from '../../../lib/groups/coordinator';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import type { MetaStore } from '../../../lib/storage/ports';
import { faultyMetaStore } from '../../../lib/storage/faults';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { ManualClock } from '../../../lib/util/clock';

export interface Harness {
  meta: MetaStore;
  engine: LogEngine;
  wall: ManualClock;
  /** One coordinator per simulated instance; their monotonic clocks start at different values. */
  instances: Array<{ coord: GroupCoordinator; mono: ManualClock }>;
  /** Move every instance's monotonic clock (and the wall clock) forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

export async function harness(opts: { instances?: number; wrap?: (m: MetaStore) => MetaStore } = {}): Promise<Harness> {
  await codecsReady();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-groups-'));
  const raw = new SqliteMetaStore({ path: ':memory:' });
  const meta = opts.wrap ? opts.wrap(raw) : raw;
  const objects = new LocalObjectStore({ root: dir });
  const wall = new ManualClock();
  const engine = new LogEngine(meta, objects, wall);
  const instances = Array.from({ length: opts.instances ?? 1 }, (_, i) => {
    // Unrelated origins: nothing may compare one instance's readings with another's.
    const mono = new ManualClock(1_000 + i * 7_777_777);
    return { mono, coord: new GroupCoordinator(meta, engine, { clock: wall, monotonic: mono, topicRefreshMs: 0 }) };
  });
  return {
    meta,
    engine,
    wall,
    instances,
    advance(ms) {
      wall.advance(ms);
      for (const i of instances) i.mono.advance(ms);
    },
    async close() {
      await engine.close();
      await raw.close?.();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Two instances over one metadata store whose calls a test can gate or fail (lib/storage/faults.ts),
 * and topic `t` of one partition: the setup of the race tests.
 */
export async function racingHarness(): Promise<{ h: Harness; faults: ReturnType<typeof faultyMetaStore>['faults']; coords: [GroupCoordinator, GroupCoordinator] }> {
  let faults!: ReturnType<typeof faultyMetaStore>['faults'];
  const h = await harness({
    instances: 2,
    wrap: (m: MetaStore) => {
      const f = faultyMetaStore(m);
      faults = f.faults;
      return f;
    },
  });
  await h.engine.createTopic('t', 1);
  return { h, faults, coords: h.instances.map((i) => i.coord) as [GroupCoordinator, GroupCoordinator] };
}
