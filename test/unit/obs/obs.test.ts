// The observability primitives: the JSON logger (levels, bound fields, cause chains, no secrets)
// and the metrics registry read as Prometheus text and as CloudWatch EMF deltas.
import { describe, expect, it } from 'vitest';
import { createSamsaMetrics } from '../../../lib/obs/instruments';
import { createLogger, type LogLevel, parseLogLevel } from '../../../lib/obs/logger';
import { Registry } from '../../../lib/obs/metrics';

function capture(level: LogLevel) {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level, write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>), now: () => Date.UTC(2026, 10, 30) });
  return { log, lines };
}

describe('logger', () => {
  it('writes one JSON object per line with level, time, message and bound fields', () => {
    const { log, lines } = capture('info');
    log.child({ request_id: 'r-1' }).info('request', { status: 200 });
    expect(lines).toEqual([{ level: 'info', time: '2026-11-30T00:00:00.000Z', msg: 'request', request_id: 'r-1', status: 200 }]);
  });

  it('a child binds its fields on its first line, also through a detached method, and nests', () => {
    const { log, lines } = capture('info');
    const child = log.child({ request_id: 'r-2' });
    expect(lines).toEqual([]);
    child.debug('below the level');
    const info = child.info; // detached, as lib/runtime/jobs.ts calls it
    info('first', { n: 1 });
    child.child({ job: 'flush' }).warn('nested');
    expect(lines).toEqual([
      { level: 'info', time: '2026-11-30T00:00:00.000Z', msg: 'first', request_id: 'r-2', n: 1 },
      { level: 'warn', time: '2026-11-30T00:00:00.000Z', msg: 'nested', request_id: 'r-2', job: 'flush' },
    ]);
    expect(child.enabled('debug')).toBe(false);
    expect(child.level).toBe('info');
  });

  it('filters below its level, as SAMSA_LOG_LEVEL sets it', () => {
    const { log, lines } = capture(parseLogLevel('WARN'));
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'error']);
    expect(parseLogLevel('loud')).toBe('info');
  });

  it('serialises an error with its cause chain, bounded', () => {
    const { log, lines } = capture('info');
    const root = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    log.error('flush failed', { topic: 't' }, new Error('put failed', { cause: root }));
    const err = lines[0]!.err as { message: string; cause: { message: string; code: string } };
    expect(err.message).toBe('put failed');
    expect(err.cause).toMatchObject({ message: 'socket hang up', code: 'ECONNRESET' });
    // A cyclic chain ends instead of hanging the process.
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    log.error('cycle', {}, a);
    expect(JSON.stringify(lines[1]).length).toBeLessThan(20_000);
  });

  it('never writes a field whose name says it holds a secret', () => {
    const { log, lines } = capture('info');
    log.child({ api_key: 'k-123' }).info('x', { authorization: 'Bearer s3cr3t', token: 't', principal: 'User:alice' });
    const text = JSON.stringify(lines);
    expect(text).not.toContain('s3cr3t');
    expect(text).not.toContain('k-123');
    expect(lines[0]!.principal).toBe('User:alice');
  });

  it('does not throw on fields it cannot serialise', () => {
    const { log, lines } = capture('info');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => log.info('odd', { cyclic, big: 1n })).not.toThrow();
    expect(lines[0]!.msg).toBe('odd');
  });
});

describe('metrics registry', () => {
  it('renders counters and histograms in Prometheus text format', async () => {
    const r = new Registry();
    const c = r.counter('x_total', 'things', ['topic']);
    c.inc({ topic: 'a"b' }, 3);
    c.inc({ topic: 'a"b' });
    c.inc({ topic: 'c' }, -5); // ignored: counters only go up
    const h = r.histogram('d_seconds', 'durations', ['route'], [0.1, 1]);
    h.observe({ route: 'GET /x' }, 0.05);
    h.observe({ route: 'GET /x' }, 0.5);
    h.observe({ route: 'GET /x' }, 5);
    const text = await r.renderPrometheus();
    expect(text).toContain('# TYPE x_total counter');
    expect(text).toContain('x_total{topic="a\\"b"} 4');
    expect(text).not.toContain('topic="c"');
    expect(text).toContain('d_seconds_bucket{route="GET /x",le="0.1"} 1');
    expect(text).toContain('d_seconds_bucket{route="GET /x",le="1"} 2');
    expect(text).toContain('d_seconds_bucket{route="GET /x",le="+Inf"} 3');
    expect(text).toContain('d_seconds_count{route="GET /x"} 3');
    expect(text).toContain('d_seconds_sum{route="GET /x"} 5.55');
  });

  it('emits EMF deltas once: what changed since the previous flush', () => {
    const m = createSamsaMetrics();
    m.producedRecords.inc({ topic: 'orders' }, 7);
    m.requestDuration.observe({ route: 'POST /v1/topics/{topic}/records', status: '200' }, 0.004);
    const first = m.registry.emfLines(1000).map((l) => JSON.parse(l) as Record<string, unknown>);
    const produced = first.find((l) => 'samsa_produced_records_total' in l)!;
    expect(produced.samsa_produced_records_total).toBe(7);
    expect(produced.topic).toBe('orders');
    expect((produced._aws as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][] }> }).CloudWatchMetrics[0]).toMatchObject({
      Namespace: 'Samsa',
      // per topic, and the total (an empty dimension set) for alarms
      Dimensions: [['topic'], []],
    });
    const duration = first.find((l) => 'samsa_request_duration_ms' in l)!;
    expect(duration.samsa_request_duration_ms).toEqual([4]);
    expect(m.registry.emfLines(2000)).toEqual([]);
    m.producedRecords.inc({ topic: 'orders' }, 2);
    const second = m.registry.emfLines(3000).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(second).toHaveLength(1);
    expect(second[0]!.samsa_produced_records_total).toBe(2);
  });

  it('observes through a bound series exactly as with labels: same series, buckets, sum and EMF values', async () => {
    const r = new Registry();
    const h = r.histogram('b_seconds', 'durations', ['route', 'status'], [0.1, 1]);
    const bound = h.bind({ route: 'POST /x', status: '200' });
    bound.observe(0.05);
    h.observe({ route: 'POST /x', status: '200' }, 0.5);
    bound.observe(Number.NaN); // ignored, as observe() ignores it
    bound.observe(5);
    expect(h.count({ route: 'POST /x', status: '200' })).toBe(3);
    const text = await r.renderPrometheus();
    expect(text.match(/^b_seconds_count.*$/gm)).toEqual(['b_seconds_count{route="POST /x",status="200"} 3']);
    expect(text).toContain('b_seconds_bucket{route="POST /x",status="200",le="0.1"} 1');
    expect(text).toContain('b_seconds_bucket{route="POST /x",status="200",le="1"} 2');
    expect(text).toContain('b_seconds_sum{route="POST /x",status="200"} 5.55');
    // A handle outlives an EMF flush: what it observes next is the next flush's.
    expect(JSON.parse(r.emfLines(1)[0]!).b_ms).toEqual([50, 500, 5000]);
    bound.observe(0.002);
    expect(JSON.parse(r.emfLines(2)[0]!).b_ms).toEqual([2]);
  });

  it('reads gauges at scrape time and leaves out a source that fails', async () => {
    const m = createSamsaMetrics({
      flushLag: async () => 12,
      consumerLag: async () => [{ group: 'g', topic: 't', partition: 0, lag: 5, lagMs: 2500 }],
    });
    const text = await m.registry.renderPrometheus();
    expect(text).toContain('samsa_flush_lag_records 12');
    expect(text).toContain('samsa_consumer_lag_records{group="g",topic="t",partition="0"} 5');
    expect(text).toContain('samsa_consumer_lag_seconds{group="g",topic="t",partition="0"} 2.5');
    const broken = createSamsaMetrics({ flushLag: async () => Promise.reject(new Error('table gone')) });
    await expect(broken.registry.renderPrometheus()).resolves.not.toContain('samsa_flush_lag_records ');
  });
});

describe('engine instruments', () => {
  it('count appended records and bytes once, and commits that lost the race for a head', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { LogEngine } = await import('../../../lib/log/engine');
    const { SqliteMetaStore } = await import('../../../lib/storage/sqlite-meta-store');
    const { LocalObjectStore } = await import('../../../lib/storage/local-object-store');
    const { engineHooks } = await import('../../../lib/obs/instruments');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-obs-'));
    const meta = new SqliteMetaStore({ path: path.join(dir, 'meta.sqlite'), fsync: false });
    const objects = new LocalObjectStore({ root: path.join(dir, 'objects'), fsync: false });
    const m = createSamsaMetrics();
    // Two engines on one store: two writers whose cached heads go stale under each other.
    const a = new LogEngine(meta, objects, undefined, engineHooks(m));
    const b = new LogEngine(meta, objects, undefined, engineHooks(m));
    try {
      await a.createTopic('race', 1);
      const v = new TextEncoder().encode('0123456789');
      // In turn, so each commit goes out on a head the other writer has moved since (concurrent
      // requests to one engine share one group commit and would not race at all).
      for (let i = 0; i < 40; i++) await (i % 2 ? a : b).produce('race', [{ value: v, partition: 0 }]);
      expect(m.producedRecords.get({ topic: 'race' })).toBe(40);
      expect(m.commitConflicts.get()).toBeGreaterThan(0);
      expect(m.commitRetries.get()).toBeGreaterThan(0);
      expect(m.commitRetries.get()).toBeLessThanOrEqual(m.commitConflicts.get());
      // Idempotent retries that write nothing are not appends.
      const id = await a.producers.init();
      const rec = [{ value: v, partition: 0 }];
      await a.produce('race', rec, { id: id.id, epoch: id.epoch, sequence: 0 });
      await a.produce('race', rec, { id: id.id, epoch: id.epoch, sequence: 0 });
      expect(m.producedRecords.get({ topic: 'race' })).toBe(41);
      const hw = (await a.describeTopic('race')).partitions[0]!.high_watermark;
      expect(hw).toBe(41);
    } finally {
      await a.close();
      await b.close();
      await meta.close?.();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
