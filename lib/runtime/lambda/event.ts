// What functions/api.ts does to an invocation event before Hono's aws-lambda adapter turns it
// into a Request.

/**
 * API Gateway's HTTP API gives the function `rawPath` percent-decoded (a Function URL gives it
 * as the client sent it, still encoded). The adapter pastes rawPath into the request URL as it
 * is, so a decoded `#` or `?` would end the path there ("/v1/topics/a%23b" would name topic a)
 * and a decoded `%41` would be decoded again. Each segment is encoded once more, so the app
 * sees the names the client sent. (A decoded `%2F` cannot be told from `/`: it stays a slash.)
 * For every name the API accepts (topics, groups, member ids: [A-Za-z0-9._-]) this is the
 * identity, so were the front ever to send rawPath encoded, only names already invalid would
 * change, and stay invalid.
 */
export function encodeDecodedPath(rawPath: string): string {
  return rawPath
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

/**
 * The event as the adapter can take it: its rawPath encoded again where the front decoded it
 * (`pathDecoded`: the deployment is behind API Gateway), and no body on a GET or HEAD. A fetch
 * Request cannot carry one, so the adapter would throw building it (a text/plain 400 buffered,
 * a prelude-less "Internal Server Error" streamed); the Node server ignores such a body.
 */
export function prepareEvent<E>(event: E, opts: { pathDecoded: boolean }): E {
  const e = event as { rawPath?: unknown; body?: unknown; requestContext?: { http?: { method?: unknown } } } | null;
  if (!e || typeof e !== 'object') return event;
  let out = event;
  if (opts.pathDecoded && typeof e.rawPath === 'string') out = { ...out, rawPath: encodeDecodedPath(e.rawPath) };
  const method = e.requestContext?.http?.method;
  if (e.body !== undefined && (method === 'GET' || method === 'HEAD')) {
    const { body: _body, isBase64Encoded: _b64, ...rest } = out as Record<string, unknown>;
    out = rest as E;
  }
  return out;
}
