// The background jobs, one pass each: run by the embedded server's loop, by `npm run job:*`,
// and (in AWS) by scheduled Lambdas. Each pass is safe to run concurrently with another.
import type { FlushDeadline, LogEngine } from '../log/engine';
import type { Topic } from '../log/topics';
import { inParallel } from '../util/parallel';
import type { SamsaMetrics } from '../obs/instruments';
import type { Logger } from '../obs/logger';

export interface JobReport {
  job: 'flush' | 'retention';
  ms: number;
  [detail: string]: unknown;
}

/**
 * One flush pass. With a deadline (the flush function's: its remaining time less a step's
 * margin) it may end early, `complete: false`; the next pass starts after where it stopped.
 * The embedded job loop and `npm run job:flush` give none: nothing cuts them off mid-step, and
 * a pass that flushes everything is what they are run for.
 */
/** How many partitions a flush pass's report says failed (each logged; the pass went on without them). */
export const failedFlushPartitions = (report: JobReport): number => (report.job === 'flush' ? ((report['failedPartitions'] as number | undefined) ?? 0) : 0);

export async function runFlushJob(engine: LogEngine, opts: FlushDeadline = {}): Promise<JobReport> {
  const t0 = Date.now();
  const stats = await engine.flushAll(opts);
  return { job: 'flush', ms: Date.now() - t0, ...stats };
}

export async function runRetentionJob(engine: LogEngine): Promise<JobReport> {
  const t0 = Date.now();
  const stats = await engine.retention.runOnce();
  return { job: 'retention', ms: Date.now() - t0, ...stats };
}

/** Runs both jobs every `intervalMs` until stopped; a pass never overlaps the previous one. */
export function startJobLoop(engine: LogEngine, intervalMs: number, log: Logger, metrics?: SamsaMetrics): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    running = (async () => {
      for (const job of [runFlushJob, runRetentionJob]) {
        if (stopped) return;
        const name = job === runFlushJob ? 'flush' : 'retention';
        const t0 = performance.now();
        try {
          const report = await job(engine);
          // A flush pass carries on past a partition that fails (each logged): count the pass as failed.
          const failed = failedFlushPartitions(report) > 0;
          metrics?.jobPasses.inc({ job: name, outcome: failed ? 'error' : 'ok' });
          if (failed) log.warn(`${name} pass: some partitions failed (retried next pass)`, { ...report });
          const worked = (report['steps'] as number) > 0 || (report['deletedSegments'] as number) > 0 || (report['deletedTopics'] as number) > 0;
          // Idle passes every few seconds would drown the log: they are debug lines.
          (worked ? log.info : log.debug)(`${name} pass`, { ...report });
        } catch (err) {
          metrics?.jobPasses.inc({ job: name, outcome: 'error' });
          log.error(`${name} pass failed`, { job: name }, err);
        } finally {
          metrics?.jobDuration.observe({ job: name }, (performance.now() - t0) / 1000);
        }
      }
    })().finally(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs).unref();
    });
  };
  if (intervalMs > 0) timer = setTimeout(tick, Math.min(intervalMs, 1000)).unref();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

export interface FlushLag {
  partitions: number;
  /** Committed records not yet in a segment object, summed over every partition. */
  unflushedRecords: number;
  /** The largest such backlog of a single partition. */
  maxUnflushedRecords: number;
}

/**
 * How far flushing trails the log. Measured after a flush pass it should be near zero; a value
 * that stays high means flushes fail or fall behind (the deployment alarms on it).
 */
export async function measureFlushLag(engine: LogEngine): Promise<FlushLag> {
  const lag: FlushLag = { partitions: 0, unflushedRecords: 0, maxUnflushedRecords: 0 };
  const tps: Array<{ topic: Topic; partition: number }> = [];
  for (const topic of await engine.topics.list()) for (let p = 0; p < topic.partitions; p++) tps.push({ topic, partition: p });
  // Head reads in parallel: one after another, thousands of partitions took longer than the
  // flush function's margin leaves for the end of a pass (FLUSH_STEP_MARGIN_MS).
  await inParallel(tps, 32, async ({ topic, partition }) => {
    const head = await engine.head(topic, partition);
    const behind = Math.max(0, head.nextOffset - Math.max(head.flushed, head.logStart));
    lag.partitions++;
    lag.unflushedRecords += behind;
    lag.maxUnflushedRecords = Math.max(lag.maxUnflushedRecords, behind);
  });
  return lag;
}
