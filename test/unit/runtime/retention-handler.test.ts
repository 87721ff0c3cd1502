// The retention function's handler on the embedded stores: the API's hand-off of a topic
// deletion (lib/runtime/lambda/deletion-handoff.ts) waits out the deletion grace, within the
// invocation's time, then removes the deleted topics' data (the name itself is free from the
// deletion on); anything else is the scheduled pass.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { TOPIC_DELETIONS_PK } from '../../../lib/log/keys';
import { DEFAULT_RETENTION_OPTIONS } from '../../../lib/log/retention';
import { codecsReady, encodeRecordBatch } from '../../../lib/records';
import { deletionHandOff, type DeletionRequest } from '../../../lib/runtime/lambda/deletion-handoff';
import { retentionHandler } from '../../../lib/runtime/lambda/retention-handler';
import { localStores } from '../../helpers/stores';

beforeAll(codecsReady);
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const c of opened.splice(0).reverse()) await c.close();
});

const GRACE = 400;

async function setup(): Promise<{ engine: LogEngine; sent: DeletionRequest[]; pending: () => Promise<number> }> {
  const stores = await localStores('samsa-retention-handler-');
  opened.push({ close: stores.cleanup });
  const sent: DeletionRequest[] = [];
  const engine = new LogEngine(stores.meta, stores.objects, undefined, {
    retention: { ...DEFAULT_RETENTION_OPTIONS, deletionGraceMs: GRACE },
    onTopicDeleted: deletionHandOff(async (p) => void sent.push(p)),
  });
  opened.push(engine);
  // Deletions whose data is still to be removed (their markers).
  const pending = async (): Promise<number> => (await stores.meta.query({ pk: TOPIC_DELETIONS_PK })).items.length;
  return { engine, sent, pending };
}

it('a hand-off waits out the grace and removes the deleted topic’s data, under the topic created again at once', async () => {
  const { engine, sent, pending } = await setup();
  await engine.createTopic('t', 2);
  await engine.produceBatches('t', 1, encodeRecordBatch([{ value: new TextEncoder().encode('old') }]));
  await engine.deleteTopic('t');
  expect(sent).toEqual([{ samsa: 'topic-deleted', topic: 't', topic_id: expect.any(String), deleted_at: expect.any(Number) }]);
  const again = await engine.createTopic('t', 1);
  expect(again.id).not.toBe(sent[0]!.topic_id);
  expect(await pending()).toBe(1);

  const waits: number[] = [];
  const handler = retentionHandler(engine, (ms) => (waits.push(ms), new Promise((r) => setTimeout(r, ms))));
  expect(await handler(sent[0], { getRemainingTimeInMillis: () => 300_000 })).toMatchObject({ job: 'retention', deletion: 't', deletedTopics: 1 });
  expect(waits).toHaveLength(1);
  expect(waits[0]).toBeGreaterThan(0);
  expect(waits[0]).toBeLessThanOrEqual(GRACE + 250);
  expect(await pending()).toBe(0);
  expect((await engine.describeTopic('t')).topic.id).toBe(again.id);
  expect((await engine.describeTopic('t')).partitions[0]!.high_watermark).toBe(0);
});

it('an invocation without the time to wait out the grace leaves the deletion to the schedule, and says so', async () => {
  const { engine, sent, pending } = await setup();
  await engine.createTopic('u', 1);
  await engine.deleteTopic('u');
  const waits: number[] = [];
  const handler = retentionHandler(engine, async (ms) => void waits.push(ms));
  // 30 s of the remaining time are kept for the deletion itself: no room to wait here.
  expect(await handler(sent[0], { getRemainingTimeInMillis: () => 30_000 })).toMatchObject({ deletion: 'u', deletedTopics: 0 });
  expect(waits.every((w) => w <= 0)).toBe(true);
  expect(await pending()).toBe(1);
  // The scheduled pass, once due, finishes it.
  await new Promise((r) => setTimeout(r, GRACE + 50));
  expect(await handler({ 'detail-type': 'Scheduled Event' })).toMatchObject({ job: 'retention', deletedTopics: 1, partitions: expect.any(Number) });
  expect(await pending()).toBe(0);
});

it('an event that only looks like a hand-off is the scheduled pass', async () => {
  const { engine } = await setup();
  const handler = retentionHandler(engine, async () => {
    throw new Error('no wait expected');
  });
  for (const e of [{ samsa: 'topic-deleted', topic: 5, topic_id: 'x', deleted_at: 1 }, { samsa: 'topic-deleted', topic: 't' }, null, 'x']) {
    expect(await handler(e)).toMatchObject({ job: 'retention', partitions: expect.any(Number) });
  }
});
