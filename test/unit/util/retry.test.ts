// Conflict backoff (lib/util/retry.ts) and its use by the committer: a lost race is retried at
// once, then after jittered pauses that grow exponentially up to a cap, so K racing writers do
// not spend O(K²) conditional writes in lockstep.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConditionFailedError } from '../../../lib/errors';
import { Committer } from '../../../lib/log/commit';
import { headKey } from '../../../lib/log/keys';
import { Notifier } from '../../../lib/log/notifier';
import { TopicRegistry } from '../../../lib/log/topics';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { faultyMetaStore } from '../../../lib/storage/faults';
import { LocalObjectStore } from '../../../lib/storage/local-object-store';
import { SqliteMetaStore } from '../../../lib/storage/sqlite-meta-store';
import { systemClock } from '../../../lib/util/clock';
import { backoffDelay, retryOnConflict } from '../../../lib/util/retry';

class Conflict extends Error {}

describe('retryOnConflict', () => {
  it('retries a conflict at once, then with full-jitter pauses doubling up to the cap', async () => {
    const slept: number[] = [];
    let calls = 0;
    const out = await retryOnConflict(
      async (n) => {
        calls++;
        if (n < 8) throw new Conflict();
        return 'done';
      },
      (e) => e instanceof Conflict,
      { baseMs: 2, maxMs: 20, random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
    );
    expect(out).toBe('done');
    expect(calls).toBe(8);
    // Attempt 2 goes at once; then ceilings 2, 4, 8, 16, 20 (capped), 20, each halved by random = 0.5.
    expect(slept).toEqual([1, 2, 4, 8, 10, 10]);
  });

  it('draws each pause uniformly below its ceiling', () => {
    expect(backoffDelay(5, { baseMs: 2, random: () => 0 })).toBe(0);
    expect(backoffDelay(5, { baseMs: 2, random: () => 0.999 })).toBeCloseTo(7.992);
    expect(backoffDelay(1)).toBe(0);
    expect(backoffDelay(2)).toBe(0);
  });

  it('rethrows other errors at once, and gives up after maxAttempts with the error `exhausted` builds', async () => {
    let calls = 0;
    await expect(
      retryOnConflict(
        async () => {
          calls++;
          throw new Error('boom');
        },
        (e) => e instanceof Conflict,
        { sleep: async () => {} },
      ),
    ).rejects.toThrow('boom');
    expect(calls).toBe(1);
    await expect(
      retryOnConflict(
        async () => {
          throw new Conflict();
        },
        (e) => e instanceof Conflict,
        { maxAttempts: 4, sleep: async () => {}, exhausted: () => new Error('too much contention') },
      ),
    ).rejects.toThrow('too much contention');
  });
});

describe('the committer backs off between lost races', () => {
  it.each([false, true])('pauses before the third and later attempts (head-only commits: %s)', async (headOnlyCommits) => {
    await codecsReady();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-backoff-'));
    try {
      const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
      const objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
      const topic = await new TopicRegistry(meta, systemClock).create('t', 1);
      // Another writer got there first, four times over: each failure returns the (unchanged) head.
      const fm = faultyMetaStore(meta);
      const head = await meta.write({ type: 'update', key: headKey(topic.id, 0), set: { next_offset: 3 } });
      const lost = new ConditionFailedError(headOnlyCommits ? 0 : 1, head);
      fm.faults.add({ method: headOnlyCommits ? 'write' : 'transact', times: 4, action: { kind: 'fail', error: lost } });
      const slept: number[] = [];
      const committer = new Committer(fm, objects, new Notifier(), {
        inlineMaxBytes: 1 << 20,
        headOnlyCommits,
        backoff: { baseMs: 4, random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
      });
      const payload = encodeRecordBatch([{ value: new TextEncoder().encode('x') }]);
      const [r] = await committer.commit([{ topic, partition: 0, payload, batchStarts: [0], batchCounts: [1], maxTs: 0 }]);
      expect(r!.batchBases).toEqual([3]);
      expect(slept).toEqual([2, 4, 8]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
