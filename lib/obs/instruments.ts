// The instruments Samsa reports, in one place so the names in dashboards, alarms, the API
// contract and the code are the same strings. Engine and HTTP layer receive this object; the
// runtime decides how it is read (GET /metrics on Node, EMF lines on Lambda).
import { type Counter, type Gauge, type Histogram, Registry } from './metrics';

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  /** Records the group has not consumed. */
  lag: number;
  /** Age of the oldest of them, in ms (0 when caught up). */
  lagMs: number;
}

export interface SamsaMetrics {
  readonly registry: Registry;
  readonly producedRecords: Counter<'topic'>;
  readonly producedBytes: Counter<'topic'>;
  readonly fetchedRecords: Counter<'topic'>;
  readonly fetchedBytes: Counter<'topic'>;
  readonly requestDuration: Histogram<'route' | 'status'>;
  readonly errors: Counter<'error_code'>;
  /** Produce requests the server failed (5xx): what the produce-errors alarm watches. */
  readonly produceFailures: Counter;
  readonly commitConflicts: Counter;
  readonly commitRetries: Counter;
  /** Compositions of chunked segments set aside after a failure no retry cures (design note 0011). */
  readonly compositionFailures: Counter<'topic'>;
  readonly jobPasses: Counter<'job' | 'outcome'>;
  readonly jobDuration: Histogram<'job'>;
  readonly flushLagRecords: Gauge;
  readonly consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  readonly consumerLagSeconds: Gauge<'group' | 'topic' | 'partition'>;
}

export interface MetricsSources {
  /** Unflushed records over every partition (read at scrape time). */
  flushLag?: () => Promise<number>;
  /** Every group's lag per partition (read at scrape time). */
  consumerLag?: () => Promise<LagRow[]>;
}

export function createSamsaMetrics(sources: MetricsSources = {}): SamsaMetrics {
  const r = new Registry();
  // One lag read serves both gauges of a scrape.
  let lagRead: Promise<LagRow[]> | undefined;
  const lagRows = async (): Promise<LagRow[]> => {
    if (!sources.consumerLag) return [];
    lagRead ??= sources.consumerLag().finally(() => setTimeout(() => (lagRead = undefined), 0));
    return lagRead;
  };
  const tp = (x: LagRow) => ({ group: x.group, topic: x.topic, partition: String(x.partition) });
  return {
    registry: r,
    producedRecords: r.counter('samsa_produced_records_total', 'Records appended to the log', ['topic']),
    producedBytes: r.counter('samsa_produced_bytes_total', 'Record batch bytes appended to the log', ['topic'], 'Bytes'),
    fetchedRecords: r.counter('samsa_fetched_records_total', 'Records returned by fetches and group polls', ['topic']),
    fetchedBytes: r.counter('samsa_fetched_bytes_total', 'Record batch bytes returned by fetches and group polls', ['topic'], 'Bytes'),
    requestDuration: r.histogram('samsa_request_duration_seconds', 'HTTP request duration by route pattern and status', ['route', 'status']),
    errors: r.counter('samsa_errors_total', 'Error responses by Kafka-style error code', ['error_code']),
    produceFailures: r.counter('samsa_produce_failures_total', 'Produce requests answered with a server error (5xx)'),
    commitConflicts: r.counter('samsa_commit_conflicts_total', 'Commits whose conditional head write lost to another writer'),
    commitRetries: r.counter('samsa_commit_retries_total', 'Commit attempts retried after a conflict or a retriable storage error'),
    compositionFailures: r.counter('samsa_composition_failures_total', 'Compositions of segments written in chunks that failed for a reason no retry cures and were set aside (retried after a back-off)', ['topic']),
    jobPasses: r.counter('samsa_job_passes_total', 'Flush and retention passes by outcome', ['job', 'outcome']),
    jobDuration: r.histogram('samsa_job_duration_seconds', 'Flush and retention pass duration', ['job']),
    flushLagRecords: r.gauge('samsa_flush_lag_records', 'Committed records not yet in a segment object', [], async () =>
      sources.flushLag ? [{ labels: {}, value: await sources.flushLag() }] : [],
    ),
    consumerLag: r.gauge('samsa_consumer_lag_records', 'Records a group has not consumed, per partition', ['group', 'topic', 'partition'], async () =>
      (await lagRows()).map((x) => ({ labels: tp(x), value: x.lag })),
    ),
    consumerLagSeconds: r.gauge('samsa_consumer_lag_seconds', 'Age of the oldest record a group has not consumed, per partition', ['group', 'topic', 'partition'], async () =>
      (await lagRows()).map((x) => ({ labels: tp(x), value: x.lagMs / 1000 })),
    ),
  };
}

/** The engine hooks that feed the produce and commit counters. */
export function engineHooks(m: SamsaMetrics): {
  onAppend: (topic: string, records: number, bytes: number) => void;
  onCommitConflict: () => void;
  onCommitRetry: () => void;
  onCompositionFailure: (topic: string) => void;
} {
  return {
    onAppend: (topic, records, bytes) => {
      m.producedRecords.inc({ topic }, records);
      m.producedBytes.inc({ topic }, bytes);
    },
    onCommitConflict: () => m.commitConflicts.inc(),
    onCommitRetry: () => m.commitRetries.inc(),
    onCompositionFailure: (topic) => m.compositionFailures.inc({ topic }),
  };
}
