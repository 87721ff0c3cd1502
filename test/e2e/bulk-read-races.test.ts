// The segments route racing retention: the segment it planned from is deleted under it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/http/app';
import { LogEngine } from '../../lib/log/engine';
import { silentLogger } from '../../lib/obs/logger';
import { DEFAULT_RETENTION_OPTIONS } from '../../lib/log/retention';
import { codecsReady } from '../../lib/records';
import { faultyObjectStore, Gate } from '../../lib/storage/faults';
import { ManualClock } from '../../lib/util/clock';
import { localStores, type TestStores } from '../helpers/stores';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * An engine over a faulty object store whose partition bulk/0 holds 12 records an hour old
 * (past retention.ms) and 12 new ones, flushed into 1 KiB segments, and the HTTP app on it.
 */
async function expiringLog(s: TestStores): Promise<{ engine: LogEngine; app: ReturnType<typeof createApp>; objects: ReturnType<typeof faultyObjectStore> }> {
  const clock = new ManualClock(Date.now());
  const objects = faultyObjectStore(s.objects);
  const engine = new LogEngine(s.meta, objects, clock, {
    inlineMaxBytes: 256,
    flush: { stepBytes: 64 * 1024, indexIntervalBytes: 256 },
    retention: DEFAULT_RETENTION_OPTIONS,
  });
  const app = createApp({ engine, logger: silentLogger });
  await engine.createTopic('bulk', 1, { 'segment.bytes': 1024, 'retention.ms': 60_000 });
  for (let i = 0; i < 12; i++) await engine.produce('bulk', [{ value: enc(`old-${i}-${'v'.repeat(150)}`), partition: 0, timestamp: clock.now() - 3_600_000 }]);
  for (let i = 12; i < 24; i++) await engine.produce('bulk', [{ value: enc(`new-${i}-${'v'.repeat(150)}`), partition: 0, timestamp: clock.now() }]);
  await engine.flushPartition(await engine.topics.get('bulk'), 0);
  return { engine, app, objects };
}

describe('bulk reads racing retention (embedded)', () => {
  let s: TestStores;
  beforeEach(async () => {
    await codecsReady();
    s = await localStores('samsa-bulkrace-');
  });
  afterEach(async () => s.cleanup());

  it('a segment deleted while the route plans its ranges is OFFSET_OUT_OF_RANGE or skipped, never a 5xx', async () => {
    const { engine, app, objects } = await expiringLog(s);
    const gate = new Gate();
    objects.faults.add({ method: 'get', when: (c) => c.method === 'get' && /\/0{20}\.index$/.test(c.args[0]), action: { kind: 'hang', gate } });
    const res = app.request('http://samsa.test/v1/topics/bulk/partitions/0/segments?offset=1&max_bytes=100000');
    await gate.reached;
    const stats = await engine.retention.runOnce();
    expect(stats.deletedSegments).toBeGreaterThan(0);
    gate.release();
    const r = await res;
    const body = await r.text();
    expect([r.status, body].join(' ')).toMatch(/^(200|416) /);
    await engine.close();
  });

  it('a URL whose segment retention deletes while it is served (the embedded download) answers OFFSET_OUT_OF_RANGE, not a 5xx', async () => {
    const { engine, app, objects } = await expiringLog(s);
    const gate = new Gate();
    const plan = await app.request('http://samsa.test/v1/topics/bulk/partitions/0/segments?offset=0&max_bytes=100');
    const first = ((await plan.json()) as { segments: Array<{ url: string; range: string }> }).segments[0]!;
    objects.faults.add({ method: 'get', when: (c) => c.method === 'get' && /\/0{20}\.log$/.test(c.args[0]), action: { kind: 'hang', gate } });
    const res = app.request(first.url, { headers: { range: first.range } });
    await gate.reached;
    expect((await engine.retention.runOnce()).deletedSegments).toBeGreaterThan(0);
    gate.release();
    const r = await res;
    expect([r.status, await r.text()].join(' ')).toMatch(/^416 /);
    await engine.close();
  });
});
