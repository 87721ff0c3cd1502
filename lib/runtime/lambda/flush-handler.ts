// The flush function's handler (functions/flush.ts wires it to the AWS stores), here so tests
// can run it on any engine. Two kinds of event: the EventBridge schedule (one pass over every
// partition, then the flush lag as a CloudWatch metric) and the API function's async hand-off
// of one busy partition. Both end before the invocation's timeout would kill them: their
// deadline is the context's remaining time less FLUSH_STEP_MARGIN_MS (one step and the report),
// so a pass cut short still hands its lease back and writes its metrics and its report, which
// says how far it got (`complete`, `partitionsLeft`).
import type { GroupCoordinator } from '../../groups/coordinator';
import { groupLag, oldestUnconsumedSeconds } from '../../groups/lag';
import type { FlushDeadline, LogEngine } from '../../log/engine';
import { FLUSH_STEP_MARGIN_MS } from '../../log/flush';
import { validateTopicName } from '../../log/topic-config';
import { emfLine } from '../../obs/emf';
import { failedFlushPartitions, measureFlushLag, runFlushJob } from '../jobs';
import { isFlushRequest } from './flush-trigger';

function isLegalTopicName(name: string): boolean {
  try {
    validateTopicName(name);
    return true;
  } catch {
    return false;
  }
}

export interface FlushHandlerDeps {
  engine: LogEngine;
  groups: GroupCoordinator;
  /** The metrics' Table dimension. */
  table: string;
  /** Where the EMF line goes (default: raw stdout). */
  write?: (line: string) => void;
}

/** What the handler reads of Lambda's context object. */
export interface FlushContext {
  getRemainingTimeInMillis(): number;
}

export function flushHandler(deps: FlushHandlerDeps): (event: unknown, context?: FlushContext) => Promise<Record<string, unknown>> {
  const { engine, groups, table } = deps;
  // Raw stdout, not console.log: Lambda prefixes console lines, and EMF must be bare JSON.
  const write = deps.write ?? ((line: string) => void process.stdout.write(line));
  const run = async (event: unknown, context?: FlushContext): Promise<Record<string, unknown>> => {
    // On the engine's monotonic clock; no context (a direct call): no deadline.
    const limit: FlushDeadline = context ? { deadline: engine.clock.monotonic() + context.getRemainingTimeInMillis() - FLUSH_STEP_MARGIN_MS } : {};
    if (isFlushRequest(event)) {
      // A name no topic can have is a hand-off for nothing, not a failure to retry.
      const topic = isLegalTopicName(event.topic) ? await engine.topics.find(event.topic, { fresh: true }) : undefined;
      if (!topic || topic.id !== event.topic_id || event.partition < 0 || event.partition >= topic.partitions) {
        return { job: 'flush', skipped: `${event.topic}/${event.partition} no longer exists` };
      }
      const stats = await engine.flushPartition(topic, event.partition, limit);
      const report = { job: 'flush', topic: topic.name, partition: event.partition, ...stats };
      console.log(JSON.stringify(report));
      return report;
    }
    const setAsideBefore = engine.compositionFailures;
    const report = await runFlushJob(engine, limit);
    // Compositions this pass set aside (design note 0011): each also logged with its cause.
    const setAside = engine.compositionFailures - setAsideBefore;
    const lag = await measureFlushLag(engine);
    // The consumer-lag alarm's input: how old the oldest record some group has not consumed is.
    const oldest = oldestUnconsumedSeconds(await groupLag(groups).catch(() => []));
    write(
      `${emfLine(
        { Table: table },
        {
          UnflushedRecords: { value: lag.unflushedRecords, unit: 'Count' },
          MaxPartitionUnflushedRecords: { value: lag.maxUnflushedRecords, unit: 'Count' },
          FlushedBytes: { value: report['bytes'] as number, unit: 'Bytes' },
          samsa_oldest_unconsumed_age_seconds: { value: oldest, unit: 'Seconds' },
          samsa_composition_failures_total: { value: setAside, unit: 'Count' },
        },
        Date.now(),
        // Also without the Table dimension: the construct's consumer-lag alarm reads the total.
        { aggregate: true },
      )}\n`,
    );
    // `partitions` stays the pass's (the partitions it flushed, as the job loop and `npm run
    // job:flush` report it); the lag's count of every partition is `partitionsTotal`.
    const { partitions: partitionsTotal, ...lagRest } = lag;
    const out = { ...report, ...lagRest, partitionsTotal, oldestUnconsumedSeconds: oldest, compositionsSetAside: setAside };
    console.log(JSON.stringify(out));
    // The pass went on past partitions that failed (each logged); the invocation still fails,
    // so the function's Errors metric and alarm see it, after the metrics and the report.
    const failed = failedFlushPartitions(report);
    if (failed > 0) throw new Error(`flush of ${failed} partition(s) failed; see the log above`);
    return out;
  };
  return async (event, context) => {
    try {
      return await run(event, context);
    } finally {
      // Lambda freezes the instance after this: a lease kept would stop every other instance
      // from flushing the partition (a hand-off there is skipped) until it expired. The price:
      // this write per partition flushed, and a write where the next invocation here could
      // have reused a lease renewed under 10 s ago: two writes per 32 MiB hand-off, about
      // $0.00008 per GiB flushed.
      await engine.leases.releaseAll();
    }
  };
}
