// Flush hand-off for the Lambda deployment: the API function's engine calls `trigger` when a
// partition has taken enough bytes (EngineOptions.flushTrigger); the request goes to the
// flush function as an asynchronous invoke (lib/runtime/lambda/flush-invoker.ts), so the producer's response
// never waits for a flush. Why an async invoke rather than a queue: docs/design/0006-deployment.md.
//
// Lambda freezes the process as soon as a handler returns, so an invoke still in flight then
// would stall until the next request thaws it. `drain()` is awaited by the handler before it
// returns: a trigger costs that one request a few milliseconds, never a lost hand-off.
import type { Topic } from '../../log/engine';

/** The payload the flush function receives from the API function. */
export interface FlushRequest {
  samsa: 'flush';
  topic: string;
  /** The topic's id at trigger time: a re-created topic of the same name is not flushed by it. */
  topic_id: string;
  partition: number;
}

export function isFlushRequest(event: unknown): event is FlushRequest {
  const e = event as Partial<FlushRequest> | null;
  return (
    typeof e === 'object' && e !== null && e.samsa === 'flush' && typeof e.topic === 'string' && typeof e.topic_id === 'string' && Number.isInteger(e.partition)
  );
}

export type Invoker = (payload: FlushRequest) => Promise<void>;

export interface FlushTrigger {
  /** For EngineOptions.flushTrigger. Never rejects: a lost trigger only delays the flush to the schedule. */
  trigger(topic: Topic, partition: number): Promise<void>;
  /** Waits (at most `timeoutMs`) for the invokes started so far. */
  drain(timeoutMs: number): Promise<void>;
  /** Invokes sent and failed, for tests and logs. */
  readonly stats: { sent: number; failed: number };
}

export function flushTrigger(invoke: Invoker, log: (msg: string, err?: unknown) => void = defaultLog): FlushTrigger {
  const inFlight = new Set<Promise<void>>();
  const stats = { sent: 0, failed: 0 };
  return {
    stats,
    trigger(topic, partition) {
      const p = invoke({ samsa: 'flush', topic: topic.name, topic_id: topic.id, partition })
        .then(() => void stats.sent++)
        .catch((err: unknown) => {
          stats.failed++;
          log(`flush trigger for ${topic.name}/${partition} failed; the scheduled flush will cover it`, err);
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
      return p;
    },
    async drain(timeoutMs) {
      if (inFlight.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(inFlight), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    },
  };
}

function defaultLog(msg: string, err?: unknown): void {
  console.error(`[samsa] ${msg}:`, err);
}
