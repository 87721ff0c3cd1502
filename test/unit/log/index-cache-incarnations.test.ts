// The reader caches segment `.index` objects per process (lib/log/reader.ts, indexOf). Object
// keys are by topic name, which a topic deleted and created again shares with its predecessor:
// an index cached from the old incarnation must not steer a seek into the new one's `.log`.
// Before the fix, a fetch at offset 51 of the new incarnation used the old incarnation's entry
// for offset 50 (its position, 50 batches of 2070 bytes), which in the new `.log` (batches of
// 1035 bytes) is where offset 100 starts: the fetch silently returned 100 onwards.
import { describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined): string => new TextDecoder().decode(b ?? new Uint8Array(0));

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'idxcache');

  /** `n` records of `size`-byte values, one batch each (a value of v bytes is a v + 70 byte batch). */
  async function produce(e: LogEngine, name: string, n: number, tag: string, size: number): Promise<void> {
    for (let i = 0; i < n; i++) await e.produce(name, [{ value: enc(`${tag}${String(i).padStart(4, '0')}`.padEnd(size, '.')) }]);
  }

  it('a seek in a re-created topic does not use the deleted incarnation\'s cached .index', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = closing(new LogEngine(s.meta, s.objects, clock));
    await e.createTopic(s.name, 1);
    // First incarnation: 2070-byte batches, one segment extent of 100 (entered through the .index).
    await produce(e, s.name, 100, 'old-', 2000);
    await e.flushPartition(await e.topics.get(s.name), 0);
    const old = await e.fetch(s.name, 0, { offset: 75, maxBytes: 1, maxRecords: 1 });
    expect(old.records().map((r) => [r.offset, dec(r.value).slice(0, 8)])).toEqual([[75, 'old-0075']]);

    await e.deleteTopic(s.name);
    clock.advance(DEFAULT_RETENTION_OPTIONS.deletionGraceMs + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);

    // Second incarnation, same name and so the same object keys: 1035-byte batches.
    await e.createTopic(s.name, 1);
    await produce(e, s.name, 128, 'new-', 965);
    await e.flushPartition(await e.topics.get(s.name), 0);
    const r = await e.fetch(s.name, 0, { offset: 51, maxBytes: 1, maxRecords: 1 });
    expect(r.records().map((x) => [x.offset, dec(x.value).slice(0, 8)])).toEqual([[51, 'new-0051']]);
  });
}

describe('index cache across topic incarnations on SQLite + local files', () => scenario(() => localStores('samsa-idxcache-')));
describeAws('index cache across topic incarnations on S3 + DynamoDB (emulator)', () => scenario(awsStores));
