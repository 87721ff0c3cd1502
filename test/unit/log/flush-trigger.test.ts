// The hand-off to a flush function (AWS mode): a partition is handed over once this process
// committed flushTriggerBytes to it since the last hand-off, however many windows that took —
// small flushes cost more than the data they move (design note 0006).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { handOffFlushes, inProcessFlushes } from '../../../lib/log/flush-scheduler';
import type { Topic } from '../../../lib/log/topics';
import { loadConfig } from '../../../lib/runtime/config';
import { flushSchedulerOption } from '../../../lib/runtime/core';
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
    { flushScheduler: handOffFlushes({ windowMs: 5, triggerBytes: 3000, handOff: (_t, p) => void handed.push(p) }) },
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

it('flushes in process after the delay, and retries a flush that found the lease taken a few times only', async () => {
  const calls: number[] = [];
  const scheduler = inProcessFlushes({ delayMs: 5, retryAfterMs: 5, retries: 2 })(async (_t, p) => {
    calls.push(p);
    return { skipped: true };
  });
  const topic = { name: 't', id: 'x', partitions: 1 } as Topic;
  scheduler.committed(topic, 0, 10);
  scheduler.committed(topic, 0, 10); // within the delay: one flush covers both
  await vi.waitFor(() => expect(calls).toEqual([0, 0, 0]), { timeout: 5000 });
  await sleep(50);
  expect(calls).toEqual([0, 0, 0]); // the first try and two retries
  scheduler.close();
  scheduler.committed(topic, 0, 10);
  await sleep(30);
  expect(calls).toEqual([0, 0, 0]); // closed: nothing more
});

it('SAMSA_FLUSH_DELAY_MS is the in-process delay; the hand-off window has its own variable and falls back to it', () => {
  const handOff = (): void => undefined;
  const embedded = loadConfig({ SAMSA_FLUSH_DELAY_MS: '70' });
  expect([embedded.flushDelayMs, embedded.flushTriggerWindowMs]).toEqual([70, 70]);
  expect(flushSchedulerOption(embedded).flushScheduler).toBeDefined();
  const aws = loadConfig({ SAMSA_STORAGE: 'aws' });
  expect([aws.flushDelayMs, aws.flushTriggerWindowMs]).toEqual([-1, -1]);
  expect(flushSchedulerOption(aws, handOff)).toEqual({}); // neither: only the flush job
  const lambda = loadConfig({ SAMSA_STORAGE: 'aws', SAMSA_FLUSH_TRIGGER_WINDOW_MS: '5000' });
  expect([lambda.flushDelayMs, lambda.flushTriggerWindowMs]).toEqual([-1, 5000]);
  expect(flushSchedulerOption(lambda, handOff).flushScheduler).toBeDefined();
  expect(flushSchedulerOption(lambda).flushScheduler).toBeUndefined(); // a window without a hand-off flushes nothing here
  expect(() => loadConfig({ SAMSA_FLUSH_TRIGGER_WINDOW_MS: 'x' })).toThrow(/SAMSA_FLUSH_TRIGGER_WINDOW_MS/);
});
