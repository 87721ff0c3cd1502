// Topic deletion hand-off for the Lambda deployment. DELETE removes a topic at once (its name is
// free for a new incarnation), but the deleted incarnation's data is removed by a retention pass
// after the deletion grace (in-flight writes drain): on Lambda that pass is the scheduled
// retention function, every 15 minutes by default, so the data stayed (and was paid for) for up
// to that long. The API function's engine (EngineOptions.onTopicDeleted) sends the retention
// function an asynchronous invoke, which waits out the grace and removes the deleted topics'
// data seconds later, as on the embedded server. A lost hand-off leaves the deletion to the
// schedule.
import type { Topic } from '../../log/topics';

/** The payload the retention function receives from the API function. */
export interface DeletionRequest {
  samsa: 'topic-deleted';
  topic: string;
  /** The deleted incarnation (informational: the pass removes every deletion that is due). */
  topic_id: string;
  /** When the API marked it deleted (ms since the epoch): the grace runs from here. */
  deleted_at: number;
}

export function isDeletionRequest(event: unknown): event is DeletionRequest {
  const e = event as Partial<DeletionRequest> | null;
  return typeof e === 'object' && e !== null && e.samsa === 'topic-deleted' && typeof e.topic === 'string' && typeof e.topic_id === 'string' && Number.isSafeInteger(e.deleted_at);
}

/** EngineOptions.onTopicDeleted for an API function: one async invoke per deletion, awaited (a few ms) before DELETE answers, since Lambda freezes the process after. */
export function deletionHandOff(invoke: (payload: DeletionRequest) => Promise<void>, now: () => number = Date.now): (topic: Topic) => Promise<void> {
  return (topic) => invoke({ samsa: 'topic-deleted', topic: topic.name, topic_id: topic.id, deleted_at: now() });
}
