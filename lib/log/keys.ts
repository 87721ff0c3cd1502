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
 * Extents: contiguous runs of committed batches. Sort key = base offset, so "the extent
 * covering offset o" is the last extent with sk ≤ x#o.
 */
export const EXTENT_PREFIX = 'x#';
export const extentSk = (baseOffset: number): string => `${EXTENT_PREFIX}${pad20(baseOffset)}`;
export const extentKey = (topicId: string, partition: number, baseOffset: number): MetaKey => ({
  pk: partitionPk(topicId, partition),
  sk: extentSk(baseOffset),
});

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
