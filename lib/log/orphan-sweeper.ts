// The orphan sweeper, the last step of a retention pass (design note 0007): crash leftovers —
// write-ahead, segment and chunk objects no metadata references — are deleted once older than a
// grace period longer than any commit or flush can keep an unreferenced object it will still
// reference (MIN_ORPHAN_GRACE_MS in retention.ts), so a live write never loses its object.
import type { MetaStore, ObjectStore } from '../storage/ports';
import type { Clock } from '../util/clock';
import { deletionMarkerFromItem, extentsFromItem, headFromItem, segmentFromItem, sweepCursorFromItem, sweepCursorToItem, topicItemFromItem } from './items';
import { COMMIT_ITEM_END, commitItemSk, DELETIONS_PK, EXTENT_END, extentSk, headKey, ownsDirectory, parseChunkObject, parseSegmentObject, parseWalObject, partitionPk, segmentSk, SWEEP_CURSOR, TOPIC_DELETIONS_PK, TOPICS_PK, TOPICS_PREFIX, WAL_PREFIX } from './keys';
import { queryCoveringItem } from './commit-items';
import { unflushedItems } from './reader';
import type { RetentionStats } from './retention';
import type { Segment } from './model';
import type { Topic } from './topics';

/** Listing pages per prefix a pass sweeps at most (the sweep wraps around over many passes). */
const SWEEP_PAGES = 5;

export class OrphanSweeper {
  constructor(
    private readonly meta: MetaStore,
    private readonly objects: ObjectStore,
    private readonly clock: Clock,
    private readonly opts: { orphanGraceMs: number },
  ) {}

  /**
   * Crash leftovers: write-ahead objects no extent references, segment objects absent from the
   * catalog, and chunk objects no catalog entry lists (design note 0011), older than the grace
   * period; objects of topics that no longer exist go too.
   * Keys that are not Samsa's are left alone. A cursor in the metadata store bounds each pass
   * (SWEEP_PAGES listing pages per prefix): the sweep wraps around over many passes.
   */
  async run(stats: Pick<RetentionStats, 'sweptObjects'>, deadline: number): Promise<void> {
    const now = this.clock.now();
    const byId = new Map<string, Topic>();
    const byName = new Map<string, Topic>();
    // Incarnations being deleted, by id (their own directory), and the names whose shared
    // directory holds a legacy incarnation being deleted: topic-deletion.ts owns those objects.
    // A deletion's marker is keyed by the incarnation's id, and its name may already hold a new
    // topic; a build before markers by id kept the topic item ("deleting") beside a marker by name.
    const deletingIds = new Set<string>();
    const deletingNames = new Set<string>();
    let after: string | undefined;
    do {
      const page = await this.meta.query({ pk: TOPICS_PK, startAfter: after, limit: 1000 });
      for (const item of page.items) {
        const { topic: t, deleting: isDeleting } = topicItemFromItem(item);
        if (isDeleting) {
          deletingIds.add(t.id);
          deletingNames.add(t.name);
        } else {
          byId.set(t.id, t);
          byName.set(t.name, t);
        }
      }
      after = page.next;
    } while (after);
    for (const pk of [TOPIC_DELETIONS_PK, DELETIONS_PK]) {
      do {
        const page = await this.meta.query({ pk, startAfter: after, limit: 1000 });
        for (const item of page.items) {
          const m = deletionMarkerFromItem(item);
          deletingIds.add(m.topicId);
          if (!ownsDirectory(m.topicId)) deletingNames.add(m.name);
        }
        after = page.next;
      } while (after);
    }

    const stored = sweepCursorFromItem(await this.meta.get(SWEEP_CURSOR));
    const cursor = { ...stored };
    for (const prefix of [WAL_PREFIX, TOPICS_PREFIX]) {
      let startAfter: string | undefined = cursor[prefix] || undefined;
      let pages = 0;
      do {
        if (this.clock.monotonic() > deadline || pages++ >= SWEEP_PAGES) break;
        const page = await this.objects.list(prefix, { ...(startAfter ? { startAfter } : {}), limit: 1000 });
        // Candidates: old enough, and Samsa's; grouped by partition.
        const groups = new Map<string, { topic?: Topic; partition: number; keys: Array<{ key: string; id: string | number; chunk?: number }> }>();
        const dead: string[] = [];
        for (const o of page.objects) {
          if (now - o.lastModified < this.opts.orphanGraceMs) continue;
          const wal = prefix === WAL_PREFIX ? parseWalObject(o.key) : undefined;
          const chunk = prefix === WAL_PREFIX ? undefined : parseChunkObject(o.key);
          const seg = prefix === WAL_PREFIX ? undefined : (parseSegmentObject(o.key) ?? chunk);
          if (!wal && !seg) continue;
          if (seg && (seg.topicId !== undefined ? deletingIds.has(seg.topicId) : deletingNames.has(seg.topic))) continue; // topic-deletion.ts owns these
          // A key names its incarnation (write-ahead objects, and segments since design note
          // 0012), or only its topic's name (the shared directory of topics created before):
          // then it is checked against the catalog of the topic now under the name, whatever
          // its layout. An older build still running during a deploy writes a new topic's
          // segments there, and catalogs them; a deleted incarnation's leftover at a base the
          // new one catalogues is kept until that base is retained, then swept.
          const topic = wal ? byId.get(wal.topicId) : seg!.topicId !== undefined ? byId.get(seg!.topicId) : byName.get(seg!.topic);
          const partition = wal ? wal.partition : seg!.partition;
          if (!topic || partition >= topic.partitions) {
            dead.push(o.key);
            continue;
          }
          const g = `${topic.id}/${partition}`;
          let group = groups.get(g);
          if (!group) groups.set(g, (group = { topic, partition, keys: [] }));
          group.keys.push({ key: o.key, id: wal ? wal.id : seg!.base, ...(chunk ? { chunk: chunk.logStart } : {}) });
        }
        for (const g of groups.values()) {
          if (prefix === WAL_PREFIX) {
            const refs = await this.walRefs(g.topic!, g.partition);
            for (const k of g.keys) if (!refs.has(k.key)) dead.push(k.key);
          } else {
            const { flushed, refs } = await this.segmentRefs(g.topic!, g.partition, g.keys.map((k) => k.id as number));
            for (const k of g.keys) {
              const orphan = k.chunk === undefined ? (k.id as number) < flushed && !refs.has(k.id as number) : orphanChunk(refs.get(k.id as number), k.id as number, k.chunk, flushed);
              if (orphan) dead.push(k.key);
            }
          }
        }
        if (dead.length > 0) {
          await this.objects.delete(dead);
          stats.sweptObjects += dead.length;
        }
        startAfter = page.next;
      } while (startAfter);
      cursor[prefix] = startAfter ?? '';
    }
    if (JSON.stringify(cursor) !== JSON.stringify(stored)) {
      await this.meta.write({ type: 'put', item: sweepCursorToItem(SWEEP_CURSOR, cursor) });
    }
  }

  /**
   * Write-ahead objects the partition's unflushed extents reference: the commit pages from
   * `flushed` on and the head's tails. Commit extents below `flushed` are garbage (their bytes
   * are in segments), so only the unflushed part of the log is read.
   */
  private async walRefs(topic: Topic, partition: number): Promise<Set<string>> {
    const head = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    const pk = partitionPk(topic.id, partition);
    const refs = new Set<string>();
    for (const e of head.tails ?? []) if (e.obj) refs.add(e.obj);
    let startAfter: string | undefined;
    const from = Math.max(head.flushed, head.logStart);
    if (topic.commit === 'items') {
      // Items mode (commit-items.ts): the commit items from the one covering `from` (keyed
      // by their base, so the last at or below it) on.
      const covering = await queryCoveringItem(this.meta, topic.id, partition, from, { withoutBinary: true });
      for (const e of unflushedItems(covering, from)) if (e.obj) refs.add(e.obj);
      do {
        const page = await this.meta.query({ pk, gt: commitItemSk(from), lt: COMMIT_ITEM_END, startAfter, limit: 500, withoutBinary: true });
        for (const e of unflushedItems(page, from)) if (e.obj) refs.add(e.obj);
        startAfter = page.next;
      } while (startAfter);
      return refs;
    }
    do {
      // Every page holding an extent not wholly flushed (pages are keyed by their last offset).
      const page = await this.meta.query({ pk, gte: extentSk(from), lt: EXTENT_END, startAfter, limit: 500 });
      for (const e of page.items.flatMap(extentsFromItem)) if (e.obj) refs.add(e.obj);
      startAfter = page.next;
    } while (startAfter);
    return refs;
  }

  /**
   * The catalog entries at base offsets among `bases` (one range query; their chunk lists say
   * which chunk objects are live), and the flushed offset read BEFORE them. A segment object at a base at or above `flushed` may be a
   * crashed flush step's leftover that the next step adopts (flush.ts keeps one holding exactly
   * its bytes without rewriting it), so it is never swept: the next flush at that base
   * replaces it, or it falls below `flushed` and is swept then. Below `flushed`, no future
   * commit can add a catalog entry (flush commits move `flushed` from its current value), so
   * an object absent from the catalog there is garbage for good.
   */
  private async segmentRefs(topic: Topic, partition: number, bases: number[]): Promise<{ flushed: number; refs: Map<number, Segment> }> {
    const { flushed } = headFromItem(await this.meta.get(headKey(topic.id, partition)));
    const pk = partitionPk(topic.id, partition);
    const refs = new Map<number, Segment>();
    let startAfter: string | undefined;
    do {
      const page = await this.meta.query({ pk, gte: segmentSk(Math.min(...bases)), lte: segmentSk(Math.max(...bases)), startAfter, limit: 500 });
      for (const item of page.items) {
        const seg = segmentFromItem(item);
        refs.set(seg.base, seg);
      }
      startAfter = page.next;
    } while (startAfter);
    return { flushed, refs };
  }
}

/**
 * Whether chunk object `logStart` of segment `base` (design note 0011) is garbage for good, as
 * the catalog entry `seg` read after `flushed` says. It is live while the entry lists it and is
 * not composed (a composed segment's extents all point at `<base>.log`). Unlisted, it is a
 * crashed step's chunk or one a composition did not get to delete — but a crashed step's chunk
 * may still be adopted as is by the step that redoes it (flush keeps a leftover holding exactly
 * its bytes, old timestamp and all), so it is kept while such a step can come: the segment is
 * not catalogued yet (base at or above `flushed`), or is open and has not grown past the
 * chunk's start (a new chunk starts at the segment's size, which only grows). A closed
 * segment never gains a chunk.
 */
export function orphanChunk(seg: Segment | undefined, base: number, logStart: number, flushed: number): boolean {
  if (!seg) return base < flushed;
  if (seg.chunks?.some((c) => c.log === logStart) && !seg.composed) return false;
  return seg.closed || seg.size > logStart;
}
