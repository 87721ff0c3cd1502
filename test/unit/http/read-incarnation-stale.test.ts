// Reads on a process whose lookup of the name does not know the incarnation now under it:
// one naming its incarnation (`topic_id`, design note 0007), and a bulk read that names none. The topic lookup reads eventually consistently
// (topics.ts, find), and on DynamoDB such a read may still return the item a write just
// replaced: right after a delete and re-create, the deleted incarnation. A reader continuing
// the new topic (its id from the topic's description) was then told that its topic had been
// deleted and the name held another one — the deleted one.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../lib/http/app';
import { LogEngine } from '../../../lib/log/engine';
import { topicKey } from '../../../lib/log/keys';
import { silentLogger } from '../../../lib/obs/logger';
import { describeAws } from '../../helpers/aws';
import { awsStores, freshStoresEachTest, laggingReplica, localStores, type TestStores } from '../../helpers/stores';

function scenario(stores: () => Promise<TestStores>): void {
  const { setup, closing } = freshStoresEachTest(stores, 'lag');
  it('a fetch naming the re-created topic is answered from it, though an eventually consistent read still returns the deleted one', async () => {
    const s = await setup();
    const admin = closing(new LogEngine(s.meta, s.objects));
    const replica = laggingReplica(s.meta);
    const reader = closing(new LogEngine(replica.meta, s.objects));
    const app = createApp({ engine: reader, logger: silentLogger });
    const fetch = (q = '') => app.request(`/v1/topics/${s.name}/partitions/0/records?offset=0${q}`);

    const old = await admin.createTopic(s.name, 1);
    await admin.produce(s.name, [{ value: new TextEncoder().encode('old-0') }]);
    expect((await fetch()).headers.get('x-samsa-topic-id')).toBe(old.id);
    replica.lagOn(topicKey(s.name), await s.meta.get(topicKey(s.name)));

    await admin.deleteTopic(s.name);
    const fresh = await admin.createTopic(s.name, 1);
    await admin.produce(s.name, [{ value: new TextEncoder().encode('new-0') }, { value: new TextEncoder().encode('new-1') }]);

    // Was: 404 UNKNOWN_TOPIC_OR_PARTITION, "(id <new>) was deleted; the name now holds another topic (id <old>)".
    const r = await fetch(`&topic_id=${fresh.id}`);
    const body = (await r.json()) as { records?: Array<{ value: string }>; error_code?: string; message?: string };
    expect(r.status, JSON.stringify(body)).toBe(200);
    expect(r.headers.get('x-samsa-topic-id')).toBe(fresh.id);
    expect(body.records?.map((x) => Buffer.from(x.value, 'base64').toString())).toEqual(['new-0', 'new-1']);
    // The deleted incarnation, named, is still refused.
    expect((await fetch(`&topic_id=${old.id}`)).status).toBe(404);
  });

  // The segments route (bulk reads) on a process whose lookup still names the deleted
  // incarnation: a fetch there is refused by the incarnation's tombstoned heads (404, retry to
  // reach the topic now under the name), but the segments route read the head without that
  // check and answered 200 with the deleted topic's segments (or, once its data was removed,
  // an empty log) as the topic's: a bulk reader starting right after a re-create read the
  // old records, or none of the new topic's.
  it('the segments route on a process whose lookup still names the deleted incarnation refuses it, and its retry reads the new topic', async () => {
    const s = await setup();
    const admin = closing(new LogEngine(s.meta, s.objects));
    const replica = laggingReplica(s.meta);
    const reader = closing(new LogEngine(replica.meta, s.objects));
    const app = createApp({ engine: reader, logger: silentLogger });
    const segments = () => app.request(`/v1/topics/${s.name}/partitions/0/segments`);
    const enc = new TextEncoder();

    const old = await admin.createTopic(s.name, 1, { 'segment.bytes': 1024 });
    for (let i = 0; i < 8; i++) await admin.produce(s.name, [{ value: enc.encode(`old-${i}-${'o'.repeat(300)}`) }]);
    await admin.flushPartition(old, 0);
    const before = await segments();
    expect(before.status).toBe(200);
    expect(((await before.json()) as { segments: unknown[] }).segments.length).toBeGreaterThan(0);
    replica.lagOn(topicKey(s.name), await s.meta.get(topicKey(s.name)));

    await admin.deleteTopic(s.name);
    const fresh = await admin.createTopic(s.name, 1, { 'segment.bytes': 1024 });
    for (let i = 0; i < 8; i++) await admin.produce(s.name, [{ value: enc.encode(`new-${i}-${'n'.repeat(300)}`) }]);
    await admin.flushPartition(fresh, 0);

    // Was: 200, x-samsa-topic-id the deleted incarnation's, and its segments.
    const stale = await segments();
    const body = (await stale.json()) as { error_code?: string };
    expect(stale.status).toBe(404);
    expect(body.error_code).toBe('UNKNOWN_TOPIC_OR_PARTITION');
    const retried = await segments();
    expect(retried.status).toBe(200);
    expect(retried.headers.get('x-samsa-topic-id')).toBe(fresh.id);
  });
}

describeAws('a read by incarnation behind an eventually consistent lookup, on DynamoDB + S3 (emulator)', () => scenario(awsStores));
describe('a read by incarnation behind an eventually consistent lookup, on SQLite + local files', () => scenario(() => localStores('samsa-lag-')));
