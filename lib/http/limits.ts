// What the runtime in front of the app can carry. The wiring knows where it runs (the Node
// server, a Lambda Function URL in buffered or streaming invoke mode, or API Gateway's HTTP API)
// and passes one of these to createApp, so a request the platform would refuse with its own
// error page (or a response it would drop) is answered by Samsa first: 413 RECORD_TOO_LARGE
// naming the limit for bodies, and fetches clamped to what the response can hold
// (docs/limits.md, "Runtime limits").
import { SamsaError } from '../errors';

export type RuntimeKind = 'node' | 'function-url-buffered' | 'function-url-streaming' | 'api-gateway';

export interface RuntimeLimits {
  kind: RuntimeKind;
  /** Largest binary (RecordBatch) request body, raw bytes. */
  maxRequestBytes: number;
  /** Largest JSON request body. */
  maxJsonRequestBytes: number;
  /** Largest binary fetch body, raw bytes (undefined: only the route's own max_bytes bound). */
  maxBinaryResponseBytes?: number;
  /** Largest JSON response body, as serialised (undefined: unbounded). */
  maxJsonResponseBytes?: number;
  /** Whether the response may be streamed (live tails need it). */
  streaming: boolean;
  /** Longest live-tail session; the Lambda wiring lowers it per invocation to the time left. */
  maxSessionMs: number;
  /**
   * Bytes a live-tail session sends before it ends (the client resumes with Last-Event-ID);
   * undefined: no bound. A streamed Lambda sets it at the response's uncapped burst.
   */
  maxSessionBytes?: number;
  /** Longest server-side wait of a long poll (undefined: the route's own 60 s bound). */
  maxWaitMs?: number;
  /**
   * The response body travels as a string inside Lambda's result JSON (a buffered invocation),
   * where each quote and backslash of a JSON body is escaped once more: those count twice
   * against maxJsonResponseBytes (jsonResultBytes).
   */
  bodyInResult?: boolean;
}

const MiB = 1024 * 1024;
/**
 * Lambda's synchronous invoke payload limit, request and response alike: 6 MB, counted over the
 * whole event or result JSON (AWS documents 6 MB; the service counts 6,291,456 bytes).
 */
export const LAMBDA_PAYLOAD_BYTES = 6 * MiB;
/**
 * What the event or result JSON carries besides the body: headers, request context, query.
 * Function URL headers are capped well below this; the margin keeps a body at the limit safe.
 */
export const LAMBDA_ENVELOPE_BYTES = 128 * 1024;
/**
 * How much of a streamed Function URL response (RESPONSE_STREAM) goes out at full speed. AWS
 * documents a response limit of 200 MB (raised from 20 MB in July 2025), but "the streaming rate
 * for the first 6 MB of your function's response is uncapped"; past it Lambda streams at most
 * 2 MB/s ("Bandwidth limits for response streaming", AWS Lambda developer guide). A 20 MB fetch
 * would take 7 s more and bill them; a second request is faster and costs $0.0000002. So a
 * streamed fetch is clamped, and a live-tail session ended, at this burst (less the margin).
 */
export const LAMBDA_STREAM_BURST_BYTES = 6 * MiB;
/** API Gateway's HTTP API gives up on an integration after 30 s. */
export const API_GATEWAY_TIMEOUT_MS = 30_000;

/** Binary bodies travel base64-encoded in Lambda's event and result: 4 characters per 3 bytes. */
const base64Raw = (chars: number): number => Math.floor(chars / 4) * 3;
const BUFFERED_BODY = LAMBDA_PAYLOAD_BYTES - LAMBDA_ENVELOPE_BYTES;

/** The Node server: only the configured request limit; responses are streamed by Node. */
export function nodeLimits(maxRequestBytes: number, maxJsonRequestBytes: number, maxSessionMs = 15 * 60_000): RuntimeLimits {
  return { kind: 'node', maxRequestBytes, maxJsonRequestBytes, streaming: true, maxSessionMs };
}

/**
 * A Lambda behind a Function URL or API Gateway. `configured` is the operator's request limit
 * (SAMSA_MAX_REQUEST_BYTES), which only ever lowers the platform's; `timeoutMs` the function's.
 */
export function lambdaLimits(kind: Exclude<RuntimeKind, 'node'>, configured: { maxRequestBytes: number; maxJsonRequestBytes: number }, timeoutMs: number): RuntimeLimits {
  // Requests are buffered in every mode (streaming is for responses only): 6 MB of event,
  // binary bodies base64-encoded inside it.
  const maxRequestBytes = Math.min(configured.maxRequestBytes, base64Raw(BUFFERED_BODY));
  const maxJsonRequestBytes = Math.min(configured.maxJsonRequestBytes, BUFFERED_BODY);
  // A tail ends a few seconds before the platform would cut it, so the client sees `end`.
  const platformMs = kind === 'api-gateway' ? Math.min(timeoutMs, API_GATEWAY_TIMEOUT_MS) : timeoutMs;
  const maxSessionMs = Math.max(1000, platformMs - 5000);
  if (kind === 'function-url-streaming') {
    // Streamed bodies are sent as they are, not base64, at full speed up to the burst.
    const burst = LAMBDA_STREAM_BURST_BYTES - LAMBDA_ENVELOPE_BYTES;
    return { kind, maxRequestBytes, maxJsonRequestBytes, maxBinaryResponseBytes: burst, maxJsonResponseBytes: burst, streaming: true, maxSessionMs, maxSessionBytes: burst };
  }
  // API Gateway answers 504 at 30 s whatever the function does: a long poll returns before.
  const wait = kind === 'api-gateway' ? { maxWaitMs: API_GATEWAY_TIMEOUT_MS - 5000 } : {};
  return { kind, maxRequestBytes, maxJsonRequestBytes, maxBinaryResponseBytes: base64Raw(BUFFERED_BODY), maxJsonResponseBytes: BUFFERED_BODY, streaming: false, maxSessionMs, bodyInResult: true, ...wait };
}

/**
 * What `json` (serialised JSON) costs of the response limit: its UTF-8 bytes, and where the body
 * is embedded in Lambda's result JSON, one more byte per quote and backslash (JSON.stringify
 * output holds no raw control characters, so nothing else grows there).
 */
export function jsonResultBytes(json: string, limits: Pick<RuntimeLimits, 'bodyInResult'>): number {
  const bytes = Buffer.byteLength(json);
  if (!limits.bodyInResult) return bytes;
  let escapes = 0;
  for (let i = 0; i < json.length; i++) {
    const ch = json.charCodeAt(i);
    if (ch === 0x22 || ch === 0x5c) escapes++;
  }
  return bytes + escapes;
}

/**
 * Kafka returns a first batch whole whatever the fetch size, and so do the Node server and a
 * streamed Lambda; a buffered Lambda's result cannot hold more than it carries, so there one
 * that alone exceeds it is a 413 naming it (`what`, and `details` of where it is), not a result
 * Lambda refuses (a 502 on every retry).
 */
export function tooLargeForResult(what: string, details: Record<string, unknown>, bytes: number, limit: number, limits: Pick<RuntimeLimits, 'kind'>): SamsaError {
  return new SamsaError('RECORD_TOO_LARGE', `${what} needs ${bytes} bytes of response, more than this deployment (${limits.kind}) can return (${limit}); read it through a streamed Function URL or the Node server`, {
    ...details,
    response_bytes: bytes,
    max_response_bytes: limit,
    runtime: limits.kind,
  });
}

/**
 * How many of `rendered` (a JSON response's records, in order) the response carries beside
 * `envelope` bytes of everything else, within `maxJsonResponseBytes` (no bound: all of them):
 * those that fit, and always the first — except on a buffered Lambda, where a first that alone
 * does not fit the result comes back as `firstTooLarge` (its bytes with the envelope).
 */
export function recordsThatFit(
  rendered: readonly unknown[],
  envelope: number,
  limits: Pick<RuntimeLimits, 'maxJsonResponseBytes' | 'bodyInResult'>,
): { keep: number; firstTooLarge?: number } {
  const room = limits.maxJsonResponseBytes;
  if (room === undefined || rendered.length === 0) return { keep: rendered.length };
  if (limits.bodyInResult) {
    const first = envelope + jsonResultBytes(JSON.stringify(rendered[0]), limits);
    if (first > room) return { keep: 0, firstTooLarge: first };
  }
  if (rendered.length === 1) return { keep: 1 };
  let size = envelope;
  let keep = 0;
  for (const r of rendered) {
    size += jsonResultBytes(JSON.stringify(r), limits) + 1;
    if (size > room && keep > 0) break;
    keep++;
  }
  return { keep };
}

/** A long poll's wait: what was asked, within the runtime's bound and the time the request has left. */
export function waitWithin(asked: number, maxWaitMs: number | undefined, leftMs: number | undefined): number {
  return Math.max(0, Math.min(asked, maxWaitMs ?? asked, leftMs ?? asked));
}

/**
 * Which Lambda front the function sits behind: SAMSA_LAMBDA_FRONT and SAMSA_INVOKE_MODE as the
 * construct sets them. Without the front (set since API Gateway can front a deployment with
 * ACLs off, SAMSA_AUTH=none), SAMSA_AUTH=jwt still means API Gateway.
 */
export function lambdaKind(invokeMode: string | undefined, auth: string | undefined, front?: 'function-url' | 'api-gateway'): Exclude<RuntimeKind, 'node'> {
  if (front === 'api-gateway' || (front === undefined && auth === 'jwt')) return 'api-gateway';
  return invokeMode === 'RESPONSE_STREAM' ? 'function-url-streaming' : 'function-url-buffered';
}
