// Per-request observability, as one Hono middleware: a request id (the caller's `x-request-id`
// when it is a sane token, else the Lambda request id, else a fresh UUID) echoed in the
// response, one access-log line at info, and the request-duration and error metrics. The
// route label is the matched route pattern, never the raw path, so label values stay bounded.
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../obs/logger';
import type { SamsaMetrics } from '../obs/instruments';

export interface ObserveOptions {
  logger: Logger;
  metrics?: SamsaMetrics;
}

/** What the middleware leaves on the context for the handlers and onError. */
export interface ObserveVars {
  requestId: string;
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
  const env = c.env as { lambdaContext?: { awsRequestId?: unknown } } | undefined;
  const id = env?.lambdaContext?.awsRequestId;
  return typeof id === 'string' && SAFE_ID.test(id) ? id : undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function observe(opts: ObserveOptions): MiddlewareHandler {
  const { logger, metrics } = opts;
  return async (c, next) => {
    const t0 = performance.now();
    const given = c.req.header('x-request-id');
    const requestId = given !== undefined && SAFE_ID.test(given) ? given : (lambdaRequestId(c) ?? randomUUID());
    const log = logger.child({ request_id: requestId });
    c.set('requestId' as never, requestId as never);
    c.set('log' as never, log as never);
    try {
      await next();
    } finally {
      const status = c.res.status;
      c.res.headers.set('x-request-id', requestId);
      const seconds = (performance.now() - t0) / 1000;
      // The matched pattern of the handler that answered ('*' only when no route matched).
      let route = routePath(c, -1);
      if (route === '*' || route === '/*') route = 'unmatched';
      const errorCode = c.get('errorCode' as never) as string | undefined;
      metrics?.requestDuration.observe({ route: `${c.req.method} ${route}`, status: String(status) }, seconds);
      if (errorCode) metrics?.errors.inc({ error_code: errorCode });
      if (status >= 500 && c.req.method === 'POST' && route.endsWith('/records')) metrics?.produceFailures.inc();
      if (logger.enabled('info')) {
        const path = c.req.path;
        const t = TOPIC_PATH.exec(path);
        const g = t ? undefined : GROUP_PATH.exec(path);
        log.info('request', {
          method: c.req.method,
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
}
