// The client's one way to the server: fetch (Node 20's, so it runs in Node and in a Lambda
// alike), an optional request signer (SigV4 for the deployed API), Kafka-style error bodies
// turned into SamsaClientError, and retries of what is retriable.
import { type AuthConfig, signerFor } from './auth';
import { errorFromResponse, SamsaClientError, SamsaConnectionError } from './errors';
import { type RetryHooks, type RetryOptions, withRetry } from './retry';
import { abortableSleep } from '../util/sleep';

export const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch';

/** What a signer sees: the request about to be sent. Returns headers to add. */
export interface SignableRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}
export type Signer = (req: SignableRequest) => Promise<Record<string, string>>;

export interface ClientConfig {
  /** Base URL of the Samsa API (`http://localhost:8080`, a Function URL, an API Gateway stage). */
  url: string;
  /** How to authenticate: `{ mode: 'sigv4' }` for an IAM Function URL, `{ mode: 'bearer', token }`, or none (default). */
  auth?: AuthConfig;
  /** A custom signer instead of `auth` (gets each request, returns headers to add). */
  signer?: Signer;
  retry?: RetryOptions;
  /** Per-attempt timeout, ms (default 30000; long polls add their wait). */
  requestTimeout?: number;
  /** Extra headers on every request (an Authorization for a JWT-protected API, ...). */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  body?: Uint8Array;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  /** Added to the per-attempt timeout (long polls). */
  extraTimeoutMs?: number;
  /** Override the client's retry options for this call (0 retries for non-idempotent calls). */
  retry?: RetryOptions;
  /**
   * Hears of each failed attempt that is retried (the last attempt's error is thrown instead):
   * a caller that must know whether the server may have acted already (the producer) learns that
   * an attempt's outcome was unknown even when a later attempt's answer is final.
   */
  onRetry?: (err: unknown) => void;
  /** Named in error messages, e.g. `create topic "orders"`. */
  what?: string;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
}

export class HttpClient {
  readonly base: URL;
  readonly config: ClientConfig;
  private readonly signer: Signer | undefined;
  /** For tests: injected randomness and sleep. */
  hooks: RetryHooks = {};

  constructor(config: ClientConfig) {
    if (!config.url) throw new SamsaClientError('INVALID_CONFIG', 'the Samsa URL is required (e.g. http://localhost:8080)');
    let base: URL;
    try {
      base = new URL(config.url.endsWith('/') ? config.url : `${config.url}/`);
    } catch {
      throw new SamsaClientError('INVALID_CONFIG', `"${config.url}" is not a valid URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new SamsaClientError('INVALID_CONFIG', `"${config.url}" is not an http(s) URL`);
    this.base = base;
    this.config = config;
    if (config.signer && config.auth && config.auth.mode !== 'none') throw new SamsaClientError('INVALID_CONFIG', 'give either auth or signer, not both');
    this.signer = config.signer ?? (config.auth ? signerFor(config.auth, base) : undefined);
  }

  url(path: string, query?: RequestOptions['query']): URL {
    const u = new URL(path.replace(/^\//, ''), this.base);
    // RFC 3986 encoding (a space is %20, never the form encoding's '+'), so the query on the wire
    // is byte for byte the one SigV4 canonicalises and signs: a verifier reading '+' literally
    // would otherwise reject the signature.
    const pairs = Object.entries(query ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${rfc3986(k)}=${rfc3986(String(v))}`);
    if (pairs.length) u.search = pairs.join('&');
    return u;
  }

  /** A JSON call: resolves with the parsed body (undefined for 204). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    if (res.status === 204 || res.bytes.length === 0) return undefined as T;
    return JSON.parse(Buffer.from(res.bytes).toString('utf8')) as T;
  }

  /** Any call, retried while retriable; non-2xx answers throw SamsaClientError. */
  raw(method: string, path: string, opts: RequestOptions = {}): Promise<RawResponse> {
    const retry = { ...this.config.retry, ...opts.retry };
    const hooks: RetryHooks = opts.onRetry
      ? {
          ...this.hooks,
          onRetry: (err, attempt, waitMs) => {
            opts.onRetry!(err);
            this.hooks.onRetry?.(err, attempt, waitMs);
          },
        }
      : this.hooks;
    // The caller's abort also ends a wait between attempts (it may be a long Retry-After).
    const signal = opts.signal;
    const wakeable: RetryHooks = signal && !hooks.sleep ? { ...hooks, sleep: (ms) => abortableSleep(ms, signal) } : hooks;
    return withRetry(() => this.once(method, path, opts), retry, wakeable);
  }

  private async once(method: string, path: string, opts: RequestOptions): Promise<RawResponse> {
    const url = this.url(path, opts.query);
    const what = opts.what ?? `${method} ${url.pathname}`;
    const headers: Record<string, string> = { ...this.config.headers };
    let body: Uint8Array | string | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    } else if (opts.body !== undefined) {
      body = opts.body;
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
    }
    if (opts.accept) headers['accept'] = opts.accept;
    if (this.signer) Object.assign(headers, await this.sign({ method, url, headers: { ...headers, host: url.host }, ...(body !== undefined ? { body } : {}) }));
    const timeout = AbortSignal.timeout((this.config.requestTimeout ?? 30_000) + (opts.extraTimeoutMs ?? 0));
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: Response;
    let bytes: Uint8Array;
    try {
      res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal });
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      if (opts.signal?.aborted) throw err; // the caller's own abort: not a network failure
      throw new SamsaConnectionError(`cannot reach Samsa at ${this.base.origin}: ${describeNetworkError(err)}`, err);
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, bytes };
    const text = Buffer.from(bytes).toString('utf8');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (a proxy's page): keep the text
    }
    throw errorFromResponse(res.status, parsed, what, res.headers);
  }

  /**
   * One call whose body is read by the caller as it arrives (a live tail): signed as any other,
   * not retried; a non-2xx answer throws SamsaClientError as `raw` does.
   */
  async open(method: string, path: string, opts: Omit<RequestOptions, 'json' | 'body' | 'retry' | 'extraTimeoutMs'> & { headers?: Record<string, string> } = {}): Promise<Response> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { ...this.config.headers, ...opts.headers };
    if (opts.accept) headers['accept'] = opts.accept;
    if (this.signer) Object.assign(headers, await this.sign({ method, url, headers: { ...headers, host: url.host } }));
    let res: Response;
    try {
      res = await fetch(url, { method, headers, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new SamsaConnectionError(`cannot reach Samsa at ${this.base.origin}: ${describeNetworkError(err)}`, err);
    }
    if (res.status >= 200 && res.status < 300) return res;
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON (a proxy's page): keep the text
    }
    throw errorFromResponse(res.status, parsed, opts.what ?? `${method} ${url.pathname}`, res.headers);
  }

  /** Runs the signer; a failure (no credentials found, a token callback that threw) names itself and is final. */
  private async sign(req: SignableRequest): Promise<Record<string, string>> {
    try {
      return await this.signer!(req);
    } catch (err) {
      if (err instanceof SamsaClientError) throw err;
      throw new SamsaClientError('AUTHENTICATION_FAILED', `cannot authenticate the request to ${this.base.origin}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
}

function describeNetworkError(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'request timed out';
  const cause = e?.cause;
  if (cause?.code) return `${cause.code}${cause.message && !cause.message.includes(cause.code) ? ` (${cause.message})` : ''}`;
  return cause?.message ?? e?.message ?? String(err);
}

const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Topic and group names go into paths: encode them (the server validates them). "." and ".."
 * cannot go: fetch resolves such a segment, percent-encoded too (%2E, WHATWG URL), so the
 * request would reach another route (GET /v1/groups/./offsets is GET /v1/groups/offsets).
 */
export const seg = (s: string, code = 'INVALID_REQUEST'): string => {
  if (s === '.' || s === '..') throw new SamsaClientError(code, `${JSON.stringify(s)} cannot be named in a URL path: a name cannot be "." or ".." (the request would reach another route)`);
  return encodeURIComponent(s);
};
/** A group id in a path: "." and ".." are refused as the server refuses them (INVALID_GROUP_ID). */
export const groupSeg = (group: string): string => seg(group, 'INVALID_GROUP_ID');
