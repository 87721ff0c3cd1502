// A deleted topic's name is free at once, as in KRaft Kafka: the delete removes the topic item
// and queues a deletion marker keyed by the incarnation's id; the retention pass removes the
// incarnation's data later (design note 0007, "Deleted topics"). A script that deletes and
// re-creates a topic (KafkaJS `admin.createTopics` answers false on TOPIC_ALREADY_EXISTS) used to
// end with no topic and no error. Run on SQLite + local files and on S3 + DynamoDB (emulator).
import { describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { partitionPk, topicDir, walPrefix } from '../../../lib/log/keys';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { ManualClock } from '../../../lib/util/clock';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, localStores, type TestStores } from '../../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null | undefined): string => new TextDecoder().decode(b ?? new Uint8Array(0));
const GRACE = DEFAULT_RETENTION_OPTIONS.deletionGraceMs;

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'recreate');
  const engineOn = (s: TestStores, clock: ManualClock): LogEngine =>
    closing(new LogEngine(s.meta, s.objects, clock, { inlineMaxBytes: 1024, flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 } }));
  const keys = async (s: TestStores, prefix: string): Promise<string[]> => (await s.objects.list(prefix)).objects.map((o) => o.key);
  const values = async (e: LogEngine, name: string, partition = 0): Promise<string[]> =>
    (await e.fetch(name, partition, { offset: 0, maxRecords: 1000 })).records().map((r) => dec(r.value));

  it('delete, then create the name at once: the new topic is empty and writable, and the old one’s data is still removed', async () => {
    const s = await setup();
    const clock = new ManualClock(Date.now());
    const e = engineOn(s, clock);
    await e.createTopic(s.name, 2, { 'segment.bytes': 1024 });
    for (let i = 0; i < 6; i++) await e.produce(s.name, [{ value: enc(`old-${i}-${'o'.repeat(200)}`), partition: 0 }]);
    await e.produce(s.name, [{ value: enc('w'.repeat(5000)), partition: 1 }]); // a write-ahead object
    const old = await e.topics.get(s.name);
    await e.flushPartition(old, 0);
    expect(await keys(s, topicDir(old))).not.toEqual([]);
    expect(await keys(s, walPrefix(old.id))).toHaveLength(1);

    await e.deleteTopic(s.name);
    // Was: TOPIC_ALREADY_EXISTS, "marked for deletion; retry once its data is removed".
    const fresh = await e.createTopic(s.name, 1);
    expect(fresh.id).not.toBe(old.id);
    expect((await e.describeTopic(s.name)).partitions).toEqual([expect.objectContaining({ partition: 0, log_start_offset: 0, high_watermark: 0 })]);
    expect(await values(e, s.name)).toEqual([]);
    await e.produce(s.name, [{ value: enc('new-0') }, { value: enc('new-1') }]);
    await e.flushPartition(fresh, 0);
    expect(await values(e, s.name)).toEqual(['new-0', 'new-1']);
    const freshObjects = await keys(s, topicDir(fresh));
    expect(freshObjects).not.toEqual([]);

    // The old incarnation's data goes after the deletion grace, and nothing of the new topic's.
    clock.advance(GRACE + 1);
    expect((await e.retention.runOnce()).deletedTopics).toBe(1);
    expect(await keys(s, topicDir(old))).toEqual([]);
    expect(await keys(s, walPrefix(old.id))).toEqual([]);
    for (const p of [0, 1]) expect((await s.meta.query({ pk: partitionPk(old.id, p) })).items).toEqual([{ pk: partitionPk(old.id, p), sk: 'head', deleted: true }]);
    expect(await keys(s, topicDir(fresh))).toEqual(freshObjects);
    expect(await values(e, s.name)).toEqual(['new-0', 'new-1']);
    expect((await e.retention.runOnce()).deletedTopics).toBe(0);
  });
}

describe('a deleted topic’s name is free at once, on SQLite + local files', () => scenario(() => localStores('samsa-recreate-')));
describeAws('a deleted topic’s name is free at once, on S3 + DynamoDB (emulator)', () => scenario(awsStores));
