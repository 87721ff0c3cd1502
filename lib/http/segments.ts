// GET /v1/topics/{topic}/partitions/{partition}/segments: bulk reads past the API. Answers with
// byte ranges of sealed segment objects (lib/log/bulk.ts) and a URL for each: on S3 a presigned
// GET whose signature covers exactly that object and range (short-lived), in embedded mode a
// route of this server that serves the same bytes. Either way the body is plain RecordBatch v2.
// The unsealed tail is read through the fetch route.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { isObjectNotFound, SamsaError } from '../errors';
import { isSealed, planSegmentRangesAtHead } from '../log/bulk';
import type { LogEngine } from '../log/engine';
import { segmentObject } from '../log/keys';
import { CONSUMED_ELSEWHERE } from './authz';
import { readIncarnation, TOPIC_ID_HEADER, TopicIdParam, topicIdParam } from './incarnation';
import * as S from './schemas';

export const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch';
/** How long a presigned URL works: enough to start a large read, short enough to leak little. */
export const PRESIGN_SECONDS = 300;
const DEFAULT_BULK_BYTES = 256 * 1024 * 1024;
const MAX_BULK_BYTES = 4 * 1024 * 1024 * 1024;

const SegmentsQuery = z.object({
  offset: S.intParam('offset', 0, Number.MAX_SAFE_INTEGER, 'First offset wanted (default: the log start offset).'),
  max_bytes: S.intParam('max_bytes', 1, MAX_BULK_BYTES, `About this many bytes in all (default ${DEFAULT_BULK_BYTES}); at least one batch.`),
  topic_id: TopicIdParam,
});

const SegmentRange = z
  .object({
    base_offset: z.number().int().openapi({ description: 'First offset of the first batch in the range (the batch may start below the requested offset).' }),
    last_offset: z.number().int(),
    bytes: z.number().int(),
    url: z.string().openapi({ description: 'GET it with the Range header below: a presigned S3 URL (AWS) or a route of this server (embedded).' }),
    range: z.string().openapi({ example: 'bytes=0-1048575', description: 'The Range header to send; the URL serves exactly these bytes.' }),
  })
  .openapi('SegmentRange');

const SegmentsResponse = z
  .object({
    segments: z.array(SegmentRange),
    next_offset: z.number().int().openapi({ description: 'Where to continue: the next bulk read, or the fetch route once segments is empty.' }),
    log_start_offset: z.number().int(),
    high_watermark: z.number().int(),
  })
  .openapi('SegmentsResponse');

const SegmentObjectParams = S.PartitionParams.extend({
  base: z
    .string()
    .regex(/^\d{1,20}$/, 'base must be a segment base offset')
    .transform(Number)
    .openapi({ param: { name: 'base', in: 'path' }, type: 'integer' }),
});

const SegmentObjectQuery = z.object({
  topic_id: topicIdParam('The topic incarnation the URL was handed out for (the segments route sets it): another incarnation of the name is 404.'),
});

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, json(S.ErrorBody, 'Error')]));

/** `bytes=a-b` (both inclusive), as the segments route hands it out. */
function parseRange(header: string | undefined): { start: number; end: number } | undefined {
  const m = /^bytes=(\d{1,15})-(\d{1,15})$/.exec(header?.trim() ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  return end >= start ? { start, end } : undefined;
}

export function mountSegmentRoutes(app: OpenAPIHono, deps: { engine: LogEngine }): void {
  const { engine } = deps;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{partition}/segments',
      tags: ['fetch'],
      summary: 'Bulk read: byte ranges of sealed segments, each with a URL to GET them from',
      description:
        'For consumers far behind: read the records from offset on straight from the segment objects (presigned S3 GETs on AWS), then continue with the fetch route from next_offset. Each range starts and ends on a batch boundary and decodes with any Kafka library. Records below the log start are never served.',
      request: { params: S.PartitionParams, query: SegmentsQuery },
      responses: { 200: json(SegmentsResponse, 'Segment ranges'), ...errors(400, 404, 416) },
    }),
    async (c) => {
      const { topic: name, partition } = c.req.valid('param');
      const q = c.req.valid('query');
      const topic = await readIncarnation(engine, name, partition, q.topic_id);
      c.header(TOPIC_ID_HEADER, topic.id);
      const { head, offset, ranges } = await planSegmentRangesAtHead(
        // A live head: a lookup that still names a deleted incarnation (cached, or an eventually
        // consistent read) is refused, 404 and retriable, as a fetch is, rather than answered
        // with the deleted topic's segments as the name's.
        { objects: engine.objects, segments: () => engine.reader.segments(topic, partition), head: () => engine.liveHead(topic, partition) },
        topic,
        partition,
        q.offset,
        q.max_bytes ?? DEFAULT_BULK_BYTES,
      );
      const origin = new URL(c.req.url).origin;
      const segments = await Promise.all(
        ranges.map(async (r) => ({
          base_offset: r.base,
          last_offset: r.last,
          bytes: r.end - r.start + 1,
          url: engine.objects.presignGet
            ? await engine.objects.presignGet(r.key, { start: r.start, end: r.end + 1 }, PRESIGN_SECONDS)
            : `${origin}/v1/topics/${encodeURIComponent(name)}/partitions/${partition}/segments/${r.segment}/log?topic_id=${topic.id}`,
          range: `bytes=${r.start}-${r.end}`,
        })),
      );
      const next = segments.length > 0 ? segments[segments.length - 1]!.last_offset + 1 : offset;
      // Presigned URLs are read from S3, past this server: their bytes are charged to the
      // consumer byte quota as they are handed out (lib/http/authz.ts). The embedded download
      // route is charged when it serves them instead.
      if (engine.objects.presignGet) c.set(CONSUMED_ELSEWHERE as never, segments.reduce((a, x) => a + x.bytes, 0) as never);
      return c.json({ segments, next_offset: next, log_start_offset: head.logStart, high_watermark: head.nextOffset }, 200);
    },
  );

  // Embedded mode's stand-in for the presigned URL: the same bytes, from this server, for a
  // sealed segment holding records at or above the log start, and only the range asked for
  // (never a closed segment still in chunks: its `<base>.log` holds only the first one).
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{partition}/segments/{base}/log',
      tags: ['fetch'],
      summary: 'Bytes of a sealed segment (embedded mode’s URL for bulk reads); needs a Range header',
      request: { params: SegmentObjectParams, query: SegmentObjectQuery },
      responses: { 206: { description: 'The requested range', content: { [RECORD_BATCH_TYPE]: { schema: { type: 'string', format: 'binary' } } } }, ...errors(400, 404, 416) },
    }),
    async (c) => {
      const { topic: name, partition, base } = c.req.valid('param');
      // A URL handed out for an earlier incarnation of the name (deleted, then created again)
      // must not serve the new one's bytes, as a presigned URL of its objects cannot (design
      // note 0012): they are other records at the same offsets. The read routes' check, which
      // asks again before refusing: a topic cache still holding the deleted incarnation (another
      // process re-created the name) must not refuse a URL for the current one.
      const topic = await readIncarnation(engine, name, partition, c.req.valid('query').topic_id, 'this URL is for the deleted one; ask the segments route again');
      const head = await engine.head(topic, partition);
      const seg = (await engine.reader.segments(topic, partition)).find((s) => s.base === base);
      if (!seg || !isSealed(seg) || seg.last < head.logStart) {
        throw new SamsaError('OFFSET_OUT_OF_RANGE', `no sealed segment at ${base} holds records at or above the log start ${head.logStart}`, {
          log_start_offset: head.logStart,
          high_watermark: head.nextOffset,
        });
      }
      const range = parseRange(c.req.header('range'));
      if (!range) throw new SamsaError('INVALID_REQUEST', 'send the Range header the segments route gave (bytes=<first>-<last>)');
      if (range.end >= seg.size) {
        throw new SamsaError('OFFSET_OUT_OF_RANGE', `range ends past the segment's ${seg.size} bytes`, { log_start_offset: head.logStart, high_watermark: head.nextOffset });
      }
      let bytes: Uint8Array;
      try {
        bytes = await engine.objects.get(segmentObject(topic, partition, base, 'log'), { start: range.start, end: range.end + 1 });
      } catch (err) {
        if (!isObjectNotFound(err)) throw err;
        // Retention deleted the segment since the catalog was read (it moves the log start
        // first): gone, as a fetch below the log start is.
        const now = await engine.head(topic, partition);
        if (seg.last >= now.logStart) throw err;
        throw new SamsaError('OFFSET_OUT_OF_RANGE', `segment ${base} was deleted by retention (log start ${now.logStart})`, { log_start_offset: now.logStart, high_watermark: now.nextOffset });
      }
      return c.body(bytes as Uint8Array<ArrayBuffer>, 206, {
        'content-type': RECORD_BATCH_TYPE,
        'content-range': `bytes ${range.start}-${range.end}/${seg.size}`,
      }) as never;
    },
  );
}
