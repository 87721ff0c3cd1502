// lib/log/keys.ts builds and parses every key: the two invert, and keys sort as their offsets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chunkObject,
  COMMIT_ITEM_END,
  commitItemSk,
  EXTENT_END,
  extentSk,
  headKey,
  newTopicId,
  ownsDirectory,
  parseChunkObject,
  parseCommitItemSk,
  parseExtentSk,
  parsePartitionPk,
  parseProducerKey,
  parseSegExtentSk,
  parseSegmentObject,
  parseSegmentSk,
  parseWalObject,
  partitionPk,
  partitionPrefix,
  producerKey,
  SEG_EXTENT_END,
  segExtentSk,
  SEGMENT_END,
  SEGMENT_FILES,
  segmentObject,
  segmentSk,
  topicDir,
  TOPICS_PREFIX,
  WAL_PREFIX,
  walObject,
} from '../../../lib/log/keys';
import { BUCKET_LIFECYCLE_RULES, S3_PREFIXES } from '../../../lib/storage/aws-resources';

const off = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const partition = fc.integer({ min: 0, max: 9_999 });
/** Topic names as validateTopicName allows them. */
const topicName = fc.stringMatching(/^[A-Za-z0-9._-]{1,249}$/).filter((s) => s !== '.' && s !== '..');

describe('keys: build and parse invert', () => {
  it('partition keys and sort keys', () => {
    fc.assert(
      fc.property(fc.uuid(), partition, (id, p) => {
        expect(parsePartitionPk(partitionPk(id, p))).toEqual({ topicId: id, partition: p });
        expect(parsePartitionPk(headKey(id, p).pk)).toEqual({ topicId: id, partition: p });
      }),
    );
    fc.assert(
      fc.property(off, (o) => {
        expect(parseExtentSk(extentSk(o))).toBe(o);
        expect(parseCommitItemSk(commitItemSk(o))).toBe(o);
        expect(parseCommitItemSk(extentSk(o))).toBeUndefined();
        expect(commitItemSk(o) < COMMIT_ITEM_END).toBe(true);
        expect(parseSegExtentSk(segExtentSk(o))).toBe(o);
        expect(parseSegmentSk(segmentSk(o))).toBe(o);
        expect(parseProducerKey(producerKey(o))).toBe(o);
        // Each key space parses only its own keys.
        expect(parseExtentSk(segExtentSk(o))).toBeUndefined();
        expect(parseSegmentSk(extentSk(o))).toBeUndefined();
        expect(parseSegExtentSk(segmentSk(o))).toBeUndefined();
      }),
    );
  });

  it('sort keys order as their offsets, and below their END bounds', () => {
    fc.assert(
      fc.property(off, off, (a, b) => {
        for (const sk of [extentSk, segExtentSk, segmentSk]) expect(Math.sign(sk(a).localeCompare(sk(b), 'en', { numeric: false }))).toBe(Math.sign(a - b));
        expect(extentSk(a) < EXTENT_END && segExtentSk(a) < SEG_EXTENT_END && segmentSk(a) < SEGMENT_END).toBe(true);
      }),
    );
  });

  it('object keys', () => {
    fc.assert(
      fc.property(topicName, fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.uuid({ version: 4 }), partition, off, fc.constantFrom(...SEGMENT_FILES), (t, ms, v4, p, base, ext) => {
        // Design note 0012: an incarnation's own directory (a v7 id, as new topics get), and the
        // name's shared one (topics created before it had v4 ids); a key says which, and parses back to it.
        const id = newTopicId(ms);
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(ms); // RFC 9562: the milliseconds first
        expect([ownsDirectory(id), ownsDirectory(v4)]).toEqual([true, false]);
        const scoped = { name: t, id };
        const shared = { name: t, id: v4 };
        expect(parseSegmentObject(segmentObject(scoped, p, base, ext))).toEqual({ topic: t, topicId: id, partition: p, base, ext });
        expect(parseSegmentObject(segmentObject(shared, p, base, ext))).toEqual({ topic: t, partition: p, base, ext });
        expect(topicDir(shared)).toBe(`topics/${t}/`);
        expect(segmentObject(scoped, p, base, ext).startsWith(topicDir(scoped))).toBe(true);
        // No key of the shared layout is under another partition's prefix or an incarnation's directory, nor the reverse.
        expect(segmentObject(scoped, p, base, ext).startsWith(partitionPrefix(shared, p))).toBe(false);
        expect(segmentObject(shared, p, base, ext).startsWith(topicDir(scoped))).toBe(false);
        for (const o of [scoped, shared]) {
          expect(parseWalObject(segmentObject(o, p, base, ext))).toBeUndefined();
          expect(parseChunkObject(segmentObject(o, p, base, ext))).toBeUndefined();
          expect(parseSegmentObject(chunkObject(o, p, base, 1 + base, ext))).toBeUndefined();
          expect(parseChunkObject(chunkObject(o, p, base, 1 + base, ext))).toEqual({ ...parseSegmentObject(segmentObject(o, p, base, ext)), logStart: 1 + base });
        }
      }),
    );
    fc.assert(
      fc.property(fc.uuid(), partition, fc.uuid(), (id, p, rid) => {
        expect(parseWalObject(walObject(id, p, rid))).toEqual({ topicId: id, partition: p, id: rid });
        expect(parseSegmentObject(walObject(id, p, rid))).toBeUndefined();
      }),
    );
  });

  it('keys that are not Samsa’s parse as nothing', () => {
    const keys = ['topics/t/0/12.log', 'topics/t/0/00000000000000000012.txt', 'topics/t/00000000000000000012.log', 'wal/a/b/c', 'wal/a/0/c/d', 'other/x'];
    // A directory between the name and the partition is an incarnation's only when it is an id (the sweeper deletes what parses).
    keys.push('topics/t/backup/0/00000000000000000012.log', 'topics/t/backup/0/chunks/00000000000000000012+00000000000000000100.log');
    for (const k of keys) {
      expect(parseSegmentObject(k) ?? parseWalObject(k)).toBeUndefined();
    }
  });

  it('the bucket layout the infrastructure scopes its rules by is the one keys.ts builds under', () => {
    expect(S3_PREFIXES).toEqual({ topics: TOPICS_PREFIX, wal: WAL_PREFIX });
    expect(segmentObject({ name: 't', id: newTopicId(Date.now()) }, 0, 0, 'log').startsWith(S3_PREFIXES.topics)).toBe(true);
    expect(walObject('id', 0, 'x').startsWith(BUCKET_LIFECYCLE_RULES.find((r) => r.id === 'samsa-expire-wal')!.prefix)).toBe(true);
  });
});
