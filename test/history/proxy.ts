// A fault-injecting HTTP proxy. In front of a Samsa server it loses responses (forwards the
// request, lets the server act on it, then cuts the client's connection) and duplicates
// requests (forwards twice, answers with the second response) — what a client sees when a
// network drops an answer or a retry races the original. In front of the S3/DynamoDB
// emulator it adds storage faults: a 500 before forwarding (clean failure), the service
// throttling (DynamoDB's ProvisionedThroughputExceededException, S3's SlowDown: not applied,
// retried by the SDK, and past its retries answered by Samsa as 429), a cut connection after
// forwarding (the call succeeded but the caller cannot know: ambiguous), and delays past the
// SDK's request timeout (a timeout on a call that may still apply).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultRates {
  /** Forward, then drop the response (connection cut). */
  dropResponse?: number;
  /** Forward twice; answer with the second response. */
  duplicate?: number;
  /** Answer 500 without forwarding. */
  errorBefore?: number;
  /** Answer as the service throttling, without forwarding (storage only). */
  throttle?: number;
  /** Hold the request this long before forwarding: [min, max] ms, with probability `delay`. */
  delay?: number;
  delayMs?: [number, number];
}

export interface ProxyHandle {
  url: string;
  rates: FaultRates;
  /** Faults on or off (off: a plain pass-through). */
  enabled: boolean;
  counts: Record<string, number>;
  close(): Promise<void>;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function forward(target: URL, req: http.IncomingMessage, body: Buffer): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, host: target.host };
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    up.on('error', reject);
    up.end(body);
  });
}

/**
 * Starts a proxy to `target`. `random` decides each fault; `onDuplicate` hears of every
 * request forwarded twice (with its `x-history-op` header, so the history can say so).
 */
export async function startProxy(
  target: string,
  random: () => number,
  rates: FaultRates,
  opts: { onDuplicate?: (opId: number) => void; kind: 'samsa' | 'storage' },
): Promise<ProxyHandle> {
  const to = new URL(target);
  const counts: Record<string, number> = {};
  const bump = (k: string): void => void (counts[k] = (counts[k] ?? 0) + 1);
  const handle: ProxyHandle = { url: '', rates, enabled: true, counts, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const r = handle.enabled ? handle.rates : {};
        const roll = random();
        let acc = 0;
        const hit = (p: number | undefined): boolean => {
          acc += p ?? 0;
          return roll < acc;
        };
        try {
          if (hit(r.errorBefore)) {
            bump('error-before');
            sendError(res, req);
            return;
          }
          if (hit(r.throttle)) {
            bump('throttle');
            sendThrottle(res, req);
            return;
          }
          // Its own roll: a delay combines with any other fault (or none).
          if (random() < (r.delay ?? 0)) {
            bump('delay');
            const [lo, hi] = r.delayMs ?? [500, 3000];
            await new Promise((s) => setTimeout(s, lo + random() * (hi - lo)));
          }
          if (hit(r.duplicate)) {
            bump('duplicate');
            await forward(to, req, body).catch(() => undefined);
            const op = Number(req.headers['x-history-op']);
            if (Number.isFinite(op)) opts.onDuplicate?.(op);
            reply(req, res, await forward(to, req, body));
            return;
          }
          const up = await forward(to, req, body);
          if (hit(r.dropResponse)) {
            bump('drop-response');
            req.socket.destroy();
            return;
          }
          bump('pass');
          reply(req, res, up);
        } catch {
          bump('upstream-error');
          req.socket.destroy();
        }
      })();
    });
  });
  // Long polls and paused servers: never time a proxied request out here; clients do.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  handle.url = `http://127.0.0.1:${port}`;
  handle.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return handle;
}

function reply(req: http.IncomingMessage, res: http.ServerResponse, up: Upstream): void {
  const headers = { ...up.headers };
  delete headers['transfer-encoding'];
  delete headers['connection'];
  delete headers['keep-alive'];
  // A HEAD response has no body but says the object's size in Content-Length (S3's HeadObject:
  // the SDK's ContentLength): keep the upstream's. Rewriting it to 0 made every object look
  // empty to the S3 adapter's HEADs (compose's source check, write()'s leftover checks).
  if (req.method !== 'HEAD') headers['content-length'] = String(up.body.length);
  res.writeHead(up.status, headers);
  res.end(up.body);
}

/** A 500 as S3 (XML) or DynamoDB (JSON, recognised by its x-amz-target header) would send it. */
function sendError(res: http.ServerResponse, req: http.IncomingMessage): void {
  sendServiceError(res, req, { status: 500, type: 'InternalServerError', message: 'injected by the history proxy' }, { status: 500, code: 'InternalError', message: 'injected by the history proxy' });
}

/** A throttle as DynamoDB (400 ProvisionedThroughputExceededException) or S3 (503 SlowDown) sends it. */
function sendThrottle(res: http.ServerResponse, req: http.IncomingMessage): void {
  sendServiceError(
    res,
    req,
    { status: 400, type: 'ProvisionedThroughputExceededException', message: 'The level of configured provisioned throughput for the table was exceeded (injected by the history proxy)' },
    { status: 503, code: 'SlowDown', message: 'Please reduce your request rate. (injected by the history proxy)' },
  );
}

/** An error in the shape of the service the request was for: DynamoDB (x-amz-target, JSON) or S3 (XML). */
function sendServiceError(res: http.ServerResponse, req: http.IncomingMessage, ddb: { status: number; type: string; message: string }, s3: { status: number; code: string; message: string }): void {
  const [status, type, body] = req.headers['x-amz-target']
    ? [ddb.status, 'application/x-amz-json-1.0', JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${ddb.type}`, message: ddb.message })]
    : [s3.status, 'application/xml', `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${s3.code}</Code><Message>${s3.message}</Message></Error>`];
  res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
