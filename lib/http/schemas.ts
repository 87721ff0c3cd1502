// Request and response schemas: the same zod objects validate requests and generate the
// OpenAPI document, so the two cannot drift apart.
import { z } from '@hono/zod-openapi';
import { MAX_NAME_LENGTH } from '../log/topic-config';
import { TopicIdParam, topicIdParam } from './incarnation';

export const ErrorBody = z
  .object({
    error_code: z.string().openapi({ example: 'UNKNOWN_TOPIC_OR_PARTITION' }),
    message: z.string().openapi({ example: 'topic "orders" does not exist' }),
  })
  .catchall(z.unknown())
  .openapi('Error', { description: 'Every error: a Kafka-style error code, a message naming the problem, and details.' });

// --- limits (docs/limits.md) ---------------------------------------------------------------

/** JSON request bodies: the Lambda Function URL carries at most 6 MB, so nothing larger is portable. */
export const MAX_JSON_REQUEST_BYTES = 6 * 1024 * 1024;
/** Nesting of any JSON body or JSON value (V8 serialises recursively; 5,000 levels threw). */
export const MAX_JSON_DEPTH = 64;
/** Records in one JSON produce request, as fetch's max_records. */
export const MAX_RECORDS_PER_REQUEST = 10_000;

/**
 * Topic names, as validateTopicName (lib/log/topic-config.ts) states the rule for the engine:
 * the same bounds here put them in /openapi.json and refuse a bad name before any work.
 */
export const TopicName = z
  .string()
  .min(1)
  .max(MAX_NAME_LENGTH)
  .regex(/^[a-zA-Z0-9._-]+$/, "a topic name may contain only ASCII letters, digits, '.', '_' and '-'")
  .refine((n) => n !== '.' && n !== '..', 'a topic name cannot be "." or ".."')
  .openapi({ example: 'orders', description: "Kafka's rules: 1-249 of [a-zA-Z0-9._-], not '.' or '..'." });

/** Group ids: 1-249 of [A-Za-z0-9._-], not '.' or '..' (validateGroupName). */
export const GroupId = z
  .string()
  .min(1)
  .max(MAX_NAME_LENGTH)
  .regex(/^[A-Za-z0-9._-]+$/, "a group id may contain only ASCII letters, digits, '.', '_' and '-'")
  .refine((n) => n !== '.' && n !== '..', 'a group id cannot be "." or ".."')
  .openapi({ description: "1-249 of [A-Za-z0-9._-], not '.' or '..'." });

export const TopicConfigBody = z
  .record(z.string(), z.union([z.number(), z.string()]))
  .openapi('TopicConfig', {
    description:
      'Kafka topic config keys: retention.ms (default 604800000, -1 = forever), retention.bytes (default -1), segment.bytes (default and maximum 1073741824), segment.ms, max.message.bytes (default 1048588), cleanup.policy (delete). Values may be numbers or strings.',
    example: { 'retention.ms': 86400000, 'segment.bytes': 104857600 },
  });

export const CreateTopicBody = z
  .object({
    name: TopicName,
    partitions: z.number().int().min(1).openapi({ example: 3 }),
    config: TopicConfigBody.optional(),
  })
  .openapi('CreateTopic');

export const AlterTopicBody = z
  .object({
    partitions: z.number().int().min(1).optional().openapi({ description: 'New partition count; can only grow.' }),
    config: TopicConfigBody.optional(),
  })
  .openapi('AlterTopic');

export const TopicSummary = z.object({ name: z.string(), partitions: z.number().int() }).openapi('TopicSummary');
export const TopicBody = z
  .object({ name: z.string(), partitions: z.number().int(), config: z.record(z.string(), z.union([z.number(), z.string()])) })
  .openapi('Topic');

export const PartitionState = z
  .object({
    partition: z.number().int(),
    log_start_offset: z.number().int(),
    high_watermark: z.number().int(),
    leader_epoch: z.number().int(),
    segments: z.number().int().optional().openapi({ description: 'With stats=true: segment objects holding records at or above the log start.' }),
    size_bytes: z.number().int().optional().openapi({ description: 'With stats=true: their bytes (records not yet flushed are not counted).' }),
  })
  .openapi('PartitionState');

export const DescribeQuery = z.object({
  stats: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ param: { name: 'stats', in: 'query' }, description: 'Also count each partition’s segments and bytes (one catalog query per partition).' }),
});

/**
 * DELETE of a topic, optionally of one incarnation: a deletion retried after its answer was lost
 * must not delete a topic created under the name since (the client sends the id it described).
 */
export const DeleteTopicQuery = z.object({
  topic_id: topicIdParam(
    'Delete only this incarnation of the topic (`topic_id` of its description): another incarnation under the name, or none, is 404 UNKNOWN_TOPIC_OR_PARTITION and is left alone.',
  ),
});

export const TopicDescription = z
  .object({
    name: z.string(),
    topic_id: z.string().openapi({
      description: 'This incarnation of the topic (Kafka’s topic ID): a topic deleted and created again under its name gets a new one. Its segment objects are under `topics/<name>/<topic_id>/`.',
      example: '6f1c2f0e-8a4b-4d6e-9c1a-3b5d7e9f0a12',
    }),
    config: z.record(z.string(), z.union([z.number(), z.string()])),
    partitions: z.array(PartitionState),
  })
  .openapi('TopicDescription');

const KeyFormat = z.enum(['string', 'json', 'base64']);
const ValueFormat = z.enum(['json', 'string', 'base64']);

export const Header = z.object({ key: z.string(), value: z.string().nullable() }).openapi('Header');

export const ProduceRecord = z
  .object({
    key: z.unknown().optional().openapi({ description: 'Encoded per key_format; null or absent for no key.' }),
    value: z.unknown().openapi({ description: 'Encoded per value_format; null for a tombstone.' }),
    headers: z.array(Header).max(1000, 'at most 1000 headers per record (max_headers_per_record)').optional(),
    partition: z.number().int().min(0).optional().openapi({ description: "Explicit partition; otherwise Kafka's murmur2 partitioner on the key." }),
    timestamp: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().openapi({ description: 'CreateTime in ms since epoch; default now.' }),
  })
  .openapi('ProduceRecord');

export const ProducerRef = z
  .object({
    id: z.number().int().min(0),
    epoch: z.number().int().min(0).max(32767),
    sequence: z.number().int().min(0).max(2147483647),
  })
  .openapi('ProducerRef', {
    description:
      'Idempotent produce. `sequence` numbers this producer\'s JSON requests (0, 1, 2, ... across all topics), not records. ' +
      'A retry of a request (same sequence, topic and record count) returns the original offsets and writes nothing, and completes any partition a failed attempt left out; ' +
      'a sequence used by another request (another topic or record count), a gap, or one older than the last 5 → 409 OUT_OF_ORDER_SEQUENCE_NUMBER; an epoch other than the current → 409 INVALID_PRODUCER_EPOCH. ' +
      'A request is atomic per partition, not across partitions.',
  });

export const ProduceBody = z
  .object({
    records: z
      .array(ProduceRecord)
      .min(1)
      .max(MAX_RECORDS_PER_REQUEST, `at most ${MAX_RECORDS_PER_REQUEST} records per request (max_records_per_request)`),
    key_format: KeyFormat.optional().default('string'),
    value_format: ValueFormat.optional().default('json'),
    producer: ProducerRef.optional(),
  })
  .openapi('ProduceRequest');

export const ProduceResponse = z
  .object({
    offsets: z.array(z.object({ partition: z.number().int(), offset: z.number().int(), timestamp: z.number().int() })),
  })
  .openapi('ProduceResponse');

export const BatchProduceResponse = z
  .object({ partition: z.number().int(), base_offset: z.number().int(), last_offset: z.number().int() })
  .openapi('BatchProduceResponse');

/** An optional integer query parameter in [min, max], validated from its string form. */
export const intParam = (name: string, min: number, max: number, description: string) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a non-negative integer`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`)
    .optional()
    .openapi({ param: { name, in: 'query' }, description, type: 'integer' });

export const FetchQuery = z.object({
  offset: intParam('offset', 0, Number.MAX_SAFE_INTEGER, 'First offset to return (default: the log start offset).'),
  topic_id: TopicIdParam,
  max_records: intParam('max_records', 1, 10000, 'At most this many records (default 500).'),
  max_bytes: intParam('max_bytes', 1, 64 * 1024 * 1024, 'About this many bytes of batches (default 1 MiB); at least one batch is returned.'),
  wait_ms: intParam('wait_ms', 0, 60000, 'At the high watermark, wait up to this long for new records (default 0).'),
  key_format: KeyFormat.optional().openapi({ param: { name: 'key_format', in: 'query' } }),
  value_format: ValueFormat.optional().openapi({ param: { name: 'value_format', in: 'query' } }),
  follow: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ param: { name: 'follow', in: 'query' }, description: 'With Accept: text/event-stream, keep the response open and stream records as they arrive (Server-Sent Events).' }),
  max_session_ms: intParam('max_session_ms', 1000, 24 * 3600_000, 'With follow: end the stream after this long (capped by the server; default 15 min, less on Lambda).'),
  keepalive_ms: intParam(
    'keepalive_ms',
    1,
    15_000,
    'With follow: after this long without an event the server writes a comment (`: keep-alive`), so the client can tell a dead connection from a quiet one (default and cap 15000). The response says the interval in X-Keepalive-Ms.',
  ),
});

export const FetchedRecord = z
  .object({
    offset: z.number().int(),
    timestamp: z.number().int(),
    key: z.unknown(),
    value: z.unknown(),
    headers: z.array(Header),
    key_encoding: z.literal('base64').optional(),
    value_encoding: z.literal('base64').optional(),
  })
  .openapi('Record');

export const FetchResponse = z
  .object({
    records: z.array(FetchedRecord),
    next_offset: z.number().int(),
    high_watermark: z.number().int(),
    log_start_offset: z.number().int(),
    clamped: z
      .object({ max_bytes: z.number().int(), runtime: z.string() })
      .optional()
      .openapi({ description: 'Present when the read was cut to what this deployment’s response can carry (also the x-samsa-clamped header); continue from next_offset.' }),
  })
  .openapi('FetchResponse');

export const OffsetsQuery = z.object({
  timestamp: z
    .string()
    .regex(/^(earliest|latest|\d+)$/, 'timestamp must be "earliest", "latest" or ms since epoch')
    .optional()
    .openapi({ param: { name: 'timestamp', in: 'query' }, example: 'earliest' }),
});

export const OffsetResponse = z
  .object({ offset: z.number().int(), timestamp: z.number().int().nullable() })
  .openapi('OffsetLookup');

export const ProducerInit = z.object({ id: z.number().int().min(0).optional() }).openapi('ProducerInit');
export const ProducerIdentity = z.object({ id: z.number().int(), epoch: z.number().int() }).openapi('ProducerIdentity');

export const TopicParam = z.object({ topic: TopicName.openapi({ param: { name: 'topic', in: 'path' } }) });
export const PartitionParams = z.object({
  topic: TopicName.openapi({ param: { name: 'topic', in: 'path' } }),
  partition: z
    .string()
    .regex(/^\d+$/, 'partition must be a non-negative integer')
    .transform(Number)
    .openapi({ param: { name: 'partition', in: 'path' }, type: 'integer' }),
});

export const HealthBody = z.object({ status: z.literal('ok') }).openapi('Health');
export const TopicList = z.object({ topics: z.array(TopicSummary) }).openapi('TopicList');
