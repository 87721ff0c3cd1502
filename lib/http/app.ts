// The HTTP API (docs/http-api.md) as a Hono app. It knows only Request and Response: the
// Node server (bin/serve.ts) and the Lambda handler (functions/api.ts) are thin adapters.
// Every failure leaves through one onError, as a Kafka-style error body.
import { IncomingMessage } from 'node:http';
import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { type ErrorCode, publicError, SamsaError } from '../errors';
import type { RecordBytes, RecordHeader } from '../records';
import type { GroupCoordinator } from '../groups/coordinator';
import type { LogEngine, RecordOffset } from '../log/engine';
import { type BatchRun, STREAM_CHUNK } from '../log/reader';
import type { SamsaMetrics } from '../obs/instruments';
import { createLogger, type Logger } from '../obs/logger';
import { mountConsole } from './console';
import { renderDocsPage } from './docs';
import { headerFromJson, jsonDecodedBudget, jsonDepth, recordToJson, toBytes } from './format';
import { type AuthOptions, authz, mountAclRoutes } from './authz';
import { observer } from './observe';
import { mountGroupRoutes } from './groups';
import { type CheckedProduceBody, checkProduceBody, checkTopicName } from './produce-check';
import { fieldBytes, type ParsedProduceBody, parseProduceBody } from './produce-parse';
import { mountSegmentRoutes } from './segments';
import { readIncarnation, TOPIC_ID_HEADER } from './incarnation';
import { tailMiddleware } from './tail';
import { nodeLimits, recordsThatFit, type RuntimeLimits, tooLargeForResult, waitWithin } from './limits';
import { validateGroupName } from '../log/topic-config';
import * as S from './schemas';

export const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch';

export interface AppOptions {
  engine: LogEngine;
  /** Largest request body accepted (413 beyond). */
  maxRequestBytes?: number;
  /** Middleware run before everything else (the Node server's Host/Origin checks). */
  guards?: MiddlewareHandler[];
  /** The consumer-group coordinator the runtime built: its /v1/groups routes are mounted. */
  groups?: GroupCoordinator;
  /** Refuses an HTTP join (throws), e.g. while Kafka-protocol members hold the group (lib/kafka/cluster.ts). */
  beforeGroupJoin?: (group: string) => Promise<void>;
  /** The groups Kafka-protocol members hold (lib/kafka/cluster.ts), marked in GET /v1/groups. */
  kafkaHeldGroups?: () => Promise<Set<string>>;
  /** Extra routes mounted on the same app. */
  extend?: (app: OpenAPIHono) => void;
  version?: string;
  /** Access log and unexpected errors (default: JSON lines on stdout at info). */
  logger?: Logger;
  /** Request, produce and fetch instruments (lib/obs). */
  metrics?: SamsaMetrics;
  /** Serve the metrics registry at GET /metrics in Prometheus' text format (Node server). */
  metricsRoute?: boolean;
  /** Longest live-tail (SSE) session; Lambda sets it below the function timeout. Default 15 min. */
  tailSessionMs?: number;
  /** Principals, ACLs and quotas (lib/http/authz.ts); absent: no checks and no /v1/acls routes. */
  auth?: AuthOptions;
  /**
   * What the runtime in front of the app carries (lib/http/limits.ts), chosen by the wiring.
   * Absent: the Node server's (maxRequestBytes, no response bound, tailSessionMs).
   */
  limits?: RuntimeLimits;
  /**
   * Per request: how long the platform still lets it run (Lambda: the invocation's time left,
   * less a margin). Bounds a live tail's session and a long poll's wait.
   */
  sessionBudgetMs?: (c: Context) => number | undefined;
}

type FieldCodes = Record<string, ErrorCode>;

/** Validation failures become 400s whose code depends on the field (Kafka names them apart). */
function invalid(fieldCodes: FieldCodes = {}) {
  return (result: { success: true } | { success: false; error: z.ZodError }, c: Context): undefined => {
    if (result.success) return undefined;
    const issue = result.error.issues[0]!;
    const field = issue.path.map(String).join('.');
    // A path's topic name is a topic name wherever it fails (Kafka: INVALID_TOPIC_EXCEPTION).
    const inPath = field === 'topic' && c.req.param('topic') !== undefined;
    const code = fieldCodes[String(issue.path[0])] ?? (inPath ? 'INVALID_TOPIC_EXCEPTION' : 'INVALID_REQUEST');
    const detail = result.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
      .join('; ');
    throw new SamsaError(code, detail, field ? { field } : {});
  };
}

const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [s, { description: DESCRIPTIONS[s] ?? 'Error', content: { 'application/json': { schema: S.ErrorBody } } }]),
  );
const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request (INVALID_REQUEST, INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS, INVALID_CONFIG, CORRUPT_MESSAGE)',
  403: 'Not authorized (NOT_AUTHORIZED, TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED)',
  404: 'UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_PRODUCER_ID',
  409: 'Conflict (TOPIC_ALREADY_EXISTS, OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH)',
  413: 'RECORD_TOO_LARGE: a batch exceeds max.message.bytes or the body exceeds the request limit',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'OFFSET_OUT_OF_RANGE, with log_start_offset and high_watermark',
  429: 'THROTTLING: retry later',
};

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

const mediaType = (c: Context): string => (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
/** A partition in a path, as S.PartitionParams accepts it. */
const DIGITS = /^\d+$/;

/**
 * A topic body's config as it was sent. The validator rebuilds a record key by key and leaves a
 * "__proto__" key out (it will not assign one), which turned an unknown key into an ignored
 * one: the registry's check (applyTopicConfig) gets the keys as they came.
 */
async function sentConfig(c: Context, validated: Record<string, unknown> | undefined): Promise<Record<string, unknown> | undefined> {
  if (validated === undefined) return undefined;
  const body = (await c.req.json()) as { config?: Record<string, unknown> };
  return body.config;
}

/**
 * A JSON route's body as bytes, read once and left cached for any later read (the text, once
 * decoded as the adapter decodes it, for JSON.parse and the validator). Undefined when
 * something before the route has already read it as text or JSON: then that is the cheaper read.
 */
async function rawBody(c: Context): Promise<Uint8Array | undefined> {
  const cache = c.req.bodyCache;
  if (cache.text !== undefined || cache.json !== undefined) return undefined;
  if (cache.arrayBuffer === undefined) {
    await undefined; // as in batchBody: the bytes that came with the headers are pushed by now
    const buffered = bufferedBody(c);
    if (buffered !== undefined) {
      // Hono keeps the read's promise here (its types name the value).
      cache.arrayBuffer = Promise.resolve(buffered.buffer) as never;
      return buffered;
    }
  }
  return new Uint8Array(await c.req.arrayBuffer());
}

/** After rawBody: the text every later read of the body gets, decoded once (UTF-8, replacement characters, a BOM dropped, as the adapter decodes). */
function cacheBodyText(c: Context, bytes: Uint8Array): void {
  const cache = c.req.bodyCache;
  cache.text = Promise.resolve(new TextDecoder().decode(bytes)) as never;
  delete cache.arrayBuffer;
}

/** A binary produce body, after its media type is checked (415 UNSUPPORTED_MEDIA_TYPE otherwise). */
async function batchBody(c: Context): Promise<Uint8Array> {
  const given = c.req.header('content-type');
  // The type clients send is compared as it comes; anything else is parsed as before.
  if (given !== RECORD_BATCH_TYPE) {
    const type = (given ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== RECORD_BATCH_TYPE && type !== 'application/octet-stream') {
      throw new SamsaError('UNSUPPORTED_MEDIA_TYPE', `send record batches as ${RECORD_BATCH_TYPE}${type ? `, not ${type}` : ''}`);
    }
  }
  // The middleware before this may all have run synchronously, inside the parser's 'request'
  // event: the bytes that came in the same packet as the headers are pushed right after it
  // returns, before any microtask runs. Look once that has happened.
  await undefined;
  return bufferedBody(c) ?? new Uint8Array(await c.req.arrayBuffer());
}

/**
 * On the Node server, a small body has usually arrived with the headers and sits in the request
 * stream's buffer by the time the handler runs: take it from there as it is. The adapter's own
 * read copies it into a fresh ArrayBuffer and waits for the stream's end through a promise and
 * four listeners, a tenth of the HTTP side's CPU for a single-record produce (issue 18).
 * Anything else — a body still arriving, one without a declared length (chunked: the body limit
 * reads it), one something else has started to read (a quota count), Lambda, in-process
 * requests — reads through the adapter as before.
 */
function bufferedBody(c: Context): Uint8Array | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof IncomingMessage)) return undefined;
  const declared = incoming.headers['content-length'];
  if (declared === undefined || incoming.headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(declared);
  // Every declared byte is buffered and nobody reads or listens yet.
  if (incoming.readableLength !== length || incoming.readableDidRead || incoming.readableFlowing !== null || incoming.destroyed || incoming.readableEncoding !== null) {
    return undefined;
  }
  const chunk = length === 0 ? null : (incoming.read(length) as Buffer | null);
  // Let the stream run to its end (nothing is left to read), so the adapter and the server see
  // the request consumed, as after their own read.
  incoming.resume();
  if (chunk === null) return new Uint8Array(0);
  // The engine keeps what it is given (owned): a plain Uint8Array over the chunk's own memory
  // (as the adapter's ArrayBuffer was), never a view that would pin a larger (pooled) buffer.
  return chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length ? new Uint8Array(chunk.buffer, 0, chunk.length) : new Uint8Array(chunk);
}

/** application/json and its +json variants, as Hono's JSON validator reads them. */
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The binary produce route, the only one whose body is not JSON (the path exactly as it routes: Hono routes strictly, so a trailing slash is no route and gets the JSON checks). */
const isBatchProduce = (c: Context): boolean => c.req.method === 'POST' && /^\/v1\/topics\/[^/]+\/partitions\/[^/]+\/records$/.test(c.req.path);
/**
 * The JSON produce route, whose handler reads its body as bytes first (produce-parse.ts) and runs
 * checkJsonBody itself otherwise. Exactly the paths that handler serves (Hono routes strictly: no
 * trailing slash), or a path no route serves would skip the JSON checks.
 */
const isJsonProduce = (c: Context): boolean => c.req.method === 'POST' && /^\/v1\/topics\/[^/]+\/records$/.test(c.req.path);

/**
 * JSON routes take only JSON bodies: anything else is 415, including the types a web page may
 * send cross-site without a preflight (text/plain, forms), which would otherwise be parsed as JSON.
 * The body is read here (within the JSON size limit) and its nesting bounded before it is
 * parsed, so a deeply nested value is a 400 naming the limit, not a stack overflow later.
 */
const jsonBody: MiddlewareHandler = (c, next) => {
  // Not async for what it passes untouched (the binary produce route, GETs): no promise of its own.
  if (!BODY_METHODS.has(c.req.method) || isBatchProduce(c) || isJsonProduce(c)) return next();
  return checkJsonBody(c, next);
};

const checkJsonBody: MiddlewareHandler = async (c, next) => {
  const type = mediaType(c);
  const declared = c.req.header('content-length');
  const hasBody = declared !== undefined ? declared !== '0' : c.req.header('transfer-encoding') !== undefined;
  if (type === '' && !hasBody) return next();
  if (!JSON_TYPE.test(type)) {
    throw new SamsaError(
      'UNSUPPORTED_MEDIA_TYPE',
      type === '' ? 'this route takes application/json; the request has a body but no Content-Type' : `this route takes application/json, not ${type}`,
    );
  }
  const depth = jsonDepth(await c.req.text(), S.MAX_JSON_DEPTH);
  if (depth > S.MAX_JSON_DEPTH) {
    throw new SamsaError('INVALID_REQUEST', `request body nests JSON deeper than ${S.MAX_JSON_DEPTH} levels (max_json_depth)`, { max_json_depth: S.MAX_JSON_DEPTH });
  }
  await next();
};

/** How far past the request limit a declared body is still read (and discarded) before a 413. */
const DRAIN_BEYOND_LIMIT_BYTES = 16 * 1024 * 1024;

/** A 413 for bodies over `maxSize`, answered on a connection that stays usable where it can. */
function limitBody(maxSize: number, what: string, limitName: string, limits: RuntimeLimits): MiddlewareHandler {
  const where = limits.kind === 'node' ? '' : ` of this deployment (${limits.kind})`;
  const limited = bodyLimit({
    maxSize,
    onError: async (c) => {
      const err = new SamsaError('RECORD_TOO_LARGE', `${what} exceeds the ${maxSize}-byte limit${where} (${limitName})`, { [limitName]: maxSize, runtime: limits.kind });
      // A client still sending the body would see its connection reset (EPIPE) rather than
      // this answer if we replied and closed at once. Read and discard a body of declared
      // length up to a bound, then answer on a connection that stays usable; beyond the bound
      // (or with no declared length) the rest is never read, so say the connection closes,
      // or a keep-alive client sends its next request into a socket about to close.
      const declared = Number(c.req.header('content-length'));
      const body = c.req.raw.body;
      if (Number.isSafeInteger(declared) && declared <= maxSize + DRAIN_BEYOND_LIMIT_BYTES && body && !c.req.raw.bodyUsed) {
        try {
          for await (const _chunk of body) {
            // discarded
          }
          return c.json(err.toJSON(), 413);
        } catch {
          // the client went away mid-body: fall through
        }
      }
      return c.json(err.toJSON(), 413, { connection: 'close' });
    },
  });
  // A declared length is decided from the header alone, as bodyLimit decides it, but without
  // touching `c.req.raw.body` first: on Node that builds a full fetch Request with web streams
  // around the socket (and the body is then read through them), about a third of a
  // single-record request's allocations and a tenth of its CPU (issue 18). Untouched, the
  // handler reads the body straight off the socket. GET and HEAD have no body there (bodyLimit
  // passes them); chunked bodies still go through bodyLimit, which counts them as they come.
  return (c, next) => {
    const declared = c.req.header('content-length');
    if (declared === undefined || c.req.header('transfer-encoding') !== undefined) return limited(c, next);
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    return parseInt(declared, 10) > maxSize ? limited(c, next) : next();
  };
}

/** Whole batches of `runs`, in order, within `limit` bytes; the first batch always. */
/**
 * A body read from `chunks` only as the client takes it (pull, no read-ahead). A failure after
 * the headers went out errors the stream: the Node server then destroys the connection and the
 * Lambda streaming wrapper fails the invocation, so the client sees a broken response, never a
 * shorter one that looks complete. A client that goes away stops the reads.
 */
function abortingStream(chunks: AsyncGenerator<Uint8Array>, onError: (err: unknown) => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await chunks.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          onError(err);
          controller.error(err);
        }
      },
      async cancel() {
        await chunks.return(undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

function withinBytes(runs: BatchRun[], limit: number): BatchRun[] {
  let total = 0;
  const out: BatchRun[] = [];
  for (const run of runs) {
    if (total + run.bytes.length <= limit) {
      out.push(run);
      total += run.bytes.length;
      continue;
    }
    // Walk this run's batches (length at byte 8, last offset delta at 23) up to the limit.
    const dv = new DataView(run.bytes.buffer, run.bytes.byteOffset, run.bytes.byteLength);
    let p = 0;
    let last = -1;
    while (p < run.bytes.length) {
      const size = 12 + dv.getInt32(p + 8);
      if (total + size > limit && (out.length > 0 || p > 0)) break;
      last = Number(dv.getBigInt64(p)) + dv.getInt32(p + 23);
      total += size;
      p += size;
    }
    if (p > 0) out.push({ bytes: run.bytes.subarray(0, p), base: run.base, last });
    break;
  }
  return out;
}

export function createApp(opts: AppOptions): OpenAPIHono {
  const { engine } = opts;
  const configuredRequestBytes = opts.maxRequestBytes ?? 64 * 1024 * 1024;
  const limits = opts.limits ?? nodeLimits(configuredRequestBytes, Math.min(configuredRequestBytes, S.MAX_JSON_REQUEST_BYTES), opts.tailSessionMs ?? 15 * 60_000);
  const maxRequestBytes = limits.maxRequestBytes;
  const logger = opts.logger ?? createLogger();
  const { metrics } = opts;
  const maxJsonBytes = Math.min(limits.maxJsonRequestBytes, S.MAX_JSON_REQUEST_BYTES);
  const app = new OpenAPIHono({ defaultHook: invalid() });

  /** The error answer, with its code left on the context for the access log and metrics. */
  const fail = (c: Context, code: ErrorCode | string, body: Record<string, unknown>, status: number): Response => {
    c.set('errorCode' as never, code as never);
    return c.json(body, status as 400);
  };
  app.onError((err, c) => {
    const known = publicError(err);
    if (known) return fail(c, known.code, known.toJSON(), known.status);
    if (err instanceof HTTPException) {
      // Hono's own 400s (malformed JSON and the like) and 413s.
      const status = err.status;
      const code: ErrorCode = status === 413 ? 'RECORD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_REQUEST';
      const message = /malformed json/i.test(err.message) ? `request body is not valid JSON` : err.message || 'invalid request';
      return fail(c, code, { error_code: code, message }, status);
    }
    if (err instanceof SyntaxError) {
      return fail(c, 'INVALID_REQUEST', { error_code: 'INVALID_REQUEST', message: `request body is not valid JSON: ${err.message}` }, 400);
    }
    const log = (c.get('log' as never) as Logger | undefined) ?? logger;
    log.error('unexpected error', { method: c.req.method, path: c.req.path }, err);
    return fail(c, 'UNKNOWN_SERVER_ERROR', { error_code: 'UNKNOWN_SERVER_ERROR', message: 'internal error; the request may be retried' }, 500);
  });
  app.notFound((c) => fail(c, 'NOT_FOUND', { error_code: 'NOT_FOUND', message: `no route for ${c.req.method} ${c.req.path}` }, 404));

  // Request ids, the access log and metrics; every response also names where this app runs
  // (x-samsa-runtime), so clients can pick how to wait (a Lambda bills a waiting request).
  const obs = observer({ logger, runtime: limits.kind, ...(metrics ? { metrics } : {}) });
  app.use('*', obs.middleware);

  for (const guard of opts.guards ?? []) app.use('*', guard);
  // Binary batches may use the whole request limit; a JSON body costs several times its size
  // once parsed, so it gets the smaller of that and MAX_JSON_REQUEST_BYTES (docs/limits.md).
  // Content-Length is checked first, then the bytes are counted as they are read (bodyLimit).
  const binaryLimit = limitBody(maxRequestBytes, 'request body', 'max_request_bytes', limits);
  const jsonLimit = limitBody(maxJsonBytes, 'JSON request body', 'max_json_request_bytes', limits);
  app.use('*', (c, next) => (isBatchProduce(c) ? binaryLimit(c, next) : jsonLimit(c, next)));
  // After the body limits (it reads group and topic names from bodies), before every route.
  if (opts.auth) app.use('*', authz(opts.auth));
  app.use('/v1/*', jsonBody);
  // Group ids become storage keys: bound them where they enter, for every group route.
  app.use('/v1/groups/:group/*', async (c, next) => {
    validateGroupName(c.req.param('group') ?? '');
    await next();
  });
  app.use('/v1/groups/:group', async (c, next) => {
    validateGroupName(c.req.param('group') ?? '');
    await next();
  });
  for (const route of ['/v1/groups/:group/members/:member_id', '/v1/groups/:group/members/:member_id/*']) {
    app.use(route, async (c, next) => {
      validateGroupName(c.req.param('member_id') ?? '', 'member_id');
      await next();
    });
  }

  // --- service ------------------------------------------------------------------------------
  app.openapi(
    createRoute({ method: 'get', path: '/healthz', tags: ['service'], summary: 'Liveness', responses: { 200: json(S.HealthBody, 'Up') } }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );

  // --- topics -------------------------------------------------------------------------------
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics',
      tags: ['topics'],
      summary: 'Create a topic',
      request: { body: { required: true, content: { 'application/json': { schema: S.CreateTopicBody } } } },
      responses: { 201: json(S.TopicBody, 'Created'), ...errorResponses(400, 409) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const t = await engine.createTopic(body.name, body.partitions, await sentConfig(c, body.config));
      return c.json({ name: t.name, partitions: t.partitions, config: t.config }, 201);
    },
    invalid({ name: 'INVALID_TOPIC_EXCEPTION', partitions: 'INVALID_PARTITIONS', config: 'INVALID_CONFIG' }),
  );

  app.openapi(
    createRoute({ method: 'get', path: '/v1/topics', tags: ['topics'], summary: 'List topics', responses: { 200: json(S.TopicList, 'Topics') } }),
    async (c) => {
      const topics = await engine.topics.list();
      return c.json({ topics: topics.map((t) => ({ name: t.name, partitions: t.partitions })) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}',
      tags: ['topics'],
      summary: 'Describe a topic: config and each partition’s offsets',
      request: { params: S.TopicParam, query: S.DescribeQuery },
      responses: { 200: json(S.TopicDescription, 'Topic'), ...errorResponses(400, 404) },
    }),
    async (c) => {
      const { topic, partitions } = await engine.describeTopic(c.req.valid('param').topic, { stats: c.req.valid('query').stats === 'true' });
      return c.json({ name: topic.name, topic_id: topic.id, config: topic.config, partitions }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/topics/{topic}',
      tags: ['topics'],
      summary: 'Add partitions or change config',
      request: { params: S.TopicParam, body: { required: true, content: { 'application/json': { schema: S.AlterTopicBody } } } },
      responses: { 200: json(S.TopicBody, 'Updated'), ...errorResponses(400, 404) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const t = await engine.topics.alter(c.req.valid('param').topic, { ...body, config: await sentConfig(c, body.config) });
      return c.json({ name: t.name, partitions: t.partitions, config: t.config }, 200);
    },
    invalid({ partitions: 'INVALID_PARTITIONS', config: 'INVALID_CONFIG' }),
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/topics/{topic}',
      tags: ['topics'],
      summary: 'Delete a topic (its data is removed in the background)',
      request: { params: S.TopicParam, query: S.DeleteTopicQuery },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(404) },
    }),
    async (c) => {
      const topicId = c.req.valid('query').topic_id;
      await engine.deleteTopic(c.req.valid('param').topic, topicId !== undefined ? { topicId } : {});
      return c.body(null, 204);
    },
  );

  // --- produce ------------------------------------------------------------------------------
  /**
   * The JSON produce route's work, on its records however the body was read: each record's
   * key, value and headers in bytes (`bytesOf`), with its timestamp and partition as sent; the
   * offsets. Encoding can grow a value (1e20 re-serialises as 21 digits): the total is bounded
   * as it is made, so a request never holds more than about its body limit of record bytes.
   */
  const produceRecords = <R extends { timestamp?: number | undefined; partition?: number | undefined }>(
    topic: string,
    sent: R[],
    bytesOf: (r: R, i: number) => { key: RecordBytes | null; value: RecordBytes | null; headers: RecordHeader[] },
    producer: CheckedProduceBody['producer'],
  ): Promise<RecordOffset[]> => {
    let decoded = 0;
    const records = sent.map((r, i) => {
      const rec = {
        ...bytesOf(r, i),
        ...(r.timestamp !== undefined ? { timestamp: r.timestamp } : {}),
        ...(r.partition !== undefined ? { partition: r.partition } : {}),
      };
      decoded += (rec.key?.length ?? 0) + (rec.value?.length ?? 0);
      for (const h of rec.headers) decoded += h.key.length + (h.value?.length ?? 0);
      if (decoded > maxJsonBytes) {
        throw new SamsaError('RECORD_TOO_LARGE', `the request's records encode to more than ${maxJsonBytes} bytes (max_json_request_bytes)`, {
          max_json_request_bytes: maxJsonBytes,
        });
      }
      return rec;
    });
    // Not awaited here: the records need not outlive their encoding (engine.produce). Read from
    // the body's bytes, keys and values are views of the body: engine.produce holds them across
    // its topic lookup (and an idempotent producer's claim), as it holds parsed strings; its
    // encoder copies them into batches, and the route lets go of the body, before the commit.
    return engine.produce(topic, records, producer);
  };
  /** On a body as S.ProduceBody parses it. */
  const produceJson = (topic: string, body: CheckedProduceBody): Promise<RecordOffset[]> =>
    produceRecords(
      topic,
      body.records,
      (r, i) => {
        if (!('value' in r)) {
          throw new SamsaError('INVALID_REQUEST', `records.${i}.value is required (null for a tombstone)`, { field: `records.${i}.value` });
        }
        return {
          key: toBytes(r.key, body.key_format, `records.${i}.key`),
          value: toBytes(r.value, body.value_format, `records.${i}.value`),
          headers: (r.headers ?? []).map(headerFromJson),
        };
      },
      body.producer,
    );
  /** On a body read from its bytes (produce-parse.ts): the same records, errors and offsets. */
  const produceParsed = (topic: string, body: ParsedProduceBody): Promise<RecordOffset[]> =>
    produceRecords(
      topic,
      body.records,
      (r, i) => ({
        key: fieldBytes(body, r.key, body.key_format, `records.${i}.key`),
        value: fieldBytes(body, r.value, body.value_format, `records.${i}.value`),
        headers: r.headers ?? [],
      }),
      body.producer,
    );
  // The hot route reads its body as bytes (produce-parse.ts); a body that reading does not
  // take goes through the JSON checks every route has (checkJsonBody: media type, nesting),
  // then the hand check (produce-check.ts); anything that check does not accept falls through
  // to the documented route below, whose zod validation refuses it with the usual message.
  app.post('/v1/topics/:topic/records', async (c, next) => {
    const topic = checkTopicName(c.req.param('topic'));
    const isJson = JSON_TYPE.test(mediaType(c));
    if (topic !== undefined && isJson) {
      let bytes = await rawBody(c);
      let parsed = bytes === undefined ? undefined : parseProduceBody(bytes);
      if (parsed !== undefined) {
        const offsets = produceParsed(topic, parsed);
        // Nothing reads the body again: neither the cache nor this frame keeps it (or the
        // records over it) while the commit runs.
        delete c.req.bodyCache.arrayBuffer;
        bytes = parsed = undefined;
        return obs.preparedJson(c, JSON.stringify({ offsets: await offsets }), 200);
      }
      if (bytes !== undefined) cacheBodyText(c, bytes);
    }
    return checkJsonBody(c, async () => {
      let body: CheckedProduceBody | undefined;
      if (topic !== undefined && isJson) {
        try {
          body = checkProduceBody(await c.req.json());
        } catch {
          // not JSON: the validator below says so in its words
        }
      }
      if (topic === undefined || body === undefined) return next();
      const offsets = produceJson(topic, body);
      body = undefined; // nor kept by this frame while the commit runs (engine.produce says why)
      c.res = obs.preparedJson(c, JSON.stringify({ offsets: await offsets }), 200);
    });
  });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics/{topic}/records',
      tags: ['produce'],
      summary: 'Produce JSON records',
      description:
        "Partition: explicit, else Kafka's default partitioner on the key bytes (murmur2, identical to the Java client), else one sticky partition per request. A 200 means every record is durable.",
      request: { params: S.TopicParam, body: { required: true, content: { 'application/json': { schema: S.ProduceBody } } } },
      responses: { 200: json(S.ProduceResponse, 'Offsets, one per record, in request order'), ...errorResponses(400, 404, 409, 413, 415, 429) },
    }),
    async (c) => c.json({ offsets: await produceJson(c.req.valid('param').topic, c.req.valid('json')) }, 200),
  );

  // The hot route (one small batch per request: issue 18) checks its path by hand — the same
  // rules as S.PartitionParams — and answers with its headers prepared; anything the check does
  // not accept falls through to the documented route below, whose validator refuses it in its
  // usual words. Every middleware above has run for it either way.
  app.post('/v1/topics/:topic/partitions/:partition/records', async (c, next) => {
    const topic = checkTopicName(c.req.param('topic'));
    const partition = c.req.param('partition');
    if (topic === undefined || partition === undefined || !DIGITS.test(partition)) return next();
    const body = await batchBody(c);
    return obs.preparedJson(c, JSON.stringify(await engine.produceBatches(topic, Number(partition), body, { owned: true })), 200);
  });
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/topics/{topic}/partitions/{partition}/records',
      tags: ['produce'],
      summary: 'Produce Kafka RecordBatch v2 bytes',
      description:
        'One or more concatenated RecordBatch v2 (magic 2) batches. CRC32C is verified; the server assigns offsets and keeps the bytes. Limits (413 RECORD_TOO_LARGE naming the limit): each batch ≤ max.message.bytes as stored, ≤ 32 MiB decompressed (max_decompressed_bytes), ≤ 100000 records (max_records_per_batch), ≤ 1000 headers per record (max_headers_per_record) and ≤ 100000 per batch (max_headers_per_batch); the body ≤ the server\'s request limit (max_request_bytes, default 64 MiB).',
      request: {
        params: S.PartitionParams,
        body: { required: true, content: { [RECORD_BATCH_TYPE]: { schema: { type: 'string', format: 'binary' } } } },
      },
      responses: { 200: json(S.BatchProduceResponse, 'Offsets assigned'), ...errorResponses(400, 404, 409, 413, 415) },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      const body = await batchBody(c);
      return c.json(await engine.produceBatches(topic, partition, body, { owned: true }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/producers',
      tags: ['produce'],
      summary: 'Issue an idempotent producer id, or bump the epoch of one',
      request: { body: { required: false, content: { 'application/json': { schema: S.ProducerInit } } } },
      responses: { 200: json(S.ProducerIdentity, 'Producer id and epoch'), ...errorResponses(400, 403, 404) },
    }),
    async (c) => {
      const body = c.req.valid('json') ?? {};
      // Where requests are authenticated, an id belongs to the principal it was issued to.
      const auth = opts.auth;
      const principal = c.get('principal' as never) as string | undefined;
      const caller = auth && auth.mode !== 'none' && principal !== undefined ? { principal, anyProducer: auth.superUsers.has(principal) } : undefined;
      return c.json(await engine.producers.init(body.id, caller), 200);
    },
  );

  // --- fetch --------------------------------------------------------------------------------
  /** A long poll's wait: what was asked, within the runtime's bound and the time this request has left. */
  const waitFor = (c: Context, asked: number): number => waitWithin(asked, limits.maxWaitMs, opts.sessionBudgetMs?.(c));
  app.use('/v1/topics/:topic/partitions/:partition/records', tailMiddleware({ engine, maxSessionMs: limits.maxSessionMs, streaming: limits.streaming, ...(limits.maxSessionBytes !== undefined ? { maxSessionBytes: limits.maxSessionBytes } : {}), ...(opts.sessionBudgetMs ? { sessionBudgetMs: opts.sessionBudgetMs } : {}) }));
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{partition}/records',
      tags: ['fetch'],
      summary: 'Fetch records from an offset',
      description: `Records with offset ≥ offset, in order, never beyond the high watermark. With Accept: ${RECORD_BATCH_TYPE} the body is the stored batches (the first may start before offset) with x-high-watermark, x-log-start-offset and x-next-offset headers; above 1 MiB it is streamed where the runtime streams, and a failure after the headers breaks the connection (treat a short body as a failed request, never as a complete one).`,
      request: { params: S.PartitionParams, query: S.FetchQuery },
      responses: {
        200: {
          description: 'Records',
          content: {
            'application/json': { schema: S.FetchResponse },
            [RECORD_BATCH_TYPE]: { schema: { type: 'string', format: 'binary' } },
            'text/event-stream': {
              schema: {
                type: 'string',
                description:
                  'With follow=true: Server-Sent Events. `records` events carry {records, next_offset, high_watermark} with id = the next offset (reconnect with Last-Event-ID to resume); an `end` event closes the session after max_session_ms; comments keep the connection alive, one at least every keepalive_ms (the X-Keepalive-Ms response header), so a longer silence means a dead connection.',
              },
            },
          },
        },
        ...errorResponses(400, 404, 416),
      },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      const q = c.req.valid('query');
      const binary = (c.req.header('accept') ?? '').includes(RECORD_BATCH_TYPE);
      // The incarnation read (`topic_id`: only the one the reader continues), named in the answer.
      const incarnation = await readIncarnation(engine, topic, partition, q.topic_id);
      c.header(TOPIC_ID_HEADER, incarnation.id);
      // Never ask for more than the response can carry (a Lambda response is 6 MB, base64 for
      // binary): the read is clamped and says so. The reader still returns the first batch
      // whole when it alone is larger, as Kafka does, so a consumer always moves on.
      const wanted = q.max_bytes ?? 1024 * 1024;
      const carry = limits.maxBinaryResponseBytes;
      let clamped = carry !== undefined && wanted > carry;
      const maxBytes = clamped ? carry! : wanted;
      if (binary && limits.streaming && maxBytes > STREAM_CHUNK) {
        // Streamed: the plan fixes the headers (x-next-offset included) before any batch is
        // read, and the body reads the planned ranges a chunk at a time as the client takes
        // them, so memory stays bounded whatever max_bytes is. The same batches as the
        // buffered answer below (carry's hard cut included). A fetch within one chunk (the
        // default 1 MiB) stays buffered: it holds no more than a chunk anyway, and planning
        // costs a header read or two that a single ranged read does not.
        const plan = await engine.planFetch(topic, partition, {
          topic: incarnation,
          ...(q.offset !== undefined ? { offset: q.offset } : {}),
          ...(q.max_bytes !== undefined || clamped ? { maxBytes } : {}),
          ...(carry !== undefined ? { limitBytes: carry } : {}),
          ...(q.wait_ms !== undefined ? { waitMs: waitFor(c, q.wait_ms) } : {}),
          signal: c.req.raw.signal,
        });
        metrics?.fetchedBytes.inc({ topic }, plan.bytes);
        metrics?.fetchedRecords.inc({ topic }, plan.pieces.reduce((a, p) => a + (p.last - p.base + 1), 0));
        clamped &&= plan.nextBatchOffset < plan.highWatermark;
        return c.body(abortingStream(engine.reader.streamPlan(plan), (err) => logger.warn('binary fetch aborted mid-stream', { topic, partition }, err)), 200, {
          'content-type': RECORD_BATCH_TYPE,
          // The exact length: a client whose connection breaks early sees a short body, never
          // a complete-looking one (docs/http-api.md, "Fetch").
          'content-length': String(plan.bytes),
          'x-high-watermark': String(plan.highWatermark),
          'x-log-start-offset': String(plan.logStartOffset),
          'x-next-offset': String(plan.nextBatchOffset),
          [TOPIC_ID_HEADER]: incarnation.id,
          ...(clamped ? { 'x-samsa-clamped': `max_bytes=${maxBytes}; runtime=${limits.kind}` } : {}),
        }) as never;
      }
      const result = await engine.fetch(topic, partition, {
        topic: incarnation,
        ...(q.offset !== undefined ? { offset: q.offset } : {}),
        ...(q.max_records !== undefined ? { maxRecords: q.max_records } : {}),
        ...(q.max_bytes !== undefined || clamped ? { maxBytes } : {}),
        // Rendering decoded records as JSON costs several times their bytes (objects, escapes):
        // a JSON response decodes at most MAX_JSON_FETCH_DECODED_BYTES (docs/limits.md).
        ...(binary ? {} : { maxDecodedBytes: jsonDecodedBudget(maxBytes) }),
        ...(q.wait_ms !== undefined ? { waitMs: waitFor(c, q.wait_ms) } : {}),
        signal: c.req.raw.signal,
      });
      if (binary) {
        // The reader's budget is "about" max_bytes (each extent may add a whole batch): where
        // the response has a hard size, cut to whole batches within it, keeping the first.
        let runs = result.runs;
        if (carry !== undefined) runs = withinBytes(runs, carry);
        const total = runs.reduce((a, r) => a + r.bytes.length, 0);
        if (carry !== undefined && limits.bodyInResult && total > carry) throw tooLargeForResult(`the record batch at offset ${runs[0]!.base}`, { offset: runs[0]!.base }, total, carry, limits);
        metrics?.fetchedBytes.inc({ topic }, total);
        metrics?.fetchedRecords.inc({ topic }, runs.reduce((a, r) => a + (r.last - r.base + 1), 0));
        const body = new Uint8Array(total);
        let pos = 0;
        for (const r of runs) {
          body.set(r.bytes, pos);
          pos += r.bytes.length;
        }
        // The reader's continuation, unless the cut above left some of its batches out.
        const next = runs === result.runs ? result.nextBatchOffset : runs.length > 0 ? Math.min(runs[runs.length - 1]!.last + 1, result.highWatermark) : result.nextOffset;
        // Say so only when the lower bound actually left records behind.
        clamped &&= next < result.highWatermark;
        return c.body(body, 200, {
          'content-type': RECORD_BATCH_TYPE,
          'x-high-watermark': String(result.highWatermark),
          'x-log-start-offset': String(result.logStartOffset),
          'x-next-offset': String(next),
          [TOPIC_ID_HEADER]: incarnation.id,
          ...(clamped ? { 'x-samsa-clamped': `max_bytes=${maxBytes}; runtime=${limits.kind}` } : {}),
        }) as never;
      }
      const kf = q.key_format ?? 'string';
      const vf = q.value_format ?? 'json';
      const records = result.records();
      metrics?.fetchedRecords.inc({ topic }, records.length);
      metrics?.fetchedBytes.inc({ topic }, result.runs.reduce((a, r) => a + r.bytes.length, 0));
      let rendered = records.map((r) => recordToJson(r, kf, vf));
      let nextOffset = result.nextOffset;
      clamped &&= nextOffset < result.highWatermark;
      // Rendered JSON can outgrow the stored bytes (escapes, base64): keep the records that fit
      // the response (always the first) and continue after the last one kept.
      const fit = recordsThatFit(rendered, 256, limits);
      if (fit.firstTooLarge !== undefined) throw tooLargeForResult(`the record batch at offset ${records[0]!.offset}`, { offset: records[0]!.offset }, fit.firstTooLarge, limits.maxJsonResponseBytes!, limits);
      if (fit.keep < rendered.length) {
        rendered = rendered.slice(0, fit.keep);
        nextOffset = records[fit.keep - 1]!.offset + 1;
        clamped = true;
      }
      if (clamped) c.header('x-samsa-clamped', `max_bytes=${maxBytes}; runtime=${limits.kind}`);
      return c.json(
        {
          records: rendered,
          next_offset: nextOffset,
          high_watermark: result.highWatermark,
          log_start_offset: result.logStartOffset,
          ...(clamped ? { clamped: { max_bytes: maxBytes, runtime: limits.kind } } : {}),
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/topics/{topic}/partitions/{partition}/offsets',
      tags: ['fetch'],
      summary: 'ListOffsets: earliest, latest, or the first offset at or after a timestamp',
      request: { params: S.PartitionParams, query: S.OffsetsQuery },
      responses: { 200: json(S.OffsetResponse, 'Offset'), ...errorResponses(400, 404) },
    }),
    async (c) => {
      const { topic, partition } = c.req.valid('param');
      const t = c.req.valid('query').timestamp ?? 'latest';
      const spec = t === 'earliest' || t === 'latest' ? t : Number(t);
      return c.json(await engine.listOffsets(topic, partition, spec), 200);
    },
  );

  mountSegmentRoutes(app, { engine });
  if (opts.auth) mountAclRoutes(app, opts.auth);
  if (opts.groups) {
    mountGroupRoutes(app, {
      engine,
      coordinator: opts.groups,
      ...(limits.maxWaitMs !== undefined ? { maxWaitMs: limits.maxWaitMs } : {}),
      ...(opts.sessionBudgetMs ? { waitBudgetMs: opts.sessionBudgetMs } : {}),
      response: limits,
      ...(opts.beforeGroupJoin ? { beforeJoin: opts.beforeGroupJoin } : {}),
      ...(opts.kafkaHeldGroups ? { kafkaHeldGroups: opts.kafkaHeldGroups } : {}),
    });
  }
  opts.extend?.(app);

  if (metrics && opts.metricsRoute) {
    // Not in the OpenAPI document: it is the operator's endpoint, in Prometheus' format.
    app.get('/metrics', async (c) => c.body(await metrics.registry.renderPrometheus(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  }

  // --- documentation ------------------------------------------------------------------------
  const docConfig = {
    openapi: '3.1.0',
    info: {
      title: 'Samsa',
      version: opts.version ?? '0.1.0',
      description:
        'A serverless, Kafka-style event log: topics, partitions, offsets, consumer groups and retention over HTTP.\n\n' +
        'Limits (docs/limits.md): JSON bodies ≤ 6 MiB (413 RECORD_TOO_LARGE, max_json_request_bytes) and ≤ 64 levels of nesting (400 INVALID_REQUEST, max_json_depth), sent as application/json (415 UNSUPPORTED_MEDIA_TYPE otherwise); ' +
        'a JSON produce ≤ 10000 records and ≤ 1000 headers per record; topic names 1-249 of [a-zA-Z0-9._-], not "." or ".." (400 INVALID_TOPIC_EXCEPTION); group ids 1-249 and member ids 1-128 of [A-Za-z0-9._-]; ' +
        'record batches: see the binary produce route. JSON fetches decode at most min(max_bytes, 4 MiB) of records (after the first) and return keys, values and headers over 1 MiB as base64 (value_encoding).',
    },
  };
  app.doc31('/openapi.json', docConfig);
  app.get('/docs', (c) => c.html(renderDocsPage(app.getOpenAPI31Document(docConfig) as Parameters<typeof renderDocsPage>[0])));
  mountConsole(app);
  return app;
}
