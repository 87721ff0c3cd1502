// Lambda entry point for flushing: committed batches → Kafka segment objects in S3.
// Two kinds of event: the EventBridge schedule (one pass over every partition, then the flush
// lag as a CloudWatch metric) and the API function's async hand-off of one busy partition.
import { loadConfig } from '../lib/runtime/config';
import { isFlushRequest } from '../lib/runtime/lambda/flush-trigger';
import { groupLag, oldestUnconsumedSeconds } from '../lib/groups/lag';
import { measureFlushLag, runFlushJob } from '../lib/runtime/jobs';
import { emfLine } from '../lib/obs/emf';
import { openAwsEngine } from '../lib/runtime/aws';

const cfg = loadConfig();
const { engine, groups } = await openAwsEngine(cfg);

export async function handler(event: unknown): Promise<Record<string, unknown>> {
  if (isFlushRequest(event)) {
    const topic = await engine.topics.find(event.topic, { fresh: true });
    if (!topic || topic.id !== event.topic_id || event.partition >= topic.partitions) {
      return { job: 'flush', skipped: `${event.topic}/${event.partition} no longer exists` };
    }
    const stats = await engine.flushPartition(topic, event.partition);
    const report = { job: 'flush', topic: topic.name, partition: event.partition, ...stats };
    console.log(JSON.stringify(report));
    return report;
  }
  const report = await runFlushJob(engine);
  const lag = await measureFlushLag(engine);
  // The consumer-lag alarm's input: how old the oldest record some group has not consumed is.
  const oldest = oldestUnconsumedSeconds(await groupLag(groups).catch(() => []));
  // Raw stdout, not console.log: Lambda prefixes console lines, and EMF must be bare JSON.
  process.stdout.write(
    `${emfLine(
      { Table: cfg.table },
      {
        UnflushedRecords: { value: lag.unflushedRecords, unit: 'Count' },
        MaxPartitionUnflushedRecords: { value: lag.maxUnflushedRecords, unit: 'Count' },
        FlushedBytes: { value: report['bytes'] as number, unit: 'Bytes' },
        samsa_oldest_unconsumed_age_seconds: { value: oldest, unit: 'Seconds' },
      },
      Date.now(),
      // Also without the Table dimension: the construct's consumer-lag alarm reads the total.
      { aggregate: true },
    )}\n`,
  );
  const out = { ...report, ...lag, oldestUnconsumedSeconds: oldest };
  console.log(JSON.stringify(out));
  return out;
}
