// What functions/api.ts does to an invocation event before Hono's aws-lambda adapter turns it
// into a Request.

/**
 * API Gateway's HTTP API gives the function `rawPath` percent-decoded (a Function URL gives it
 * as the client sent it, still encoded). The adapter pastes rawPath into the request URL as it
 * is, so a decoded `#` or `?` would end the path there ("/v1/topics/a%23b" would name topic a)
 * and a decoded `%41` would be decoded again. Each segment is encoded once more, so the app
 * sees the names the client sent. (A decoded `%2F` cannot be told from `/`: it stays a slash.)
 */
export function encodeDecodedPath(rawPath: string): string {
  return rawPath
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

/** The event with its rawPath encoded again (`decoded`: the deployment is behind API Gateway). */
export function withEncodedRawPath<E>(event: E, decoded: boolean): E {
  const path = (event as { rawPath?: unknown } | null)?.rawPath;
  return decoded && typeof path === 'string' ? { ...event, rawPath: encodeDecodedPath(path) } : event;
}
