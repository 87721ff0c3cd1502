// Every metadata key and object key Samsa uses, in one place (as SlateDB's paths.rs), so the
// layout can be read — and changed — without hunting through the engine. Offsets are zero
// padded to 20 digits so lexicographic order is numeric order, as in Kafka's file names.
import type { MetaKey } from '../storage/ports';

export const pad20 = (n: number): string => n.toString().padStart(20, '0');

// --- metadata ---------------------------------------------------------------------------------

/** All topics live under one partition key, one item per topic. */
export const TOPICS_PK = 'topics';
export const topicKey = (topic: string): MetaKey => ({ pk: TOPICS_PK, sk: topic });

/**
 * Everything about one partition's log shares a partition key. It is keyed by the topic's
 * incarnation id, not its name, so a re-created topic never sees (or is written by a zombie
 * of) its predecessor.
 */
export const partitionPk = (topicId: string, partition: number): string => `log#${topicId}#${partition}`;

/** The partition head: high watermark, log start, flushed offset, leader epoch. */
export const headKey = (topicId: string, partition: number): MetaKey => ({
  pk: partitionPk(topicId, partition),
  sk: 'head',
});

/**
 * Commit pages: contiguous commit extents (one per commit, pointing at its batches inline or in
 * a write-ahead object), keyed by the page's LAST offset, so "the page that can cover offset
 * o" is the first page with sk ≥ x#o. Only extents at or above the head's `flushed` offset
 * mean anything (see model.ts).
 */
export const EXTENT_PREFIX = 'x#';
export const extentSk = (offset: number): string => `${EXTENT_PREFIX}${pad20(offset)}`;
/** Just past every commit-extent key. */
export const EXTENT_END = 'x$';

/**
 * Segment extents: runs of flushed batches inside a segment object, written by flush. A key
 * space of their own, so flushing never has to delete commit extents atomically with writing
 * these (the commit extents below `flushed` are simply ignored, then deleted at leisure).
 */
export const SEG_EXTENT_PREFIX = 'sx#';
export const segExtentSk = (baseOffset: number): string => `${SEG_EXTENT_PREFIX}${pad20(baseOffset)}`;
export const SEG_EXTENT_END = 'sx$';

/** Segment catalog entries: one per `.log` object. */
export const SEGMENT_PREFIX = 'seg#';
export const segmentSk = (baseOffset: number): string => `${SEGMENT_PREFIX}${pad20(baseOffset)}`;
export const segmentKey = (topicId: string, partition: number, baseOffset: number): MetaKey => ({
  pk: partitionPk(topicId, partition),
  sk: segmentSk(baseOffset),
});

/** Idempotent producers: id allocation and per-producer state. */
export const PRODUCERS_PK = 'producers';
export const producerCounterKey: MetaKey = { pk: PRODUCERS_PK, sk: 'next-id' };
export const producerKey = (id: number): MetaKey => ({ pk: PRODUCERS_PK, sk: `pid#${pad20(id)}` });

/**
 * Consumer groups (lib/groups). Each group has two partition keys: `group#<g>` holds the group
 * item (generation, assignor, partition counts), one item per member (subscription, heartbeat
 * version, acknowledged generation) and the ownership shards, so one query reads everything a
 * heartbeat needs, and heartbeats of different members never write the same item. `goff#<g>`
 * holds one item per topic-partition: its committed offset with the incarnation id of the topic
 * it was committed on, so a commit is a check on the group's generation plus one update.
 */
export const GROUPS_PK = 'groups';
export const groupRegistryKey = (group: string): MetaKey => ({ pk: GROUPS_PK, sk: group });
export const groupPk = (group: string): string => `group#${group}`;
export const groupMetaKey = (group: string): MetaKey => ({ pk: groupPk(group), sk: 'meta' });
export const GROUP_MEMBER_PREFIX = 'm#';
/**
 * Ownership shards: the owners and pending revocations of `GROUP_OWNER_CHUNK` consecutive
 * partitions of one topic per item, beside the group item (so the heartbeat's one query still
 * reads them) but out of it, so no item grows with the partition or member count beyond one
 * chunk (docs/design/0005-consumer-groups.md, "Layout").
 */
export const GROUP_OWNER_PREFIX = 'o#';
export const GROUP_OWNER_CHUNK = 1000;
export const groupOwnerKey = (group: string, topic: string, chunk: number): MetaKey => ({
  pk: groupPk(group),
  sk: `${GROUP_OWNER_PREFIX}${topic}#${chunk.toString().padStart(6, '0')}`,
});
export const groupMemberKey = (group: string, memberId: string): MetaKey => ({ pk: groupPk(group), sk: `${GROUP_MEMBER_PREFIX}${memberId}` });
export const groupOffsetsPk = (group: string): string => `goff#${group}`;
export const GROUP_PARTITION_PREFIX = 'p#';
export const groupPartitionKey = (group: string, topic: string, partition: number): MetaKey => ({
  pk: groupOffsetsPk(group),
  sk: `${GROUP_PARTITION_PREFIX}${topic}#${pad20(partition)}`,
});

/** Work queue of deleted topics whose data is still being removed. */
export const DELETIONS_PK = 'deletions';

// --- objects ----------------------------------------------------------------------------------

export const topicPrefix = (topic: string): string => `topics/${topic}/`;
export const partitionPrefix = (topic: string, partition: number): string => `topics/${topic}/${partition}/`;
export const segmentObject = (topic: string, partition: number, base: number, ext: 'log' | 'index' | 'timeindex'): string =>
  `${partitionPrefix(topic, partition)}${pad20(base)}.${ext}`;

/** Write-ahead objects hold committed-but-not-yet-flushed batches too large to keep inline. */
export const WAL_PREFIX = 'wal/';
export const walObject = (topicId: string, partition: number, id: string): string =>
  `${WAL_PREFIX}${topicId}/${partition}/${id}`;
