// Every metadata key and object key Samsa uses, in one place (as SlateDB's paths.rs), so the
// layout can be read — and changed — without hunting through the engine: each key is built and
// parsed side by side (test/unit/log/keys.test.ts checks that the two invert). Offsets are zero
// padded to 20 digits so lexicographic order is numeric order, as in Kafka's file names.
import { OBJECT_PREFIXES } from '../storage/layout';
import type { MetaKey } from '../storage/ports';

export const pad20 = (n: number): string => n.toString().padStart(20, '0');

/** A 20-digit zero-padded offset back to its number (undefined when `s` is not one). */
const unpad20 = (s: string): number | undefined => (/^\d{20}$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined);
/** `s` without `prefix`, or undefined when it does not start with it. */
const after = (s: string, prefix: string): string | undefined => (s.startsWith(prefix) ? s.slice(prefix.length) : undefined);

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
export function parsePartitionPk(pk: string): { topicId: string; partition: number } | undefined {
  const m = /^log#(.+)#(0|[1-9]\d*)$/.exec(pk);
  return m ? { topicId: m[1]!, partition: Number(m[2]) } : undefined;
}

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
/** The last offset a commit page's sort key names. */
export const parseExtentSk = (sk: string): number | undefined => unpad20(after(sk, EXTENT_PREFIX) ?? '');

/**
 * Commit items (items mode, commit-items.ts): one per commit, keyed by its BASE offset, so that
 * "commit at b" is "create c#<b> if absent" — the put's condition is the whole commit point —
 * and the item covering offset o is the last one with sk ≤ c#o. Also the deletion fence of a
 * deleted incarnation (an item at the log's end that no commit can pass).
 */
export const COMMIT_ITEM_PREFIX = 'c#';
export const commitItemSk = (base: number): string => `${COMMIT_ITEM_PREFIX}${pad20(base)}`;
/** Just past every commit-item key. */
export const COMMIT_ITEM_END = 'c$';
export const parseCommitItemSk = (sk: string): number | undefined => unpad20(after(sk, COMMIT_ITEM_PREFIX) ?? '');
/** The key of the commit item (or fence) at `base` in a partition. */
export const commitItemKey = (topicId: string, partition: number, base: number): MetaKey => ({ pk: partitionPk(topicId, partition), sk: commitItemSk(base) });

/**
 * Segment extents: runs of flushed batches inside a segment object, written by flush. A key
 * space of their own, so flushing never has to delete commit extents atomically with writing
 * these (the commit extents below `flushed` are simply ignored, then deleted at leisure).
 */
export const SEG_EXTENT_PREFIX = 'sx#';
export const segExtentSk = (baseOffset: number): string => `${SEG_EXTENT_PREFIX}${pad20(baseOffset)}`;
export const SEG_EXTENT_END = 'sx$';
export const parseSegExtentSk = (sk: string): number | undefined => unpad20(after(sk, SEG_EXTENT_PREFIX) ?? '');

/** Segment catalog entries: one per `.log` object. */
export const SEGMENT_PREFIX = 'seg#';
export const segmentSk = (baseOffset: number): string => `${SEGMENT_PREFIX}${pad20(baseOffset)}`;
/** Just past every catalog key. */
export const SEGMENT_END = 'seg$';
export const parseSegmentSk = (sk: string): number | undefined => unpad20(after(sk, SEGMENT_PREFIX) ?? '');
export const segmentKey = (topicId: string, partition: number, baseOffset: number): MetaKey => ({
  pk: partitionPk(topicId, partition),
  sk: segmentSk(baseOffset),
});

/** Idempotent producers: id allocation and per-producer state. */
export const PRODUCERS_PK = 'producers';
export const producerCounterKey: MetaKey = { pk: PRODUCERS_PK, sk: 'next-id' };
export const producerKey = (id: number): MetaKey => ({ pk: PRODUCERS_PK, sk: `pid#${pad20(id)}` });
export const parseProducerKey = (key: MetaKey): number | undefined => (key.pk === PRODUCERS_PK ? unpad20(after(key.sk, 'pid#') ?? '') : undefined);

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

/**
 * Work queue of deleted topic incarnations whose data is still being removed: one item per
 * incarnation, keyed by its id. The deletion queues it as it marks the topic item "deleting",
 * and removes that item once the partitions are tombstoned, so the name is free when the
 * deletion answers (design note 0007, "Deleted topics").
 */
export const TOPIC_DELETIONS_PK = 'topic-deletions';
export const topicDeletionKey = (topicId: string): MetaKey => ({ pk: TOPIC_DELETIONS_PK, sk: topicId });
/**
 * Finished deletions by id, each with the token of the DELETE that queued it: the deletion's
 * last transaction puts it as it removes the marker, and it goes with the incarnation's
 * tombstones (TOMBSTONE_TTL_MS on). A DELETE whose marking the SDK sent again after a lost
 * answer tells by it that the marking was its own, even once a pass has finished the deletion
 * (topics.ts, markDeleted).
 */
export const TOPIC_DELETIONS_DONE_PK = 'topic-deletions-done';
export const topicDeletionDoneKey = (topicId: string): MetaKey => ({ pk: TOPIC_DELETIONS_DONE_PK, sk: topicId });
/**
 * The queue of builds before it: one item per topic NAME, beside a topic item kept in state
 * "deleting" (the name taken) until the data was gone. Such markers are still read and finished
 * (a deploy leaves some, and a build before it, still running, writes them); none is written.
 */
export const DELETIONS_PK = 'deletions';
export const deletionKey = (topic: string): MetaKey => ({ pk: DELETIONS_PK, sk: topic });
/**
 * Tombstones to remove (tombstones.ts): one item per deleted incarnation whose data is gone,
 * sorted by when its tombstone heads may go, so a pass reads only the ones due.
 */
export const TOMBSTONES_PK = 'tombstones';
export const tombstoneDueKey = (dueMs: number, topicId: string): MetaKey => ({ pk: TOMBSTONES_PK, sk: `${pad20(dueMs)}#${topicId}` });
/** Everything due at or before `nowMs` sorts below this. */
export const tombstoneDueBefore = (nowMs: number): string => `${pad20(nowMs + 1)}`;

/**
 * Compositions set aside after a failure no retry cures (design note 0011, "When a composition
 * fails"): one item per segment, sorted by when it may be tried again, so that a retention pass
 * reads only the ones due, wherever their segments sit in their catalogs and whether or not
 * their partitions take records. Written with the catalog entry's failure record, in one
 * transaction.
 */
export const COMPOSE_DUE_PK = 'compose-due';
export const composeDueKey = (dueMs: number, topicId: string, partition: number, base: number): MetaKey => ({
  pk: COMPOSE_DUE_PK,
  sk: `${pad20(dueMs)}#${topicId}#${partition}#${pad20(base)}`,
});
/** Every composition due at or before `nowMs` sorts below this. */
export const composeDueBefore = (nowMs: number): string => `${pad20(nowMs + 1)}`;

/** Where the background jobs resume (retention.ts): one item each. */
export const RETENTION_CURSOR: MetaKey = { pk: 'retention', sk: 'cursor' };
export const SWEEP_CURSOR: MetaKey = { pk: 'sweeper', sk: 'cursor' };

// --- objects ----------------------------------------------------------------------------------

/**
 * Segment objects, by topic NAME and incarnation (design note 0012; storage/layout.ts):
 * `topics/<name>/<topic id>/<partition>/…`. A topic created before incarnation-scoped keys
 * keeps `topics/<name>/<partition>/…`, shared by every incarnation of the name; a re-created
 * name gets a directory of its own, so no two incarnations share a key.
 */
export const TOPICS_PREFIX = OBJECT_PREFIXES.topics;
/** What names a topic incarnation's objects: the topic itself, or a deletion marker's copy. */
export interface TopicObjects {
  name: string;
  id: string;
}

/**
 * The id of a new topic incarnation: a UUIDv7 (RFC 9562: 48 bits of Unix milliseconds, then
 * random bits). Topics created before design note 0012 have v4 ids (crypto.randomUUID), and
 * the version is what says whether an incarnation has a directory of its own — not an
 * attribute, which a build before 0012 would drop when it rewrites the topic item (an alter)
 * or leave out of a deletion marker; every build copies the id as it is.
 */
export function newTopicId(nowMs: number): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let ms = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
const V7 = '[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const V7_ID = new RegExp(`^${V7}$`);
/** Whether the incarnation `id` keeps its objects in a directory of its own (design note 0012): a v7 id. */
export const ownsDirectory = (id: string): boolean => V7_ID.test(id);

/** The directory of `topic`'s objects (every key of the incarnation starts with it). */
export const topicDir = (topic: TopicObjects): string =>
  ownsDirectory(topic.id) ? `${TOPICS_PREFIX}${topic.name}/${topic.id}/` : `${TOPICS_PREFIX}${topic.name}/`;
/** The directory of one partition's objects. */
export const partitionPrefix = (topic: TopicObjects, partition: number): string => `${topicDir(topic)}${partition}/`;
export type SegmentFile = 'log' | 'index' | 'timeindex';
export const SEGMENT_FILES: readonly SegmentFile[] = ['log', 'index', 'timeindex'];
export const segmentObject = (topic: TopicObjects, partition: number, base: number, ext: SegmentFile): string =>
  `${partitionPrefix(topic, partition)}${pad20(base)}.${ext}`;

/** A topic's directory in a key: `<name>/` (the shared layout) or `<name>/<id>/` (an incarnation's: its id is a v7 UUID). */
const DIR = String.raw`([^/]+)\/(?:(${V7})\/)?(\d+)\/`;
/** A parsed segment or chunk key: `topicId` is set for an incarnation's key, absent for the name's shared directory. */
export interface ObjectKeyParts {
  topic: string;
  topicId?: string;
  partition: number;
  base: number;
  ext: SegmentFile;
}
/** The name, incarnation id (when the key has one) and partition that DIR matched as groups 1-3. */
const dirParts = (m: RegExpExecArray): Pick<ObjectKeyParts, 'topic' | 'topicId' | 'partition'> => ({
  topic: m[1]!,
  ...(m[2] !== undefined ? { topicId: m[2] } : {}),
  partition: Number(m[3]),
});
const SEGMENT_KEY = new RegExp(`^${DIR}(\\d{20})\\.(log|index|timeindex)$`);
export function parseSegmentObject(key: string): ObjectKeyParts | undefined {
  const m = SEGMENT_KEY.exec(after(key, TOPICS_PREFIX) ?? '');
  return m ? { ...dirParts(m), base: Number(m[4]), ext: m[5] as SegmentFile } : undefined;
}

/**
 * A chunk of segment `base` starting at byte `logStart` of its .log (design note 0011): the
 * chunk at 0 is the segment's own objects, later ones live under `chunks/` beside them (a
 * listing of the partition's directory shows Kafka's files). `.log` last, so that a reader
 * finds a chunk's `.index` as it finds a segment's (replacing the extension).
 */
export const chunkObject = (topic: TopicObjects, partition: number, base: number, logStart: number, ext: SegmentFile): string =>
  logStart === 0 ? segmentObject(topic, partition, base, ext) : `${partitionPrefix(topic, partition)}chunks/${pad20(base)}+${pad20(logStart)}.${ext}`;
const CHUNK_KEY = new RegExp(`^${DIR}chunks\\/(\\d{20})\\+(\\d{20})\\.(log|index|timeindex)$`);
export function parseChunkObject(key: string): (ObjectKeyParts & { logStart: number }) | undefined {
  const m = CHUNK_KEY.exec(after(key, TOPICS_PREFIX) ?? '');
  return m ? { ...dirParts(m), base: Number(m[4]), logStart: Number(m[5]), ext: m[6] as SegmentFile } : undefined;
}

/**
 * Write-ahead objects hold committed-but-not-yet-flushed batches too large to keep inline; by
 * topic incarnation id, so a re-created topic's commits never meet its predecessor's.
 */
export const WAL_PREFIX = OBJECT_PREFIXES.wal;
export const walPrefix = (topicId: string): string => `${WAL_PREFIX}${topicId}/`;
export const walObject = (topicId: string, partition: number, id: string): string => `${walPrefix(topicId)}${partition}/${id}`;
export function parseWalObject(key: string): { topicId: string; partition: number; id: string } | undefined {
  const m = /^([^/]+)\/(\d+)\/([^/]+)$/.exec(after(key, WAL_PREFIX) ?? '');
  return m ? { topicId: m[1]!, partition: Number(m[2]), id: m[3]! } : undefined;
}
