// Which incarnation of a topic name a read continues. A deleted name is free at once (design
// note 0007), so between two fetches of one reader the name can come to hold another topic,
// whose offsets are another log's. Like Kafka's fetch by topic id (KIP-516), a read may name the
// incarnation it continues (`topic_id`, from the `x-samsa-topic-id` of an earlier answer): the
// name's current topic when it is that one, else 404 UNKNOWN_TOPIC_OR_PARTITION naming it —
// never the new topic's records from the old topic's position.
import { z } from '@hono/zod-openapi';
import { SamsaError } from '../errors';
import type { LogEngine } from '../log/engine';
import type { Topic } from '../log/topics';

/** The response header that names the incarnation a read answered from. */
export const TOPIC_ID_HEADER = 'x-samsa-topic-id';

/** The longest `topic_id` accepted (an id is 36 characters); a longer one is 400 INVALID_REQUEST. */
export const MAX_TOPIC_ID_CHARS = 64;
const TOPIC_ID_EMPTY = 'topic_id must not be empty: leave it out to read the topic the name holds now';
const TOPIC_ID_LONG = `topic_id must be at most ${MAX_TOPIC_ID_CHARS} characters (a topic id is a UUID)`;

/** A `topic_id` query parameter (one incarnation of the name), described for its route. */
export const topicIdParam = (description: string) =>
  z
    .string()
    .min(1, TOPIC_ID_EMPTY)
    .max(MAX_TOPIC_ID_CHARS, TOPIC_ID_LONG)
    .optional()
    .openapi({ param: { name: 'topic_id', in: 'query' }, description });

/**
 * The tail's `topic_id` (its route reads the query itself): absent, or 1 to 64 characters, as
 * topicIdParam. An empty value is refused, not read as absent: it is a caller that meant to name
 * an incarnation and lost it, and a read of whatever the name holds now is what topic_id guards.
 */
export function topicIdOf(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.length === 0) throw new SamsaError('INVALID_REQUEST', TOPIC_ID_EMPTY, { field: 'topic_id' });
  if (raw.length > MAX_TOPIC_ID_CHARS) throw new SamsaError('INVALID_REQUEST', TOPIC_ID_LONG, { field: 'topic_id' });
  return raw;
}

/** The `topic_id` query parameter of the read routes. */
export const TopicIdParam = topicIdParam(
  'The topic incarnation this read continues (the x-samsa-topic-id of an earlier answer, or topic_id of GET /v1/topics/{topic}). When the name now holds another topic (deleted and created again), 404 UNKNOWN_TOPIC_OR_PARTITION with `topic_id`, instead of the new topic\'s records at an offset of the old one.',
);

/**
 * The topic `name` names now, for `partition`; when `wanted` is given, only that incarnation.
 * `then` is what the refusal tells the caller to do next.
 */
export async function readIncarnation(engine: LogEngine, name: string, partition: number, wanted?: string, then = 'start again from an offset of the new topic'): Promise<Topic> {
  const topic = await engine.topics.partition(name, partition);
  if (wanted === undefined || topic.id === wanted) return topic;
  // The cache may hold the incarnation deleted meanwhile (or not yet the new one): ask again,
  // strongly consistently. A lookup reads eventually consistently, and on DynamoDB that read may
  // still return the item a delete and re-create just replaced: the deleted incarnation, so a
  // reader of the new one was told its topic was deleted.
  await engine.topics.get(name, { fresh: true });
  const fresh = await engine.topics.partition(name, partition);
  if (fresh.id === wanted) return fresh;
  throw new SamsaError(
    'UNKNOWN_TOPIC_OR_PARTITION',
    `topic "${name}" (id ${wanted}) was deleted; the name now holds another topic (id ${fresh.id}), whose offsets are another log's: ${then}`,
    { topic: name, topic_id: wanted },
  );
}
