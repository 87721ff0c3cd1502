// A request's partitions commit one by one where each commit is its own conditional write
// (head-only commits: DynamoDB; any idempotent request). When one partition commits and another
// is refused — its topic deleted under the request — the request was partly written, and a 4xx
// ("nothing was written") would be a lie: the AWS history run (CI seed 11) read records of a
// produce answered 404 "nothing was written", committed to partition 0 before the deletion
// reached partition 1. Partition 1's head is tombstoned alone here to place that moment.
import { afterEach, describe, expect, it } from 'vitest';
import { LogEngine } from '../../../lib/log/engine';
import { headKey } from '../../../lib/log/keys';
import { headUpdate } from '../../../lib/log/items';
import { codecsReady } from '../../../lib/records';
import { describeAws } from '../../helpers/aws';
import { awsStores, localStores, type TestStores } from '../../helpers/stores';

const enc = new TextEncoder();
const dec = new TextDecoder();
const rec = (v: string, partition: number) => ({ key: null, value: enc.encode(v), headers: [], partition });

function scenario(stores: () => Promise<TestStores>): void {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(headOnlyCommits: boolean) {
    await codecsReady();
    const s = await stores();
    cleanups.push(s.cleanup);
    const engine = new LogEngine(s.meta, s.objects, undefined, { headOnlyCommits });
    cleanups.push(() => engine.close());
    const topic = `part${Math.random().toString(36).slice(2, 8)}`;
    const t = await engine.createTopic(topic, 2);
    await engine.produce(topic, [rec('a', 0), rec('b', 1)]);
    /** The deletion's mark, on one partition so far. */
    const markDeleted = (p: number) => s.meta.write({ type: 'update', key: headKey(t.id, p), ...headUpdate({ deleted: true }) });
    const values = async (p: number) => (await engine.fetch(topic, p, { offset: 0 })).records().map((r) => dec.decode(r.value!));
    return { engine, topic, markDeleted, values };
  }

  it('one partition committed, the other refused: a retriable 5xx that says so, not a 404', async () => {
    const { engine, topic, markDeleted, values } = await setup(true);
    await markDeleted(1);
    const err = await engine.produce(topic, [rec('c', 0), rec('d', 1)]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNKNOWN_SERVER_ERROR', status: 500, retriable: true, details: { partially_written: true, cause_code: 'UNKNOWN_TOPIC_OR_PARTITION' } });
    expect((err as Error).message).toMatch(/partly written: 1 of its 2 partitions committed/);
    expect(await values(0)).toEqual(['a', 'c']); // what the answer must not deny
  });

  it('every partition refused: the refusal itself (nothing was written)', async () => {
    const { engine, topic, markDeleted } = await setup(true);
    await markDeleted(0);
    await markDeleted(1);
    await expect(engine.produce(topic, [rec('c', 0), rec('d', 1)])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
  });

  it('where the partitions of a request commit in one transaction (embedded), the refusal leaves nothing written', async () => {
    const { engine, topic, markDeleted, values } = await setup(false);
    await markDeleted(1);
    await expect(engine.produce(topic, [rec('c', 0), rec('d', 1)])).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC_OR_PARTITION', status: 404 });
    expect(await values(0)).toEqual(['a']);
  });

  it('an idempotent request partly refused says the same', async () => {
    const { engine, topic, markDeleted, values } = await setup(true);
    const id = await engine.producers.init();
    await markDeleted(1);
    const err = await engine.produce(topic, [rec('c', 0), rec('d', 1)], { id: id.id, epoch: id.epoch, sequence: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNKNOWN_SERVER_ERROR', details: { partially_written: true } });
    expect(await values(0)).toEqual(['a', 'c']);
  });
}

describe('a produce partly refused: embedded (SQLite)', () => scenario(() => localStores()));
describeAws('a produce partly refused: DynamoDB (emulator)', () => scenario(awsStores));
