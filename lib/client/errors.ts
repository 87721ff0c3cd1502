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

  constructor(code: string, message: string, opts: { status?: number; details?: Record<string, unknown>; retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'SamsaClientError';
    this.code = code;
    this.status = opts.status;
    this.details = opts.details ?? {};
    this.retriable = opts.retriable ?? false;
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
export function errorFromResponse(status: number, body: unknown, what: string): SamsaClientError {
  const obj = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  const { error_code, message, ...details } = obj;
  const code = typeof error_code === 'string' ? error_code : status >= 500 ? 'UNKNOWN_SERVER_ERROR' : `HTTP_${status}`;
  // The server's messages name the problem already ("topic \"orders\" does not exist").
  // AWS's own refusals (a Function URL's 403 before Samsa runs) say `{"Message":"Forbidden"}`.
  const awsMessage = typeof obj.Message === 'string' ? obj.Message : undefined;
  const text = typeof message === 'string' ? message : `${what}: ${typeof body === 'string' && body ? body.slice(0, 300) : `HTTP ${status}${awsMessage ? ` ${awsMessage}` : ''}`}`;
  return new SamsaClientError(code, text, { status, details, retriable: isRetriableStatus(status) });
}
