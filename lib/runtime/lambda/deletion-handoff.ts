// Topic deletion hand-off for the Lambda deployment. DELETE marks a topic deleted at once, but
// its data, and with it the name, is removed by a retention pass after the deletion grace
// (in-flight writes drain): on Lambda that pass is the scheduled retention function, every 15
// minutes by default, so a name deleted and created again (a test fixture, a reset in a dev
// loop) was refused as "marked for deletion" for up to that long. The API function's engine
// (EngineOptions.onTopicDeleted) now sends the retention function an asynchronous invoke, which
// waits out the grace and removes the deleted topics' data: the name is free again seconds
// later, as on the embedded server. A lost hand-off leaves the deletion to the schedule.
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
