// The one place that builds AWS SDK clients for Samsa. Endpoint overrides (LocalStack, moto,
// DynamoDB Local) come from the standard variables so the same code paths run against real AWS
// and emulators. Every client carries a request-accounting middleware: the cost benchmark reads
// `awsRequestCounts()` to report requests per MiB and dollars per GiB.

import http from 'node:http';
import https from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

type Env = Record<string, string | undefined>;

export interface AwsClientConfig {
  region: string;
  /** Endpoint override for S3 (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL). */
  s3Endpoint?: string;
  /** Endpoint override for DynamoDB (AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL). */
  dynamoEndpoint?: string;
  /** Explicit credentials; otherwise the SDK's default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Total attempts per call including the first (SDK default is 3). */
  maxAttempts: number;
  /** How long a request may go without a byte either way before it fails (socket idle timeout), in ms. */
  requestTimeoutMs: number;
}

/** Reads the standard AWS variables. `env` is a parameter so callers (and tests) can inject it. */
export function awsConfigFromEnv(env: Env = process.env): AwsClientConfig {
  const shared = nonEmpty(env.AWS_ENDPOINT_URL);
  const ignore = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true';
  const cfg: AwsClientConfig = {
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
    maxAttempts: positiveInt(env.AWS_MAX_ATTEMPTS) ?? 5,
    requestTimeoutMs: positiveInt(env.SAMSA_AWS_REQUEST_TIMEOUT_MS) ?? 30_000,
  };
  if (!ignore) {
    const s3 = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? shared;
    const ddb = nonEmpty(env.AWS_ENDPOINT_URL_DYNAMODB) ?? shared;
    if (s3) cfg.s3Endpoint = s3;
    if (ddb) cfg.dynamoEndpoint = ddb;
  }
  return cfg;
}

// Keep-alive agents: Lambda reuses the process (and module-level clients) across invocations,
// and TLS handshakes dominate small-request latency otherwise. One handler per client, because
// client.destroy() destroys its handler's agents.
function httpHandler(requestTimeoutMs: number): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new http.Agent({ keepAlive: true, maxSockets: 128 }),
    httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 128 }),
    connectionTimeout: 5_000,
    // The bound on a request that stops moving: no byte either way for this long fails it (and
    // the SDK retries it). Not `requestTimeout`, which in @smithy/node-http-handler 4.x only logs
    // a warning unless told to throw, and which would bound the whole transfer: a 1 GiB segment
    // read that keeps flowing must not be cut.
    socketTimeout: requestTimeoutMs,
  });
}

export function makeS3Client(cfg: AwsClientConfig = awsConfigFromEnv()): S3Client {
  const client = new S3Client({
    region: cfg.region,
    ...(cfg.s3Endpoint ? { endpoint: cfg.s3Endpoint, forcePathStyle: true } : {}),
    ...(cfg.credentials ? { credentials: cfg.credentials } : {}),
    maxAttempts: cfg.maxAttempts,
    retryMode: 'adaptive',
    requestHandler: httpHandler(cfg.requestTimeoutMs),
    // Checksums only where S3 requires them: emulators lag behind the CRC defaults of
    // recent SDKs, and TLS already protects the bytes in flight.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  addRequestAccounting(client, 'S3');
  return client;
}

export function makeDynamoClient(cfg: AwsClientConfig = awsConfigFromEnv()): DynamoDBClient {
  const client = new DynamoDBClient({
    region: cfg.region,
    ...(cfg.dynamoEndpoint ? { endpoint: cfg.dynamoEndpoint } : {}),
    ...(cfg.credentials ? { credentials: cfg.credentials } : {}),
    maxAttempts: cfg.maxAttempts,
    retryMode: 'adaptive',
    requestHandler: httpHandler(cfg.requestTimeoutMs),
  });
  addRequestAccounting(client, 'DynamoDB');
  return client;
}

// ---------------------------------------------------------------------------------------------
// Request accounting
// ---------------------------------------------------------------------------------------------

export interface AwsRequestCounts {
  /** HTTP attempts by "Service.Command" (retries included: AWS bills every attempt). */
  byCommand: Record<string, number>;
  s3: number;
  dynamodb: number;
  total: number;
  /** Bytes sent in S3 request bodies and received in S3 GetObject responses (Content-Length). */
  s3BytesUp: number;
  s3BytesDown: number;
  /** DynamoDB capacity units, summed from calls that asked for ReturnConsumedCapacity. */
  capacity: { read: number; write: number; total: number };
}

const counts = new Map<string, number>();
let s3BytesUp = 0;
let s3BytesDown = 0;
const capacity = { read: 0, write: 0, total: 0 };

export function awsRequestCounts(): AwsRequestCounts {
  const byCommand = Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : 1)));
  let s3 = 0;
  let dynamodb = 0;
  for (const [k, n] of counts) {
    if (k.startsWith('S3.')) s3 += n;
    else dynamodb += n;
  }
  return { byCommand, s3, dynamodb, total: s3 + dynamodb, s3BytesUp, s3BytesDown, capacity: { ...capacity } };
}

export function resetAwsRequestCounts(): void {
  counts.clear();
  s3BytesUp = 0;
  s3BytesDown = 0;
  capacity.read = capacity.write = capacity.total = 0;
}

/** DynamoDB calls that consume write capacity (the rest read). */
export const DDB_WRITES: ReadonlySet<string> = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/** The slice of the SDK's middleware stack we use, typed loosely to serve both clients. */
interface MiddlewareStackLike {
  add(mw: unknown, opts: { step: string; name: string; override?: boolean }): void;
}

interface ConsumedCapacityLike {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

function bump(key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function addRequestAccounting(client: S3Client | DynamoDBClient, service: 'S3' | 'DynamoDB'): void {
  const stack = client.middlewareStack as unknown as MiddlewareStackLike;
  // Deserialize step runs inside the retry loop: one count per HTTP attempt.
  stack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const command = (context.commandName ?? 'Unknown').replace(/Command$/, '');
      bump(`${service}.${command}`);
      if (service === 'S3') {
        const req = (args as { request?: { headers?: Record<string, string> } }).request;
        const len = Number(req?.headers?.['content-length'] ?? 0);
        if (Number.isFinite(len)) s3BytesUp += len;
      }
      const out = (await next(args)) as { response?: { headers?: Record<string, string> } };
      if (service === 'S3' && command === 'GetObject') {
        const len = Number(out.response?.headers?.['content-length'] ?? 0);
        if (Number.isFinite(len)) s3BytesDown += len;
      }
      return out;
    },
    { step: 'deserialize', name: 'samsaRequestAccounting', override: true },
  );
  if (service === 'DynamoDB') {
    // Initialize step sees the parsed output once per call (after retries).
    stack.add(
      (next: (a: unknown) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
        async (args: unknown) => {
          const res = await next(args);
          const cmd = (context.commandName ?? '').replace(/Command$/, '');
          const cc = res.output.ConsumedCapacity as ConsumedCapacityLike | ConsumedCapacityLike[] | undefined;
          for (const c of Array.isArray(cc) ? cc : cc ? [cc] : []) {
            const units = c.CapacityUnits ?? 0;
            capacity.total += units;
            if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
              capacity.read += c.ReadCapacityUnits ?? 0;
              capacity.write += c.WriteCapacityUnits ?? 0;
            } else if (DDB_WRITES.has(cmd)) {
              // On-demand tables often report only CapacityUnits; attribute by call kind.
              capacity.write += units;
            } else {
              capacity.read += units;
            }
          }
          return res;
        },
      { step: 'initialize', name: 'samsaCapacityAccounting', override: true },
    );
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s && s.trim() !== '' ? s.trim() : undefined;
}

function positiveInt(s: string | undefined): number | undefined {
  const n = Number(s);
  return s && Number.isInteger(n) && n > 0 ? n : undefined;
}
