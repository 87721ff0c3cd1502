// When a committed partition gets flushed outside the flush job: the engine tells a
// FlushScheduler of every commit it made, and the scheduler decides when (and where) that
// partition is flushed. Two policies, picked by the wiring (lib/runtime/core.ts):
//  - in-process: this process flushes the partition `delayMs` after its first commit since
//    the last flush (the embedded server; a Node server on AWS storage if asked to);
//  - hand-off: every `windowMs` at most, hand the partition to someone else (on Lambda, an
//    async invoke of the flush function: lib/runtime/lambda/) once this process committed
//    `triggerBytes` to it since its last hand-off. Why bytes and a window: design note 0006.
// Neither ever delays or fails a commit: a flush missed here is left to the flush job.
import { partitionKey } from './commit';
import type { Topic } from './topics';

export interface FlushScheduler {
  /** This process committed `bytes` to the partition. Never throws, never waits. */
  committed(topic: Topic, partition: number, bytes: number): void;
  /** Cancels what is pending (engine close); later commits schedule nothing. */
  close(): void;
}

/** The engine's flush of one partition; `skipped` when another process holds its lease. */
export type FlushPartition = (topic: Topic, partition: number) => Promise<{ skipped: boolean }>;

/** Builds a scheduler once the engine exists: the in-process one flushes through it. */
export type FlushSchedulerFactory = (flush: FlushPartition) => FlushScheduler;

export interface InProcessFlushOptions {
  /** Flush this long after the first commit since the last flush. */
  delayMs: number;
  /** A flush that found the lease held elsewhere tries again this much later (half a lease)... */
  retryAfterMs: number;
  /** ...at most this many times. */
  retries?: number;
}

/** How often an eager flush that found the lease taken tries again (each after half a lease). */
export const EAGER_FLUSH_RETRIES = 5;

type Log = (msg: string, err: unknown) => void;
const defaultLog: Log = (msg, err) => console.error(`[samsa] ${msg}:`, err);

/** Flushes in this process, `delayMs` after a commit. */
export function inProcessFlushes(opts: InProcessFlushOptions, log: Log = defaultLog): FlushSchedulerFactory {
  return (flush) => {
    const timers = new Map<string, NodeJS.Timeout>();
    let closed = false;
    const arm = (key: string, ms: number, run: () => void): void => {
      const timer = setTimeout(() => {
        timers.delete(key);
        run();
      }, ms);
      timer.unref?.();
      timers.set(key, timer);
    };
    /**
     * A flush that found the lease held elsewhere tries again after half a lease, a few
     * times: if the holder went silent (a job killed mid-pass, a paused process), this process
     * takes over once the lease lapses instead of leaving the partition to the next job pass.
     */
    const attempt = (topic: Topic, partition: number, key: string, n: number): void => {
      flush(topic, partition)
        .then((r) => {
          if (!r.skipped || closed || n >= (opts.retries ?? EAGER_FLUSH_RETRIES) || timers.has(key)) return;
          arm(key, opts.retryAfterMs, () => attempt(topic, partition, key, n + 1));
        })
        .catch((err: unknown) => log(`flush of ${topic.name}/${partition} failed`, err));
    };
    return {
      committed(topic, partition) {
        if (closed) return;
        const key = partitionKey(topic, partition);
        if (timers.has(key)) return;
        arm(key, opts.delayMs, () => attempt(topic, partition, key, 0));
      },
      close() {
        closed = true;
        for (const t of timers.values()) clearTimeout(t);
        timers.clear();
      },
    };
  };
}

export interface HandOffOptions {
  /** Look at a partition at most once per this window after a commit. */
  windowMs: number;
  /** Hand it over once this process committed this many bytes to it since its last hand-off. */
  triggerBytes: number;
  /** Hands the partition over (Lambda: lib/runtime/lambda/flush-trigger.ts). */
  handOff: (topic: Topic, partition: number) => void | Promise<void>;
}

/** Hands busy partitions to another process instead of flushing here. */
export function handOffFlushes(opts: HandOffOptions, log: Log = defaultLog): FlushSchedulerFactory {
  return () => {
    const timers = new Map<string, NodeJS.Timeout>();
    const pendingBytes = new Map<string, number>();
    let closed = false;
    return {
      committed(topic, partition, bytes) {
        if (closed) return;
        const key = partitionKey(topic, partition);
        pendingBytes.set(key, (pendingBytes.get(key) ?? 0) + bytes);
        if (timers.has(key)) return;
        const timer = setTimeout(() => {
          timers.delete(key);
          // The count carries across windows: every flush extends the segment objects at a
          // fixed request cost, so flushing a few MiB at a time would cost more than the data
          // (bench:cost, steady state).
          if ((pendingBytes.get(key) ?? 0) < opts.triggerBytes) return;
          pendingBytes.delete(key);
          Promise.resolve()
            .then(() => opts.handOff(topic, partition))
            .catch((err: unknown) => log(`flush of ${topic.name}/${partition} failed`, err));
        }, opts.windowMs);
        timer.unref?.();
        timers.set(key, timer);
      },
      close() {
        closed = true;
        for (const t of timers.values()) clearTimeout(t);
        timers.clear();
      },
    };
  };
}
