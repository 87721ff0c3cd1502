// Topic names and topic-level configuration, with Kafka's rules, keys and defaults.
import { SamsaError } from '../errors';

export const MAX_SEGMENT_BYTES = 1073741824; // 1 GiB: the S3 object cap Samsa promises
export const MAX_PARTITIONS = 10_000;

export interface TopicConfig {
  'retention.ms': number;
  'retention.bytes': number;
  'segment.bytes': number;
  'segment.ms': number;
  'max.message.bytes': number;
  'cleanup.policy': 'delete';
}

export const DEFAULT_TOPIC_CONFIG: Readonly<TopicConfig> = Object.freeze({
  'retention.ms': 604_800_000,
  'retention.bytes': -1,
  'segment.bytes': MAX_SEGMENT_BYTES,
  'segment.ms': 604_800_000,
  'max.message.bytes': 1_048_588,
  'cleanup.policy': 'delete',
});

interface NumericRule {
  min: number;
  max: number;
  /** Explain the bound in the error message. */
  hint: string;
}

// Bounds as Kafka's ConfigDef states them (TopicConfig / LogConfig), except segment.bytes'
// upper bound, which is Samsa's 1 GiB object cap.
const NUMERIC: Record<Exclude<keyof TopicConfig, 'cleanup.policy'>, NumericRule> = {
  'retention.ms': { min: -1, max: Number.MAX_SAFE_INTEGER, hint: '-1 (forever) or a duration in ms' },
  'retention.bytes': { min: -1, max: Number.MAX_SAFE_INTEGER, hint: '-1 (unlimited) or a size in bytes' },
  'segment.bytes': { min: 14, max: MAX_SEGMENT_BYTES, hint: `between 14 and ${MAX_SEGMENT_BYTES} bytes` },
  'segment.ms': { min: 1, max: Number.MAX_SAFE_INTEGER, hint: 'at least 1 ms' },
  'max.message.bytes': { min: 0, max: 2_147_483_647, hint: 'between 0 and 2147483647 bytes' },
};

const TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
/** Kafka's bound on topic names (and Samsa's on group and member ids). */
export const MAX_NAME_LENGTH = 249;

/** Whether `name` passes validateTopicName (for a caller that falls back rather than refuses). */
export function isTopicName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && name !== '.' && name !== '..' && TOPIC_NAME.test(name);
}

/** A name for an error message: hostile names can be megabytes long. */
const shown = (name: string): string => (name.length > 64 ? `${name.slice(0, 64)}…` : name);

/**
 * The one rule for topic names wherever they enter (paths, bodies, the engine's registry):
 * Kafka's — 1-249 of [a-zA-Z0-9._-], not "." or "..". Throws INVALID_TOPIC_EXCEPTION.
 */
export function validateTopicName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new SamsaError('INVALID_TOPIC_EXCEPTION', `topic name must be 1-${MAX_NAME_LENGTH} characters, got ${typeof name === 'string' ? name.length : typeof name}`, {
      topic: typeof name === 'string' ? shown(name) : null,
    });
  }
  if (name === '.' || name === '..') {
    throw new SamsaError('INVALID_TOPIC_EXCEPTION', `topic name cannot be "${name}"`, { topic: name });
  }
  if (!TOPIC_NAME.test(name)) {
    throw new SamsaError(
      'INVALID_TOPIC_EXCEPTION',
      `topic name "${shown(name)}" is illegal: it may contain only ASCII letters, digits, '.', '_' and '-'`,
      { topic: shown(name) },
    );
  }
}

/**
 * Consumer group ids and member ids. Kafka leaves them free-form, but they become storage keys
 * and ACL resource names, and the group coordinator has always taken only these characters:
 * one rule for every route (docs/limits.md). Not "." or "..": every HTTP client, and the server
 * before it routes, resolves such a path segment (percent-encoded too, as %2E: WHATWG URL), so
 * /v1/groups/../offsets names another route and such a group could never be reached over HTTP.
 */
export const GROUP_ID_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._-]{1,249}$/;
/** The group ids no URL can carry (GROUP_ID_PATTERN): the Kafka listener answers INVALID_GROUP_ID. */
export const isDotSegment = (id: string): boolean => id === '.' || id === '..';
export const MEMBER_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** Throws INVALID_REQUEST unless `name` is a group id (or, with `member_id`, a member id). */
export function validateGroupName(name: string, what: 'group' | 'member_id' = 'group'): void {
  const ok = typeof name === 'string' && (what === 'group' ? GROUP_ID_PATTERN : MEMBER_ID_PATTERN).test(name);
  if (!ok) {
    const max = what === 'group' ? MAX_NAME_LENGTH : 128;
    throw new SamsaError('INVALID_REQUEST', `${what} must be 1-${max} characters of [A-Za-z0-9._-]${what === 'group' ? ', not "." or ".."' : ''}${typeof name === 'string' ? ` (got ${JSON.stringify(name.slice(0, 64))}${name.length > 64 ? '…' : ''})` : ''}`, {
      field: what,
    });
  }
}

export function validatePartitionCount(n: unknown, what = 'partitions'): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PARTITIONS) {
    throw new SamsaError('INVALID_PARTITIONS', `${what} must be an integer between 1 and ${MAX_PARTITIONS}, got ${JSON.stringify(n)}`);
  }
  return n;
}

/** Parse a user-supplied config map (values as numbers or Kafka-style strings) onto a base. */
export function applyTopicConfig(base: Readonly<TopicConfig>, input: Record<string, unknown> | undefined): TopicConfig {
  const out: TopicConfig = { ...base };
  if (input === undefined || input === null) return out;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new SamsaError('INVALID_CONFIG', 'config must be an object of Kafka topic config keys');
  }
  const problems: string[] = [];
  for (const [key, raw] of Object.entries(input)) {
    if (key === 'cleanup.policy') {
      if (raw !== 'delete') {
        problems.push(`cleanup.policy: only "delete" is supported, got ${JSON.stringify(raw)}`);
      }
      continue;
    }
    // Own keys only: indexing NUMERIC with "constructor" or "__proto__" finds Object.prototype's
    // members, which passed as rules without bounds and were stored as config.
    const rule = Object.hasOwn(NUMERIC, key) ? NUMERIC[key as keyof typeof NUMERIC] : undefined;
    if (!rule) {
      problems.push(`unknown config key "${key}" (supported: ${Object.keys(DEFAULT_TOPIC_CONFIG).join(', ')})`);
      continue;
    }
    const value = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < rule.min || value > rule.max) {
      problems.push(`${key} must be ${rule.hint}, got ${JSON.stringify(raw)}`);
      continue;
    }
    (out as unknown as Record<string, number>)[key] = value;
  }
  if (problems.length > 0) {
    throw new SamsaError('INVALID_CONFIG', problems.join('; '), { problems });
  }
  return out;
}
