// The log start offset of each partition as this process last saw it, from the heads it read or
// wrote (commits, reads, retention): what a Produce answer carries (Kafka's log_start_offset)
// without a store read of its own. Within a topic incarnation the log start only grows (only
// retention moves it; partitions are keyed by incarnation), so the highest value seen is the
// freshest; it lags only a move by another process that this one has not read since, which is
// why a value not confirmed by a head read for LOG_START_REFRESH_MS is worth one read (`stale`).
import type { Clock } from '../util/clock';

/** Partitions remembered at most (the least recently noted go first). */
const MAX_PARTITIONS = 100_000;
/** A log start not seen in a head read or written for this long is read again, once. */
export const LOG_START_REFRESH_MS = 60_000;

export class LogStartsSeen {
  private readonly seen = new Map<string, { logStart: number; at: number }>();

  constructor(private readonly clock: Pick<Clock, 'monotonic'>) {}

  saw(topicId: string, partition: number, logStart: number): void {
    const key = `${topicId}/${partition}`;
    const known = this.seen.get(key);
    this.seen.delete(key);
    if (this.seen.size >= MAX_PARTITIONS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { logStart: Math.max(known?.logStart ?? logStart, logStart), at: this.clock.monotonic() });
  }

  /** The highest log start seen for the partition, if any. */
  get(topicId: string, partition: number): number | undefined {
    return this.seen.get(`${topicId}/${partition}`)?.logStart;
  }

  /**
   * Whether the partition's log start was last confirmed more than LOG_START_REFRESH_MS ago:
   * then the caller reads the head (which notes it), and the next LOG_START_REFRESH_MS do not
   * ask again, whether that read succeeds or not.
   */
  stale(topicId: string, partition: number): boolean {
    const known = this.seen.get(`${topicId}/${partition}`);
    const now = this.clock.monotonic();
    if (!known || now - known.at < LOG_START_REFRESH_MS) return false;
    known.at = now;
    return true;
  }
}
