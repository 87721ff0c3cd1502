// Admin APIs over the topic registry: what `kafka-topics.sh`, KafkaJS's admin and kcat's
// metadata calls need. Replication factors are accepted and ignored: durability is S3's (or the
// local disk's), not a replica count's.
import { SamsaError } from '../errors';
import { applyTopicConfig, DEFAULT_TOPIC_CONFIG, validatePartitionCount, validateTopicName } from '../log/topic-config';
import { type Api, errOf } from './context';
import { ErrorCode, Writer } from './protocol';

const messageOf = (err: unknown): string | null => (err instanceof Error ? err.message : null);

// --- CreateTopics (19) --------------------------------------------------------------------
// Request v0-4: topics [name STRING, num_partitions INT32, replication_factor INT16,
//   assignments [partition_index INT32, broker_ids [INT32]], configs [name STRING, value NULLABLE_STRING]],
//   timeout_ms INT32, validate_only BOOLEAN (v1+)
// Response: throttle_time_ms INT32 (v2+), topics [name STRING, error_code INT16, error_message NULLABLE_STRING (v1+)]
// num_partitions -1 takes the broker default (Kafka's num.partitions, 1).
const createTopics: Api = {
  name: 'CreateTopics',
  min: 0,
  max: 4,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const topics = r.array(
      (x) => ({
        name: x.string(),
        partitions: x.int32(),
        rf: x.int16(),
        assignments: x.array((y) => ({ p: y.int32(), brokers: y.array((z) => z.int32(), 4) }), 8),
        configs: x.array((y) => ({ name: y.string(), value: y.nullableString() }), 4),
      }),
      16,
    );
    r.int32();
    const validateOnly = v >= 1 ? r.bool() : false;
    const out = [];
    // Kafka refuses every entry of a name the request holds more than once, and creates none.
    const counts = new Map<string, number>();
    for (const t of topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    for (const t of topics) {
      let error: number = ErrorCode.NONE;
      let message: string | null = null;
      if (!(await ctx.authorize(s, 'create', 'topic', t.name))) error = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
      else if (counts.get(t.name)! > 1) {
        error = ErrorCode.INVALID_REQUEST;
        message = `topic "${t.name}" appears more than once in the request`;
      } else if (t.assignments.length > 0) {
        error = ErrorCode.INVALID_REQUEST;
        message = 'manual replica assignment is not supported: every partition lives on every node';
      } else {
        const config = Object.fromEntries(t.configs.filter((c) => c.value !== null).map((c) => [c.name, c.value]));
        try {
          if (validateOnly) {
            // The checks the real create makes, in its order, without creating anything.
            validateTopicName(t.name);
            validatePartitionCount(t.partitions === -1 ? 1 : t.partitions);
            applyTopicConfig(DEFAULT_TOPIC_CONFIG, config);
            // A name held by a live topic or one still being deleted, as the create refuses it.
            await ctx.engine.topics.checkNameFree(t.name);
          } else {
            await ctx.engine.createTopic(t.name, t.partitions === -1 ? 1 : t.partitions, config);
          }
        } catch (err) {
          error = errOf(err);
          message = messageOf(err);
          // No existence oracle: a caller who may create but not describe the topic is not
          // told it exists (Kafka's controller answers so; POST /v1/topics turns 409 into 403).
          if (error === ErrorCode.TOPIC_ALREADY_EXISTS && !(await ctx.authorize(s, 'describe', 'topic', t.name))) {
            error = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
            message = null;
          }
        }
      }
      out.push({ name: t.name, error, message });
    }
    const w = new Writer();
    if (v >= 2) w.int32(0);
    return w.array(out, (x, t) => {
      x.string(t.name).int16(t.error);
      if (v >= 1) x.string(t.message);
    });
  },
};

// --- DeleteTopics (20) --------------------------------------------------------------------
// Request v0-3: topic_names [STRING], timeout_ms INT32
// Response: throttle_time_ms INT32 (v1+), responses [name STRING, error_code INT16]
const deleteTopics: Api = {
  name: 'DeleteTopics',
  min: 0,
  max: 3,
  async handle(ctx, s, h, r) {
    const names = r.array((x) => x.string(), 2);
    r.int32();
    const out = [];
    for (const name of names) {
      let error: number = ErrorCode.NONE;
      if (!(await ctx.authorize(s, 'delete', 'topic', name))) error = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
      else {
        try {
          await ctx.engine.deleteTopic(name);
        } catch (err) {
          error = errOf(err);
        }
      }
      out.push({ name, error });
    }
    const w = new Writer();
    if (h.apiVersion >= 1) w.int32(0);
    return w.array(out, (x, t) => void x.string(t.name).int16(t.error));
  },
};

// --- CreatePartitions (37) ----------------------------------------------------------------
// Request v0-1: topics [name STRING, count INT32, assignments NULLABLE [broker_ids [INT32]]],
//   timeout_ms INT32, validate_only BOOLEAN
// Response: throttle_time_ms INT32, results [name STRING, error_code INT16, error_message NULLABLE_STRING]
const createPartitions: Api = {
  name: 'CreatePartitions',
  min: 0,
  max: 1,
  async handle(ctx, s, _h, r) {
    const topics = r.array((x) => ({ name: x.string(), count: x.int32(), assignments: x.nullableArray((y) => y.array((z) => z.int32(), 4), 4) }), 10);
    r.int32();
    const validateOnly = r.bool();
    const out = [];
    for (const t of topics) {
      let error: number = ErrorCode.NONE;
      let message: string | null = null;
      if (!(await ctx.authorize(s, 'alter', 'topic', t.name))) error = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
      else {
        try {
          const cur = await ctx.engine.topics.get(t.name, { fresh: true });
          // Kafka refuses a count that does not grow the topic.
          if (t.count <= cur.partitions) throw new SamsaError('INVALID_PARTITIONS', `topic "${t.name}" already has ${cur.partitions} partition(s); the new count must be larger`);
          // validate_only: the limit the alter itself checks.
          if (validateOnly) validatePartitionCount(t.count);
          else await ctx.engine.topics.alter(t.name, { partitions: t.count });
        } catch (err) {
          error = errOf(err);
          message = messageOf(err);
        }
      }
      out.push({ name: t.name, error, message });
    }
    return new Writer().int32(0).array(out, (x, t) => void x.string(t.name).int16(t.error).string(t.message));
  },
};

// --- DescribeConfigs (32) -----------------------------------------------------------------
// Request v0-2: resources [resource_type INT8, resource_name STRING, configuration_keys NULLABLE [STRING]],
//   include_synonyms BOOLEAN (v1+)
// Response: throttle_time_ms INT32, results [error_code INT16, error_message NULLABLE_STRING,
//   resource_type INT8, resource_name STRING, configs [name STRING, value NULLABLE_STRING,
//   read_only BOOLEAN, is_default BOOLEAN (v0) | config_source INT8 (v1+), is_sensitive BOOLEAN,
//   synonyms [name STRING, value NULLABLE_STRING, source INT8] (v1+)]]
// Resource type 2 is a topic (its Samsa config), 4 a broker (no broker configs are exposed).
const TOPIC = 2;
const SOURCE_TOPIC = 1;
const SOURCE_DEFAULT = 5;
const describeConfigs: Api = {
  name: 'DescribeConfigs',
  min: 0,
  max: 2,
  async handle(ctx, s, h, r) {
    const v = h.apiVersion;
    const resources = r.array((x) => ({ type: x.int8(), name: x.string(), keys: x.nullableArray((y) => y.string(), 2) }), 7);
    if (v >= 1) r.bool();
    const out = [];
    for (const res of resources) {
      let error: number = ErrorCode.NONE;
      let message: string | null = null;
      let configs: Array<{ name: string; value: string; isDefault: boolean }> = [];
      if (res.type === TOPIC) {
        if (!(await ctx.authorize(s, 'describe', 'topic', res.name))) error = ErrorCode.TOPIC_AUTHORIZATION_FAILED;
        else {
          try {
            const t = await ctx.engine.topics.get(res.name, { fresh: true });
            configs = Object.entries(t.config)
              .filter(([k]) => res.keys === null || res.keys.includes(k))
              .map(([k, val]) => ({ name: k, value: String(val), isDefault: DEFAULT_TOPIC_CONFIG[k as keyof typeof DEFAULT_TOPIC_CONFIG] === val }));
          } catch (err) {
            error = errOf(err);
            message = messageOf(err);
          }
        }
      } else if (res.type !== 4) {
        error = ErrorCode.INVALID_REQUEST;
        message = `resource type ${res.type} is not supported (2: topic, 4: broker)`;
      }
      out.push({ ...res, error, message, configs });
    }
    return new Writer().int32(0).array(out, (x, res) => {
      x.int16(res.error).string(res.message).int8(res.type).string(res.name);
      x.array(res.configs, (y, c) => {
        y.string(c.name).string(c.value).bool(false);
        if (v === 0) y.bool(c.isDefault);
        else y.int8(c.isDefault ? SOURCE_DEFAULT : SOURCE_TOPIC);
        y.bool(false);
        if (v >= 1) y.array([], () => {});
      });
    });
  },
};

export const adminApis: Array<[number, Api]> = [
  [19, createTopics],
  [20, deleteTopics],
  [32, describeConfigs],
  [37, createPartitions],
];
