// Per-request observability, as one Hono middleware: a request id (the caller's `x-request-id`
// when it is a sane token, else the Lambda request id, else a fresh UUID) echoed in the
// response with the runtime (`x-samsa-runtime`), one access-log line at info, and the
// request-duration and error metrics. The route label is the matched route pattern, never the
// raw path, so label values stay bounded.
//
// It runs for every request, so it costs as little as it can (issue 18 item 1): the request's
// logger is one small object that builds its bound logger only when a line is written, the
// duration series is looked up without building labels, and a handler that answers with
// `preparedJson` gets its headers written in with the body, so the response never needs a
// Headers object.
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { LogFields, Logger, LogLevel } from '../obs/logger';
import type { SamsaMetrics } from '../obs/instruments';

export interface ObserveOptions {
  logger: Logger;
  metrics?: SamsaMetrics;
  /** Where this app runs (lib/http/limits.ts), sent as `x-samsa-runtime` on every response. */
  runtime?: string;
}

/** What the middleware leaves on the context for the handlers and onError. */
export interface ObserveVars {
  requestId: string;
  /** The request's logger (lines carry `request_id`); call its methods on it, not detached. */
  log: Logger;
  /** Set by onError / notFound: the error code of the response, for logs and metrics. */
  errorCode?: string;
  /** Set by authentication, when it exists: who made the request. */
  principal?: string;
}

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TOPIC_PATH = /^\/v1\/topics\/([^/]+)(?:\/partitions\/([^/]+))?/;
const GROUP_PATH = /^\/v1\/groups\/([^/]+)/;

function lambdaRequestId(c: Context): string | undefined {
  // Hono's aws-lambda adapter puts the invocation's context at `lambdaContext` (handle, the
  // buffered handler) or at `context` (streamHandle, RESPONSE_STREAM).
  const env = c.env as { lambdaContext?: { awsRequestId?: unknown }; context?: { awsRequestId?: unknown } } | undefined;
  const id = (env?.lambdaContext ?? env?.context)?.awsRequestId;
  return typeof id === 'string' && SAFE_ID.test(id) ? id : undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The request's logger: the app's logger with `request_id` bound, built on the first line
 * written. Most requests write none (the access line is the app logger's, below), so a request
 * costs this one object, not a child logger's closures. Methods are the prototype's: call them
 * on the object (log.warn(...)), as every user of the context's `log` does.
 */
class RequestLogger implements Logger {
  #real: Logger | undefined;
  /** The answer preparedJson built for this request: its headers are already in it. */
  prepared: Response | undefined;
  constructor(
    private readonly parent: Logger,
    readonly requestId: string,
  ) {}
  private get real(): Logger {
    return (this.#real ??= this.parent.child({ request_id: this.requestId }));
  }
  get level(): LogLevel {
    return this.parent.level;
  }
  enabled(level: LogLevel): boolean {
    return this.parent.enabled(level);
  }
  debug(msg: string, fields?: LogFields): void {
    if (this.parent.enabled('debug')) this.real.debug(msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    if (this.parent.enabled('info')) this.real.info(msg, fields);
  }
  warn(msg: string, fields?: LogFields, err?: unknown): void {
    if (this.parent.enabled('warn')) this.real.warn(msg, fields, err);
  }
  error(msg: string, fields?: LogFields, err?: unknown): void {
    if (this.parent.enabled('error')) this.real.error(msg, fields, err);
  }
  child(bindings: LogFields): Logger {
    return this.real.child(bindings);
  }
}

type Series = { observe(value: number): void };

export interface Observer {
  /** The middleware: `app.use('*', ...)` before everything else. */
  middleware: MiddlewareHandler;
  /**
   * A JSON answer that already carries what the middleware adds to every response
   * (x-request-id, x-samsa-runtime), its headers a plain object: the Node adapter then writes
   * them straight into the response head, where a response whose headers the middleware must
   * still set needs a Headers object built, filled, sorted and copied out again (issue 18, the
   * hot produce route). Every other response gets its headers from the middleware as before,
   * including one that middleware puts in place of this one after the handler (c.res = ...).
   * Headers set with c.header() before it are not in it: answer with it only where none are
   * (the produce routes set none on success; a throttle's Retry-After leaves as an error).
   */
  preparedJson(c: Context, text: string, status: number): Response;
}

export function observer(opts: ObserveOptions): Observer {
  const { logger, metrics, runtime } = opts;
  // The duration series by route pattern, method and status, without building the labels
  // again per request (route patterns and statuses are few; methods are what callers send,
  // one series each, as the histogram itself keeps them).
  const durations = new Map<string, Map<string, Map<number, Series>>>();
  const durationOf = (method: string, route: string, status: number): Series | undefined => {
    if (!metrics) return undefined;
    let byMethod = durations.get(route);
    if (!byMethod) durations.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let s = byStatus.get(status);
    if (!s) byStatus.set(status, (s = metrics.requestDuration.bind({ route: `${method} ${route}`, status: String(status) })));
    return s;
  };

  const preparedJson = (c: Context, text: string, status: number): Response => {
    const log = c.get('log' as never) as RequestLogger | undefined;
    if (!(log instanceof RequestLogger)) throw new Error('preparedJson answers only behind the observe middleware');
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-request-id': log.requestId };
    if (runtime !== undefined) headers['x-samsa-runtime'] = runtime;
    const res = new Response(text, { status, headers });
    log.prepared = res;
    return res;
  };

  const middleware: MiddlewareHandler = async (c, next) => {
    const t0 = performance.now();
    const given = c.req.header('x-request-id');
    const requestId = given !== undefined && SAFE_ID.test(given) ? given : (lambdaRequestId(c) ?? randomUUID());
    const log = new RequestLogger(logger, requestId);
    c.set('requestId' as never, requestId as never);
    c.set('log' as never, log as never);
    try {
      await next();
    } finally {
      const res = c.res;
      const status = res.status;
      if (res !== log.prepared) {
        res.headers.set('x-request-id', requestId);
        if (runtime !== undefined) res.headers.set('x-samsa-runtime', runtime);
      }
      const seconds = (performance.now() - t0) / 1000;
      // The matched pattern of the handler that answered ('*' only when no route matched).
      let route = routePath(c, -1);
      if (route === '*' || route === '/*') route = 'unmatched';
      const method = c.req.method;
      const errorCode = c.get('errorCode' as never) as string | undefined;
      durationOf(method, route, status)?.observe(seconds);
      if (errorCode) metrics?.errors.inc({ error_code: errorCode });
      if (status >= 500 && method === 'POST' && route.endsWith('/records')) metrics?.produceFailures.inc();
      if (logger.enabled('info')) {
        const path = c.req.path;
        const t = TOPIC_PATH.exec(path);
        const g = t ? undefined : GROUP_PATH.exec(path);
        // The app's logger with the request id as the first field: the same line the request's
        // bound logger would write, without building that logger for it.
        logger.info('request', {
          request_id: requestId,
          method,
          route,
          ...(t ? { topic: decode(t[1]!) } : {}),
          ...(t?.[2] !== undefined ? { partition: decode(t[2]) } : {}),
          ...(g ? { group: decode(g[1]!) } : {}),
          ...(c.get('principal' as never) ? { principal: c.get('principal' as never) } : {}),
          status,
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          ...(errorCode ? { error_code: errorCode } : {}),
        });
      }
    }
  };
  return { middleware, preparedJson };
}
