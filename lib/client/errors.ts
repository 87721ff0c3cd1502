// Errors the client raises. Like KafkaJS's, every error says whether retrying the same request
// may succeed (`retriable`); the retry loop (retry.ts) looks at nothing else. Server errors keep
// the API's Kafka-style code, HTTP status and body details; failures to reach the server at all
// are SamsaConnectionError, so callers (the CLI's exit codes) can tell "refused" from "unreachable".

export class SamsaClientError extends Error {
  /** Kafka-style code from the server (`UNKNOWN_TOPIC_OR_PARTITION`, ...) or a client code. */
  readonly code: string;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The error body's other fields (`log_start_offset`, `expected_sequence`, ...). */
  readonly details: Record<string, unknown>;
  readonly retriable: boolean;
  /** How long the server asked the client to wait before retrying (Retry-After), ms. */
  readonly retryAfterMs: number | undefined;

  constructor(code: string, message: string, opts: { status?: number; details?: Record<string, unknown>; retriable?: boolean; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'SamsaClientError';
    this.code = code;
    this.status = opts.status;
    this.details = opts.details ?? {};
    this.retriable = opts.retriable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** The server could not be reached (refused, reset, DNS, timeout): retriable. */
export class SamsaConnectionError extends SamsaClientError {
  constructor(message: string, cause?: unknown) {
    super('NETWORK_EXCEPTION', message, { retriable: true, cause });
    this.name = 'SamsaConnectionError';
  }
}

/** Retriable statuses: throttling and server-side failures. Every other 4xx is final. */
export function isRetriableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** Builds the error for a non-2xx response from its Kafka-style body (or whatever came back). */
export function errorFromResponse(status: number, body: unknown, what: string, headers?: Headers): SamsaClientError {
  const obj = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const { error_code, message, ...details } = obj;
  const code = typeof error_code === 'string' ? error_code : status >= 500 ? 'UNKNOWN_SERVER_ERROR' : `HTTP_${status}`;
  // The server's messages name the problem already ("topic \"orders\" does not exist").
  // AWS's own refusals (a Function URL's 403 before Samsa runs) say `{"Message":"Forbidden"}`.
  const awsMessage = typeof obj.Message === 'string' ? obj.Message : undefined;
  const text = typeof message === 'string' ? message : `${what}: ${typeof body === 'string' && body ? body.slice(0, 300) : `HTTP ${status}${awsMessage ? ` ${awsMessage}` : ''}`}`;
  const retryAfterMs = retryAfterOf(headers?.get('retry-after') ?? null, details['retry_after_ms']);
  return new SamsaClientError(code, text, { status, details, retriable: isRetriableStatus(status), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
}

/** The wait a response asks for: the body's retry_after_ms, else Retry-After (seconds or an HTTP date). */
function retryAfterOf(header: string | null, bodyMs: unknown): number | undefined {
  if (typeof bodyMs === 'number' && Number.isFinite(bodyMs) && bodyMs >= 0) return bodyMs;
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
