// The log start offset of each partition as this process last saw it, from the heads it read or
// wrote (commits, reads, retention): what a Produce answer carries (Kafka's log_start_offset)
// without a store read of its own. Within a topic incarnation the log start only grows (only
// retention moves it; partitions are keyed by incarnation), so the highest value seen is the
// freshest; it lags only a move by another process that this one has not read since.

/** Partitions remembered at most (the least recently noted go first). */
const MAX_PARTITIONS = 100_000;

export class LogStartsSeen {
  private readonly seen = new Map<string, number>();

  saw(topicId: string, partition: number, logStart: number): void {
    const key = `${topicId}/${partition}`;
    const known = this.seen.get(key);
    if (known !== undefined && known >= logStart) return;
    this.seen.delete(key);
    if (this.seen.size >= MAX_PARTITIONS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, logStart);
  }

  /** The highest log start seen for the partition, if any. */
  get(topicId: string, partition: number): number | undefined {
    return this.seen.get(`${topicId}/${partition}`);
  }
}
