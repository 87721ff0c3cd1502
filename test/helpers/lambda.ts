// Drives functions/api.ts as Lambda's Node runtime does: payload v2 events as a Function URL
// (or API Gateway's HTTP API) builds them, a context with getRemainingTimeInMillis, and for the
// RESPONSE_STREAM handler the `awslambda` global with a response stream that records what the
// Function URL would send (the metadata prelude, the body bytes, whether it ended or broke).
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { awsEndpoint, TEST_REGION } from './aws';

export interface V2EventOptions {
  /** The query string as sent (already percent-encoded), without `?`. */
  query?: string;
  headers?: Record<string, string>;
  /** A string body is sent as is; bytes are sent base64 with isBase64Encoded. */
  body?: string | Uint8Array;
  /** Base64 a string body too (Function URLs do for some content types). */
  base64?: boolean;
  cookies?: string[];
  /** API Gateway HTTP API instead of a Function URL (domain, stage). */
  apiGateway?: boolean;
  /** requestContext.authorizer, as AWS fills it (IAM or JWT). */
  authorizer?: Record<string, unknown>;
}

export function v2Event(method: string, rawPath: string, o: V2EventOptions = {}): Record<string, unknown> {
  const domain = o.apiGateway ? 'abcdefgh.execute-api.us-east-1.amazonaws.com' : 'abcdefgh.lambda-url.us-east-1.on.aws';
  const body =
    o.body === undefined ? {} : typeof o.body === 'string' ? (o.base64 ? { body: Buffer.from(o.body).toString('base64'), isBase64Encoded: true } : { body: o.body, isBase64Encoded: false }) : { body: Buffer.from(o.body).toString('base64'), isBase64Encoded: true };
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: o.query ?? '',
    ...(o.cookies ? { cookies: o.cookies } : {}),
    headers: { host: domain, 'x-forwarded-proto': 'https', 'user-agent': 'samsa-test', ...(o.headers ?? {}) },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdefgh',
      domainName: domain,
      domainPrefix: 'abcdefgh',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'samsa-test' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      ...(o.authorizer ? { authorizer: o.authorizer } : {}),
    },
    ...body,
  };
}

export interface FakeContext {
  awsRequestId: string;
  functionName: string;
  getRemainingTimeInMillis(): number;
}

/** A Lambda context whose invocation ends `remainingMs` after it is made. */
export function lambdaContext(remainingMs = 70_000, awsRequestId: string = randomUUID()): FakeContext {
  const end = Date.now() + remainingMs;
  return { awsRequestId, functionName: 'samsa-api', getRemainingTimeInMillis: () => Math.max(0, end - Date.now()) };
}

export interface BufferedResult {
  statusCode: number;
  headers?: Record<string, string>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}

/** The body of a buffered result as bytes. */
export const resultBytes = (r: BufferedResult): Buffer => Buffer.from(r.body ?? '', r.isBase64Encoded ? 'base64' : 'utf8');

/** What a Function URL in RESPONSE_STREAM mode would have sent. */
export class RecordedStream extends Writable {
  meta: { statusCode?: number; headers?: Record<string, string>; cookies?: string[] } | undefined;
  chunks: Buffer[] = [];
  ended = false;
  destroyedWith: Error | undefined;
  constructor() {
    super({ highWaterMark: 0 });
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    cb();
  }
  override _final(cb: () => void): void {
    this.ended = true;
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err) this.destroyedWith = err;
    cb(null);
  }
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * Installs the parts of `awslambda` Lambda's Node runtime provides: streamifyResponse marks the
 * handler and returns it; HttpResponseStream.from records the prelude on the stream.
 */
export function installAwsLambdaGlobal(): void {
  (globalThis as Record<string, unknown>)['awslambda'] = {
    streamifyResponse: (fn: unknown) => fn,
    HttpResponseStream: {
      from: (stream: RecordedStream, meta: RecordedStream['meta']) => {
        stream.meta = meta;
        return stream;
      },
    },
  };
}

/**
 * What functions/api.ts reads from its environment, for a bucket and table on the emulator
 * (credentials test/test), with `extra` (invoke mode, auth, ...) over it.
 */
export function lambdaAwsEnv(stores: { bucket: string; table: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SAMSA_STORAGE: 'aws',
    SAMSA_BUCKET: stores.bucket,
    SAMSA_TABLE: stores.table,
    AWS_ENDPOINT_URL: awsEndpoint()!,
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    ...extra,
  };
}
