// Lambda entry point for the HTTP API (Function URL or API Gateway HTTP API, payload v2).
// Thin wiring: config → AWS stores → engine → the Hono app, built once per execution
// environment at init (top-level await) and reused by every warm invocation.
import { type Context, Hono } from 'hono';
import { defaultIsContentTypeBinary, handle, type LambdaContext, type LambdaEvent, streamHandle } from 'hono/aws-lambda';
import { loadConfig } from '../lib/runtime/config';
import { lambdaInvoker } from '../lib/runtime/lambda/flush-invoker';
import { flushTrigger } from '../lib/runtime/lambda/flush-trigger';
import { deletionHandOff, type DeletionRequest } from '../lib/runtime/lambda/deletion-handoff';
import { prepareEvent } from '../lib/runtime/lambda/event';
import { createApp, RECORD_BATCH_TYPE } from '../lib/http/app';
import { lambdaKind, lambdaLimits } from '../lib/http/limits';
import { MAX_JSON_REQUEST_BYTES } from '../lib/http/schemas';
import { authFromConfig } from '../lib/http/authz';
import { kafkaGroupGuard, kafkaHeldGroups } from '../lib/kafka/cluster';
import { createSamsaMetrics, engineHooks } from '../lib/obs/instruments';
import { createLogger } from '../lib/obs/logger';
import { openAwsEngine } from '../lib/runtime/aws';
import { flushSchedulerOption } from '../lib/runtime/core';

const cfg = loadConfig();
// JSON lines on stdout: CloudWatch Logs keeps them as they are, and turns the EMF lines that
// follow each invocation into metrics (lib/obs/metrics.ts).
const logger = createLogger({ level: cfg.logLevel, bindings: { service: 'samsa-api' } });
const metrics = createSamsaMetrics();
// Busy partitions are handed to the flush function (async invoke) instead of waiting for the
// schedule; see docs/design/0006-deployment.md.
const trigger = cfg.flushFunction && cfg.flushTriggerWindowMs >= 0 ? flushTrigger(lambdaInvoker(cfg.flushFunction)) : undefined;
// A deleted topic's data is handed to the retention function at once (async invoke), so its name
// is free again seconds later, not at the next scheduled retention pass (deletion-handoff.ts).
const onTopicDeleted = cfg.retentionFunction ? deletionHandOff(lambdaInvoker<DeletionRequest>(cfg.retentionFunction)) : undefined;
const { engine, groups } = await openAwsEngine(cfg, { ...engineHooks(metrics), log: logger, ...flushSchedulerOption(cfg, trigger?.trigger), ...(onTopicDeleted ? { onTopicDeleted } : {}) });
// The principal is the IAM caller (Function URL) or a JWT claim (API Gateway): SAMSA_AUTH, set by the construct.
// What the front of this function carries (6 MB buffered, base64 for binary; streamed raw up to the 6 MB burst),
// fixed by the deployment: the construct sets SAMSA_INVOKE_MODE and the timeout it chose.
const limits = lambdaLimits(
  lambdaKind(cfg.invokeMode, cfg.auth, cfg.lambdaFront),
  { maxRequestBytes: cfg.maxRequestBytes, maxJsonRequestBytes: Math.min(cfg.maxRequestBytes, MAX_JSON_REQUEST_BYTES) },
  cfg.functionTimeoutMs || 15 * 60_000,
);
/** A tail or a long poll ends this long before the invocation would be cut, so its answer gets out. */
const SESSION_MARGIN_MS = 5000;
const app = createApp({
  engine,
  limits,
  // Per invocation, the time Lambda still gives this one (a warm function's timeout is fixed,
  // but an invocation's remaining time is what actually bounds the response): a tail's session
  // and a long poll's wait end within it. Hono's adapter puts the context at `context`
  // (streamHandle) or `lambdaContext` (handle).
  sessionBudgetMs: (c: Context) => {
    type Ctx = { getRemainingTimeInMillis?: () => number };
    const env = c.env as { context?: Ctx; lambdaContext?: Ctx } | undefined;
    const ctx = env?.context ?? env?.lambdaContext;
    const left = ctx?.getRemainingTimeInMillis?.();
    return left === undefined ? undefined : left - SESSION_MARGIN_MS;
  },
  logger,
  metrics,
  auth: authFromConfig(cfg, engine.meta),
  groups,
  // A Kafka listener beside this API (ECS or EC2, same table) marks the groups its members hold:
  // an HTTP join, reset or deletion of such a group is refused (docs/kafka.md, mixed-protocol rule).
  beforeGroupJoin: kafkaGroupGuard(engine.meta),
  kafkaHeldGroups: kafkaHeldGroups(engine.meta),
});
/** API Gateway's HTTP API decodes rawPath before the function sees it (lib/runtime/lambda/event.ts). */
const pathDecoded = limits.kind === 'api-gateway';
const serve = handle(app, { isContentTypeBinary: (type) => type.startsWith(RECORD_BATCH_TYPE) || defaultIsContentTypeBinary(type) });

/** Before the environment freezes: flush hand-offs started so far leave, metrics are written. */
async function afterInvocation(): Promise<void> {
  await trigger?.drain(1500);
  const lines = metrics.registry.emfLines();
  if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
}

/** Buffered invoke mode (and API Gateway): the whole response is returned at once. */
export async function handler(event: LambdaEvent, context?: LambdaContext) {
  try {
    return await serve(prepareEvent(event, { pathDecoded }), context);
  } finally {
    await afterInvocation();
  }
}

// --- RESPONSE_STREAM invoke mode -------------------------------------------------------------
// Hono's streamHandle wraps the app in Lambda's `streamifyResponse` (a global of Lambda's Node
// runtime) and writes the status and headers through `HttpResponseStream.from` ahead of the
// body, which then leaves as the app produces it: binary fetches without base64, a live tail
// event by event. The outer app only holds the end of the invocation until the body is out,
// so hand-offs and metrics are written before Lambda freezes the environment.
const streamed = new Hono();
/**
 * A streamed body that fails after its headers went out (a binary fetch whose object vanished,
 * a storage failure) must not end like a complete one. Hono's streamHandle would catch the
 * error, write "Internal Server Error" into the body and end it normally; instead the response
 * stream of the invocation is destroyed and the invocation fails, so the Function URL cuts the
 * response and the client sees a broken body, not a shorter one that looks whole.
 */
interface StreamedInvocation {
  stream: { destroy(err?: Error): unknown };
  /** Aborted when the response stream closes before the response ended: the client is gone. */
  gone: AbortController;
  failed?: unknown;
  /** Set while a body is being sent: ends it early (the client went away) and runs afterInvocation. */
  abandon?: () => Promise<void>;
}
const invocations = new WeakMap<object, StreamedInvocation>();
streamed.all('*', async (c) => {
  const invocation = invocations.get((c.env as { context?: object }).context ?? {});
  // The request Hono builds from the event carries no signal that ever aborts: this one aborts
  // when the response stream closes, so a long poll (or a tail's first read) stops waiting.
  const req = invocation ? new Request(c.req.raw, { signal: invocation.gone.signal }) : c.req.raw;
  const res = await app.fetch(req, c.env as object);
  if (!res.body) {
    await afterInvocation();
    return res;
  }
  const reader = res.body.getReader();
  // Once: at the body's end, at its failure, or when the client went away before either.
  let settled: Promise<void> | undefined;
  const settle = () => (settled ??= afterInvocation());
  if (invocation) {
    // A client that disconnects fails Hono's pipe into the response stream, which neither
    // cancels this body nor reads it to the end: the app's stream (a tail's loop, a fetch's
    // reads) would go on in the next invocations, and the metrics would wait for one of them.
    invocation.abandon = async () => {
      if (settled) return;
      await reader.cancel(new Error('the response stream closed before the body was sent')).catch(() => undefined);
      await settle();
    };
  }
  // Pulled only as the response stream takes it: no read-ahead beyond what Lambda is sending.
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (err) {
          if (invocation) {
            invocation.failed = err;
            invocation.stream.destroy(err instanceof Error ? err : new Error(String(err)));
          }
          await settle();
          controller.error(err);
          return;
        }
        if (!next.done) return controller.enqueue(next.value);
        await settle();
        controller.close();
      },
      cancel: async (reason) => {
        await reader.cancel(reason);
        await settle();
      },
    },
    { highWaterMark: 0 },
  );
  // The Function URL sends a streamed body chunked: a Content-Length beside that would make a
  // malformed response for strict clients. Truncation shows as a chunked body left unfinished.
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  return new Response(body, { status: res.status, headers });
});

type ResponseStream = { destroy(err?: Error): unknown; once(event: 'close', fn: () => void): unknown; off(event: 'close', fn: () => void): unknown; readonly closed?: boolean; readonly destroyed?: boolean };
type StreamingHandler = (event: LambdaEvent, responseStream: ResponseStream, context: LambdaContext) => Promise<void>;
const awslambda = (globalThis as { awslambda?: { streamifyResponse(fn: StreamingHandler): StreamingHandler } }).awslambda;

/**
 * The RESPONSE_STREAM handler (the construct points the function at it when it deploys the
 * Function URL with that invoke mode). Undefined outside Lambda's runtime, where nothing
 * provides the `awslambda` global.
 */
export const streamHandler = awslambda
  ? (() => {
      // Lambda's streamifyResponse marks the function and returns it: Hono's handler is called
      // from ours, with the invocation's response stream registered for the failure path above.
      const hono = streamHandle(streamed) as unknown as StreamingHandler;
      return awslambda.streamifyResponse(async (event, responseStream, context) => {
        const invocation: StreamedInvocation = { stream: responseStream, gone: new AbortController() };
        invocations.set(context, invocation);
        // The client went away (the runtime closes the response stream). Hono's pipe notices
        // only at its next write, and waits for the body's pending read before it gives up:
        // an idle tail's next keep-alive, up to 15 s later. Stop the body and the request now;
        // after a complete response, `abandon` does nothing.
        const closed = () => {
          invocation.gone.abort(new Error('the response stream closed'));
          void invocation.abandon?.();
        };
        responseStream.once('close', closed);
        // Closed already (the client left while the invocation waited to start): its 'close'
        // was emitted before anyone listened. The request still runs — a produce commits whole,
        // its answer lost — but waits end at once.
        if (responseStream.closed === true || responseStream.destroyed === true) invocation.gone.abort(new Error('the response stream closed'));
        try {
          await hono(prepareEvent(event, { pathDecoded }), responseStream, context);
        } finally {
          responseStream.off('close', closed);
        }
        await invocation.abandon?.();
        if (invocation.failed !== undefined) throw invocation.failed;
      });
    })()
  : undefined;
