// The hand-off to a flush function (AWS mode): a partition is handed over once this process
// committed flushTriggerBytes to it since the last hand-off, however many windows that took —
// small flushes cost more than the data they move (design note 0006).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { codecsReady } from '../../../lib/records';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';

let dir: string;
beforeEach(async () => {
  await codecsReady();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-trigger-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

it('hands a partition over once enough bytes accumulated across windows, then starts counting again', async () => {
  const handed: number[] = [];
  const engine = new LogEngine(
    new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false }),
    new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false }),
    undefined,
    { eagerFlushDelayMs: 5, flushTriggerBytes: 3000, flushTrigger: (_t, p) => void handed.push(p) },
  );
  await engine.createTopic('t', 2);
  const kb = new Uint8Array(1000).fill(1);
  // One ~1 KB commit per window: nothing until the third.
  for (let i = 0; i < 2; i++) {
    await engine.produce('t', [{ value: kb, partition: 0 }]);
    await sleep(50); // the window closes without a hand-off
  }
  expect(handed).toEqual([]);
  await engine.produce('t', [{ value: kb, partition: 0 }]);
  await vi.waitFor(() => expect(handed).toEqual([0]), { timeout: 5000 });
  // The count restarted: one more commit is not enough, and other partitions count apart.
  await engine.produce('t', [{ value: kb, partition: 0 }]);
  await engine.produce('t', [{ value: kb, partition: 1 }]);
  await sleep(50);
  expect(handed).toEqual([0]);
  await engine.close();
});
