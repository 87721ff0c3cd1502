// The synthesized Lambda bundles from cdk.out, loaded in-process (as Lambda's Node runtime
// would: native ESM import, top-level await init) with the emulator endpoint, and driven by
// Function URL / API Gateway v2 events and EventBridge scheduled events. The environment is
// the one the template gives each function, with the construct's Refs replaced by the test's
// bucket, table and a fake Lambda endpoint that records the flush hand-offs.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { awsEndpoint, describeAws, makeDynamoStore, makeS3Store, TEST_REGION, type DynamoFixture, type S3Fixture } from '../helpers/aws';
import { codecsReady, encodeRecordBatch, splitBatches } from '../../lib/records';
import { v2Event } from '../helpers/lambda';
import { ensureSynth, functionBundle } from './synth';

type Handler = (event: unknown, context?: unknown) => Promise<Record<string, unknown>>;
interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

// cdk.out is externalized in vitest.config.ts: Node loads the bundle itself, untransformed,
// as Lambda's runtime does.
const nativeImport = (url: string) => import(/* @vite-ignore */ url) as Promise<Record<string, unknown>>;

interface Invoke {
  path: string;
  invocationType: string | undefined;
  payload: Record<string, unknown>;
}

const PSEUDO: Record<string, string> = { Partition: 'aws', AccountId: '123456789012', Region: TEST_REGION };
const isSub = (v: unknown): v is { 'Fn::Sub': string } => typeof (v as { 'Fn::Sub'?: unknown } | null)?.['Fn::Sub'] === 'string';
/** What the construct makes the super user by default: the bootstrap's deploy role, here in a session. */
const DEPLOYER_SESSION = 'arn:aws:sts::123456789012:assumed-role/cdk-hnb659fds-deploy-role-123456789012-us-east-1/deployer';

/**
 * What Lambda's Node runtime gives a RESPONSE_STREAM function, as the runtime does it:
 * `streamifyResponse` marks the handler (the runtime then calls it with a response stream
 * instead of waiting for a return value), and `HttpResponseStream.from` sets the stream's
 * content type to the HTTP integration type and writes the status and headers as a JSON prelude
 * followed by 8 NUL bytes ahead of the body, which the Function URL turns back into an HTTP
 * response.
 */
const PRELUDE_TYPE = 'application/vnd.awslambda.http-integration-response';
class StubResponseStream extends Writable {
  contentType = 'application/octet-stream';
  readonly chunks: Buffer[] = [];
  private waiters: Array<() => void> = [];
  setContentType(type: string): void {
    this.contentType = type;
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    for (const w of this.waiters.splice(0)) w();
    cb();
  }
  override _final(cb: () => void): void {
    for (const w of this.waiters.splice(0)) w();
    cb();
  }
  /** Resolves at the next write or the end. */
  changed(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}
function installAwsLambdaStub(): void {
  (globalThis as Record<string, unknown>)['awslambda'] = {
    streamifyResponse: (fn: (...args: unknown[]) => unknown) => Object.assign(fn, { [Symbol.for('aws.lambda.runtime.handler.streaming')]: 'response' }),
    HttpResponseStream: {
      from(stream: StubResponseStream, prelude: Record<string, unknown>): StubResponseStream {
        stream.setContentType(PRELUDE_TYPE);
        stream.write(JSON.stringify(prelude));
        stream.write(new Uint8Array(8));
        return stream;
      },
    },
  };
}

/** A response stream whose first body write (the one after the prelude's two) is held until `release()`: Lambda not taking bytes. */
class HeldResponseStream extends StubResponseStream {
  private held?: () => void;
  private readonly gate = new Promise<void>((r) => (this.held = r));
  private writes = 0;
  /** Resolves when the held write arrives. */
  readonly reached: Promise<void>;
  private arrived!: () => void;
  constructor() {
    super();
    this.reached = new Promise((r) => (this.arrived = r));
  }
  release(): void {
    this.held!();
  }
  override _write(chunk: Buffer | string, enc: BufferEncoding, cb: () => void): void {
    if (++this.writes !== 3) return super._write(chunk, enc, cb);
    this.arrived();
    void this.gate.then(() => super._write(chunk, enc, cb));
  }
}

/** A streamed invocation as the Function URL sees it: prelude (status, headers), then body bytes as they come. */
class StreamedInvocation {
  readonly done: Promise<unknown>;
  constructor(handler: Handler, event: unknown, remainingMs: number, readonly stream = new StubResponseStream()) {
    const deadline = Date.now() + remainingMs;
    this.done = (handler as unknown as (e: unknown, s: unknown, c: unknown) => Promise<unknown>)(event, this.stream, {
      awsRequestId: randomUUID(),
      functionName: 'Samsa-Api',
      getRemainingTimeInMillis: () => deadline - Date.now(),
    });
  }
  private split(): { prelude?: { statusCode: number; headers: Record<string, string> }; body: Buffer } {
    const all = Buffer.concat(this.stream.chunks);
    const cut = all.indexOf(Buffer.alloc(8));
    if (cut < 0) return { body: Buffer.alloc(0) };
    return { prelude: JSON.parse(all.subarray(0, cut).toString('utf8')) as { statusCode: number; headers: Record<string, string> }, body: all.subarray(cut + 8) };
  }
  async result(): Promise<{ statusCode: number; headers: Record<string, string>; body: Buffer }> {
    await this.done;
    expect(this.stream.contentType).toBe(PRELUDE_TYPE);
    expect(this.stream.writableEnded).toBe(true);
    const { prelude, body } = this.split();
    return { statusCode: prelude!.statusCode, headers: prelude!.headers, body };
  }
  /** Waits until the body so far satisfies `until` (or the invocation ends), and returns it as text. */
  async bodyUntil(until: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    let ended = false;
    void this.done.then(() => (ended = true));
    for (;;) {
      const text = this.split().body.toString('utf8');
      if (until(text) || ended) return text;
      if (Date.now() > end) throw new Error(`timed out; body so far: ${text.slice(0, 500)}`);
      await Promise.race([this.stream.changed(), new Promise((r) => setTimeout(r, 100))]);
    }
  }
}

/** `records` events of an SSE body: [id, record values]. */
function sseRecords(text: string): Array<{ id: number; values: unknown[] }> {
  return text
    .split('\n\n')
    .filter((block) => /^event: records$/m.test(block))
    .map((block) => ({
      id: Number(/^id: (\d+)$/m.exec(block)![1]),
      values: (JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { records: Array<{ value: unknown }> }).records.map((r) => r.value),
    }));
}

describeAws('Lambda bundles from cdk.out, in-process against the emulator', () => {
  let s3: S3Fixture;
  let ddb: DynamoFixture;
  let fakeLambda: http.Server;
  const invokes: Invoke[] = [];
  const savedEnv = { ...process.env };
  /** The buffered handler (`handler`, SAMSA_INVOKE_MODE=BUFFERED: API Gateway, or a buffered Function URL). */
  let api: Handler;
  /** The handler the template deploys: RESPONSE_STREAM's `streamHandler`. */
  let streamApi: Handler;
  const FLUSH_FUNCTION = 'samsa-test-flush';
  const RETENTION_FUNCTION = 'samsa-test-retention';
  const topic = `orders-${randomUUID().slice(0, 8)}`;

  async function load(name: 'api' | 'flush' | 'retention', variant?: { invokeMode: 'BUFFERED'; handler: 'handler' }): Promise<Handler> {
    const b = functionBundle(name);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(b.environment)) {
      if (typeof v === 'string') env[k] = v;
      else if (k === 'SAMSA_BUCKET') env[k] = s3.bucket;
      else if (k === 'SAMSA_TABLE') env[k] = ddb.table;
      else if (k === 'SAMSA_FLUSH_FUNCTION') env[k] = FLUSH_FUNCTION;
      else if (k === 'SAMSA_RETENTION_FUNCTION') env[k] = RETENTION_FUNCTION;
      else if (isSub(v)) env[k] = v['Fn::Sub'].replace(/\$\{AWS::(Partition|AccountId|Region)\}/g, (_, x: string) => PSEUDO[x]!);
      else throw new Error(`${b.logicalId}: no test value for ${k}=${JSON.stringify(v)}`);
    }
    expect(env).toMatchObject({ SAMSA_STORAGE: 'aws', SAMSA_BUCKET: s3.bucket, SAMSA_TABLE: ddb.table });
    Object.assign(process.env, env);
    if (name === 'api') {
      // Hand off at once and for any amount: the deployed window (5 s, 32 MiB) is asserted in stack.test.ts.
      process.env.SAMSA_FLUSH_TRIGGER_WINDOW_MS = '0';
      process.env.SAMSA_FLUSH_TRIGGER_BYTES = '1';
    }
    if (variant) process.env.SAMSA_INVOKE_MODE = variant.invokeMode;
    // Another instance of the same bundle (as another deployment would run it): a module per URL.
    const mod = await nativeImport(`${pathToFileURL(b.file).href}${variant ? `?mode=${variant.invokeMode}` : ''}`);
    const handler = variant?.handler ?? b.handler;
    expect(typeof mod[handler]).toBe('function');
    return mod[handler] as Handler;
  }

  beforeAll(async () => {
    ensureSynth();
    [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    fakeLambda = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        invokes.push({
          path: req.url ?? '',
          invocationType: req.headers['x-amz-invocation-type'] as string | undefined,
          payload: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>,
        });
        res.writeHead(202, { 'content-type': 'application/json' }).end();
      });
    });
    await new Promise<void>((r) => fakeLambda.listen(0, '127.0.0.1', r));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: awsEndpoint(),
      AWS_ENDPOINT_URL_LAMBDA: `http://127.0.0.1:${(fakeLambda.address() as AddressInfo).port}`,
      AWS_REGION: TEST_REGION,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_MAX_ATTEMPTS: '2',
    });
    delete process.env.AWS_PROFILE;
    await codecsReady();
    // Lambda's runtime provides `awslambda` before the bundle loads; the streaming handler is built at init.
    installAwsLambdaStub();
    expect(functionBundle('api')).toMatchObject({ handler: 'streamHandler', environment: expect.objectContaining({ SAMSA_INVOKE_MODE: 'RESPONSE_STREAM', SAMSA_FUNCTION_TIMEOUT_MS: '70000' }) });
    streamApi = await load('api');
    api = await load('api', { invokeMode: 'BUFFERED', handler: 'handler' });
    // Authorization is on by default: the deployer grants the callers of the tests below
    // everything, as an operator would grant a team its topics.
    for (const principal of ['User:arn:aws:iam::123456789012:user/producer', 'User:user-1']) {
      for (const resource_type of ['topic', 'group', 'cluster'] as const) {
        const acl = { principal, resource_type, operation: 'all', ...(resource_type === 'cluster' ? {} : { resource_name: '*' }) };
        const res = await call(urlEvent('POST', '/v1/acls', acl, {}, DEPLOYER_SESSION));
        expect(res.statusCode, res.body).toBe(201);
      }
    }
  }, 300_000);

  afterAll(async () => {
    process.env = savedEnv;
    delete (globalThis as Record<string, unknown>)['awslambda'];
    await new Promise((r) => fakeLambda?.close(r));
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });

  /** A Lambda Function URL event (payload format 2.0) for a SigV4-authenticated caller. */
  function urlEvent(method: string, target: string, body?: unknown, headers: Record<string, string> = {}, userArn = 'arn:aws:iam::123456789012:user/producer') {
    const [rawPath, rawQueryString = ''] = target.split('?') as [string, string?];
    const isBuffer = body instanceof Uint8Array;
    const e = v2Event(method, rawPath, {
      query: rawQueryString,
      headers: { ...(body !== undefined && !isBuffer ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body === undefined ? {} : { body: isBuffer || typeof body === 'string' ? body : JSON.stringify(body) }),
      authorizer: { iam: { accessKey: 'AKIATEST', accountId: '123456789012', callerId: 'AIDATEST', userArn, userId: 'AIDATEST' } },
    }) as { headers: Record<string, string>; requestContext: Record<string, unknown> } & Record<string, unknown>;
    return rawQueryString ? { ...e, queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) } : e;
  }

  /** The same request as API Gateway's HTTP API delivers it behind the JWT authorizer. */
  function httpApiEvent(method: string, target: string, body?: unknown, headers: Record<string, string> = {}) {
    const e = urlEvent(method, target, body, headers);
    return {
      ...e,
      headers: { ...e.headers, host: 'abc123.execute-api.us-east-1.amazonaws.com', authorization: 'Bearer eyJ...' },
      requestContext: {
        ...e.requestContext,
        apiId: 'abc123',
        domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
        authorizer: { jwt: { claims: { sub: 'user-1', aud: 'samsa-clients' }, scopes: null } },
      },
    };
  }

  const scheduledEvent = () => ({
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: TEST_REGION,
    resources: ['arn:aws:events:us-east-1:123456789012:rule/Samsa-SamsaFlushSchedule'],
    detail: {},
  });

  async function call(event: unknown): Promise<HttpResult & { json: Record<string, unknown> }> {
    const res = (await api(event, { awsRequestId: randomUUID(), functionName: 'Samsa-Api' })) as unknown as HttpResult;
    const json = !res.isBase64Encoded && res.body && /json/.test(res.headers['content-type'] ?? '') ? (JSON.parse(res.body) as Record<string, unknown>) : {};
    return { ...res, json };
  }

  it('API bundle: topic creation, produce, fetch and 400s from Function URL events', async () => {
    expect((await call(urlEvent('GET', '/healthz'))).json).toEqual({ status: 'ok' });

    const created = await call(urlEvent('POST', '/v1/topics', { name: topic, partitions: 2 }));
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json).toMatchObject({ name: topic, partitions: 2 });

    const produced = await call(
      urlEvent('POST', `/v1/topics/${topic}/records`, {
        records: [
          { key: 'customer-42', value: { total: 9.5 }, partition: 0 },
          { key: 'customer-43', value: { total: 1 }, partition: 0, headers: [{ key: 'source', value: 'test' }] },
        ],
      }),
    );
    expect(produced.statusCode, produced.body).toBe(200);
    expect((produced.json['offsets'] as { partition: number; offset: number }[]).map((o) => [o.partition, o.offset])).toEqual([
      [0, 0],
      [0, 1],
    ]);

    const fetched = await call(urlEvent('GET', `/v1/topics/${topic}/partitions/0/records?offset=0&max_records=10`));
    expect(fetched.statusCode, fetched.body).toBe(200);
    expect(fetched.json).toMatchObject({ next_offset: 2, high_watermark: 2, log_start_offset: 0 });
    expect((fetched.json['records'] as { key: string; value: unknown }[]).map((r) => [r.key, r.value])).toEqual([
      ['customer-42', { total: 9.5 }],
      ['customer-43', { total: 1 }],
    ]);

    const badName = await call(urlEvent('POST', '/v1/topics', { name: 'no/slashes', partitions: 1 }));
    expect(badName.statusCode).toBe(400);
    expect(badName.json['error_code']).toBe('INVALID_TOPIC_EXCEPTION');
    const badJson = await call(urlEvent('POST', '/v1/topics', '{"name":'));
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json['error_code']).toBe('INVALID_REQUEST');
    const badPartitions = await call(urlEvent('POST', '/v1/topics', { name: 'fine', partitions: 0 }));
    expect(badPartitions.statusCode).toBe(400);
    expect(badPartitions.json['error_code']).toBe('INVALID_PARTITIONS');
    const outOfRange = await call(urlEvent('GET', `/v1/topics/${topic}/partitions/0/records?offset=99`));
    expect(outOfRange.statusCode).toBe(416);
    expect((await call(urlEvent('GET', '/v1/topics/nope/partitions/0/records?offset=0'))).statusCode).toBe(404);
  });

  it('API bundle: API Gateway v2 (JWT) events, and Kafka record batches travel base64 both ways', async () => {
    const batches = await call(httpApiEvent('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`, undefined, { accept: 'application/vnd.kafka.record-batch' }));
    expect(batches.statusCode).toBe(200);
    expect(batches.isBase64Encoded).toBe(true);
    expect(batches.headers).toMatchObject({ 'content-type': 'application/vnd.kafka.record-batch', 'x-high-watermark': '2', 'x-next-offset': '2' });
    const bytes = Buffer.from(batches.body, 'base64');
    expect(bytes.readBigInt64BE(0)).toBe(0n); // base offset of the first batch
    expect(bytes.readInt8(16)).toBe(2); // magic

    // The stored bytes go back in as a binary produce to partition 1: the server re-bases them.
    const reproduced = await call(httpApiEvent('POST', `/v1/topics/${topic}/partitions/1/records`, new Uint8Array(bytes), { 'content-type': 'application/vnd.kafka.record-batch' }));
    expect(reproduced.statusCode, reproduced.body).toBe(200);
    expect(reproduced.json).toMatchObject({ partition: 1, base_offset: 0, last_offset: 1 });
    const listed = await call(httpApiEvent('GET', '/v1/topics'));
    expect(listed.json['topics']).toEqual(expect.arrayContaining([{ name: topic, partitions: 2 }]));
  });

  it('API bundle: consumer-group routes are mounted (join, poll, describe)', async () => {
    const joined = await call(urlEvent('POST', '/v1/groups/billing/members', { topics: [topic] }));
    expect(joined.statusCode, joined.body).toBe(200);
    const member = joined.json['member_id'] as string;
    expect(joined.json['assignment']).toEqual(expect.arrayContaining([{ topic, partition: 0 }]));
    const polled = await call(urlEvent('GET', `/v1/groups/billing/members/${member}/records?max_records=10`));
    expect(polled.statusCode, polled.body).toBe(200);
    expect((polled.json['records'] as unknown[]).length).toBeGreaterThan(0);
    expect((await call(urlEvent('DELETE', `/v1/groups/billing/members/${member}`))).statusCode).toBe(204);
  });

  it('API bundle: ACLs per IAM identity — a role session gets what its role was granted, another caller nothing', async () => {
    const ANALYST = 'arn:aws:sts::123456789012:assumed-role/Analytics/alice';
    const INTRUDER = 'arn:aws:iam::123456789012:user/intruder';
    const grant = await call(
      urlEvent('POST', '/v1/acls', { principal: 'User:arn:aws:iam::123456789012:role/Analytics', resource_type: 'topic', pattern_type: 'prefixed', resource_name: 'orders-', operation: 'read' }, {}, DEPLOYER_SESSION),
    );
    expect(grant.statusCode, grant.body).toBe(201);
    const as = (arn: string, method: string, target: string, body?: unknown) => call(urlEvent(method, target, body, {}, arn));

    const read = await as(ANALYST, 'GET', `/v1/topics/${topic}/partitions/0/records?offset=0`);
    expect(read.statusCode, read.body).toBe(200);
    expect((read.json['records'] as unknown[]).length).toBe(2);
    expect((await as(ANALYST, 'GET', '/v1/topics')).json['topics']).toEqual([{ name: topic, partitions: 2 }]);
    const write = await as(ANALYST, 'POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }] });
    expect([write.statusCode, write.json['error_code']]).toEqual([403, 'TOPIC_AUTHORIZATION_FAILED']);
    expect((await as(ANALYST, 'POST', '/v1/acls', { principal: 'User:x', resource_type: 'topic', resource_name: '*', operation: 'all' })).json['error_code']).toBe('CLUSTER_AUTHORIZATION_FAILED');

    for (const [method, target] of [['GET', `/v1/topics/${topic}/partitions/0/records?offset=0`], ['DELETE', `/v1/topics/${topic}`], ['GET', `/v1/topics/${topic}`], ['GET', '/v1/topics/no-such-topic']] as const) {
      const r = await as(INTRUDER, method, target);
      expect([r.statusCode, r.json['error_code']]).toEqual([403, 'TOPIC_AUTHORIZATION_FAILED']);
    }
    expect((await as(INTRUDER, 'GET', '/v1/topics')).json['topics']).toEqual([]);
    // Still there, untouched by the refused delete.
    expect((await as(ANALYST, 'GET', `/v1/topics/${topic}`)).statusCode).toBe(200);
    // A Function URL without IAM context (AuthType NONE) is refused outright.
    const anonymous = urlEvent('GET', '/v1/topics');
    delete (anonymous.requestContext as { authorizer?: unknown }).authorizer;
    expect((await call(anonymous)).statusCode).toBe(401);
  });

  it('API bundle: busy partitions are handed to the flush function by an async invoke', async () => {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !invokes.some((i) => i.payload['partition'] === 1)) await new Promise((r) => setTimeout(r, 50));
    expect(invokes.length).toBeGreaterThan(0);
    for (const i of invokes) {
      expect(i.path).toBe(`/2015-03-31/functions/${FLUSH_FUNCTION}/invocations`);
      expect(i.invocationType).toBe('Event');
      expect(i.payload).toMatchObject({ samsa: 'flush', topic, topic_id: expect.any(String) });
    }
    expect(new Set(invokes.map((i) => i.payload['partition']))).toEqual(new Set([0, 1]));
  });

  it('flush bundle: the hand-off event and the scheduled event flush into Kafka segment objects, and report the lag as EMF', async () => {
    const flush = await load('flush');
    const handoff = invokes.find((i) => i.payload['partition'] === 0)!.payload;
    const one = await flush(handoff);
    expect(one).toMatchObject({ job: 'flush', topic, partition: 0 });
    expect(await flush({ ...handoff, topic_id: 'someone-else' })).toMatchObject({ skipped: expect.stringContaining('no longer exists') });

    const written: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      written.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof process.stdout.write;
    let report: Record<string, unknown>;
    try {
      report = await flush(scheduledEvent());
    } finally {
      process.stdout.write = write;
    }
    expect(report).toMatchObject({ job: 'flush', unflushedRecords: 0, maxUnflushedRecords: 0 });
    const emf = written.map((l) => l.trim()).filter((l) => l.startsWith('{"_aws"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      // Per table, and without dimensions for the consumer-lag alarm.
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'Samsa',
            Dimensions: [['Table'], []],
            Metrics: expect.arrayContaining([
              { Name: 'UnflushedRecords', Unit: 'Count' },
              { Name: 'samsa_oldest_unconsumed_age_seconds', Unit: 'Seconds' },
            ]),
          },
        ],
      },
      Table: ddb.table,
      UnflushedRecords: 0,
      samsa_oldest_unconsumed_age_seconds: expect.any(Number),
    });

    const id = (await call(urlEvent('GET', `/v1/topics/${topic}`))).json['topic_id'];
    const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `topics/${topic}/` }));
    const keys = (objects.Contents ?? []).map((o) => o.Key);
    expect(keys).toEqual(expect.arrayContaining([`topics/${topic}/${id}/0/00000000000000000000.log`, `topics/${topic}/${id}/1/00000000000000000000.log`]));

    // Reads now come from the segments.
    const fetched = await call(urlEvent('GET', `/v1/topics/${topic}/partitions/1/records?offset=0`));
    expect((fetched.json['records'] as { key: string }[]).map((r) => r.key)).toEqual(['customer-42', 'customer-43']);
  });

  it('retention bundle: a topic deletion the API hands it is removed within the deletion grace, under the name created again at once; a scheduled event runs a pass without error', async () => {
    const before = invokes.length;
    expect((await call(urlEvent('DELETE', `/v1/topics/${topic}`))).statusCode).toBe(204);
    // Handed off before DELETE answered (Lambda freezes the API after it), as an async invoke.
    const handoffs = invokes.slice(before);
    expect(handoffs).toHaveLength(1);
    expect(handoffs[0]).toMatchObject({ path: `/2015-03-31/functions/${RETENTION_FUNCTION}/invocations`, invocationType: 'Event', payload: { samsa: 'topic-deleted', topic, topic_id: expect.any(String), deleted_at: expect.any(Number) } });
    // The name is free at once, as in KRaft Kafka: the new topic is empty.
    const again = await call(urlEvent('POST', '/v1/topics', { name: topic, partitions: 1 }));
    expect(again.statusCode, again.body).toBe(201);
    expect(((await call(urlEvent('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`))).json['records'] as unknown[])).toEqual([]);
    const retention = await load('retention');
    // The retention function, given the hand-off, waits out the grace and removes the old data.
    const t0 = Date.now();
    expect(await retention(handoffs[0]!.payload, { getRemainingTimeInMillis: () => 300_000 })).toMatchObject({ job: 'retention', deletion: topic, deletedTopics: 1 });
    expect(Date.now() - t0).toBeLessThan(15_000);
    const oldId = handoffs[0]!.payload['topic_id'] as string;
    expect((await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `topics/${topic}/${oldId}/` }))).KeyCount ?? 0).toBe(0);
    expect((await call(urlEvent('DELETE', `/v1/topics/${topic}`))).statusCode).toBe(204);
    const report = await retention(scheduledEvent());
    expect(report).toMatchObject({ job: 'retention' });
    expect(await retention(scheduledEvent())).toMatchObject({ job: 'retention' });
  });
  it('API bundle at the limits: a 5 MB binary produce is 413 in either mode; a 64 MiB fetch is clamped to what the buffered response carries', async () => {
    const big = `limits-${topic}`;
    expect((await call(urlEvent('POST', '/v1/topics', { name: big, partitions: 1 }))).statusCode).toBe(201);
    // 5 MB of batch bytes travel as ~6.7 MB of base64: more than Lambda's 6 MB event.
    const tooBig = new Uint8Array(5 * 1000 * 1000);
    for (const invoke of [call, async (e: unknown) => (await new StreamedInvocation(streamApi, e, 60_000).result())] as const) {
      const res = await invoke(urlEvent('POST', `/v1/topics/${big}/partitions/0/records`, tooBig, { 'content-type': 'application/vnd.kafka.record-batch' }));
      expect(res.statusCode).toBe(413);
      const body = JSON.parse(Buffer.isBuffer(res.body) ? res.body.toString('utf8') : res.body) as Record<string, unknown>;
      expect(body).toMatchObject({ error_code: 'RECORD_TOO_LARGE', max_request_bytes: expect.any(Number), message: expect.stringMatching(/exceeds the \d+-byte limit of this deployment/) });
      expect(body['max_request_bytes']).toBeLessThan(4.7e6);
    }
    // 10 batches of 600 KiB (6.1 MB): each fits a request, all together no buffered response.
    for (let i = 0; i < 10; i++) {
      const one = encodeRecordBatch([{ key: null, value: new Uint8Array(600 * 1024).fill(i + 1), headers: [] }]);
      const res = await call(urlEvent('POST', `/v1/topics/${big}/partitions/0/records`, one, { 'content-type': 'application/vnd.kafka.record-batch' }));
      expect(res.statusCode, res.body).toBe(200);
    }
    const buffered = await call(urlEvent('GET', `/v1/topics/${big}/partitions/0/records?offset=0&max_bytes=${64 * 1024 * 1024}`, undefined, { accept: 'application/vnd.kafka.record-batch' }));
    expect(buffered.statusCode).toBe(200);
    expect(buffered.isBase64Encoded).toBe(true);
    // The whole result, base64 body included, fits Lambda's 6 MB response.
    expect(JSON.stringify({ ...buffered, json: undefined }).length).toBeLessThan(6 * 1024 * 1024);
    expect(buffered.headers['x-samsa-clamped']).toMatch(/^max_bytes=\d+; runtime=function-url-buffered$/);
    const got = splitBatches(new Uint8Array(Buffer.from(buffered.body, 'base64')));
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(10);
    expect(buffered.headers['x-next-offset']).toBe(String(got.length));

    // Streamed, the same fetch carries all 6.1 MB, raw (no base64), unclamped.
    const streamed = await new StreamedInvocation(streamApi, urlEvent('GET', `/v1/topics/${big}/partitions/0/records?offset=0&max_bytes=${64 * 1024 * 1024}`, undefined, { accept: 'application/vnd.kafka.record-batch' }), 60_000).result();
    expect(streamed.statusCode).toBe(200);
    expect(streamed.headers['content-type']).toBe('application/vnd.kafka.record-batch');
    expect(streamed.headers['x-samsa-clamped']).toBeUndefined();
    expect(streamed.headers['x-next-offset']).toBe('10');
    expect(splitBatches(new Uint8Array(streamed.body)).map((b) => Number(b.header.baseOffset))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // A JSON fetch over the buffered handler is answered in its response limit too.
    const json = await call(urlEvent('GET', `/v1/topics/${big}/partitions/0/records?offset=0&max_bytes=${64 * 1024 * 1024}&value_format=base64`));
    expect(json.statusCode).toBe(200);
    // What Lambda returns is the result object without the test's parsed copy.
    expect(JSON.stringify({ ...json, json: undefined }).length).toBeLessThan(6 * 1024 * 1024);
    expect(json.json['clamped']).toMatchObject({ runtime: 'function-url-buffered' });
    // A live tail needs the streaming handler: the buffered one says so.
    const refused = await call(urlEvent('GET', `/v1/topics/${big}/partitions/0/records?offset=0&follow=true`, undefined, { accept: 'text/event-stream' }));
    expect([refused.statusCode, refused.json['error_code']]).toEqual([400, 'INVALID_REQUEST']);
  });

  it('API bundle, streamed: a binary fetch leaves in chunks as it is read, and a failure after the headers fails the invocation instead of ending the body short', async () => {
    const cut = `cut-${topic}`;
    expect((await call(urlEvent('POST', '/v1/topics', { name: cut, partitions: 1 }))).statusCode).toBe(201);
    const walKeys = async () => new Set(((await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'wal/' }))).Contents ?? []).map((o) => o.Key!));
    const before = await walKeys();
    // Eight write-ahead objects of ~1.5 MiB each: 12 MiB, more than a stream chunk many times over.
    for (let i = 0; i < 8; i++) {
      const batches = Buffer.concat([0, 1, 2].map((j) => encodeRecordBatch([{ key: null, value: new Uint8Array(500 * 1024).fill(i * 3 + j + 1), headers: [] }])));
      expect((await call(urlEvent('POST', `/v1/topics/${cut}/partitions/0/records`, batches, { 'content-type': 'application/vnd.kafka.record-batch' }))).statusCode).toBe(200);
    }
    const target = `/v1/topics/${cut}/partitions/0/records?offset=0&max_bytes=${64 * 1024 * 1024}`;
    const accept = { accept: 'application/vnd.kafka.record-batch' };
    const whole = new StreamedInvocation(streamApi, urlEvent('GET', target, undefined, accept), 60_000);
    const ok = await whole.result();
    expect(ok.statusCode).toBe(200);
    // Clamped at the 6 MB Lambda streams at full speed (docs/limits.md): about half of the 12 MiB.
    const next = Number(ok.headers['x-next-offset']);
    expect(next).toBeGreaterThan(8);
    expect(next).toBeLessThan(24);
    expect(ok.headers['x-samsa-clamped']).toMatch(/runtime=function-url-streaming/);
    expect(ok.body.length).toBeLessThanOrEqual(6 * 1024 * 1024);
    // Chunked through the Function URL: no Content-Length beside it.
    expect(ok.headers['content-length']).toBeUndefined();
    expect(splitBatches(new Uint8Array(ok.body)).map((b) => Number(b.header.baseOffset))).toEqual(Array.from({ length: next }, (_, i) => i));
    // Written as read: many writes, none larger than a stream chunk (1 MiB), after the prelude's two.
    const bodyWrites = whole.stream.chunks.slice(2).map((c) => c.length);
    expect(bodyWrites.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...bodyWrites)).toBeLessThanOrEqual(1024 * 1024);

    // Now the write-ahead objects vanish while Lambda holds the first body chunk: the rest
    // cannot be read, and the response must not end as if it were whole.
    const held = new HeldResponseStream();
    const broken = new StreamedInvocation(streamApi, urlEvent('GET', target, undefined, accept), 60_000, held);
    await held.reached;
    const gone = [...(await walKeys())].filter((k) => !before.has(k));
    expect(gone.length).toBe(8);
    for (const key of gone) await s3.store.delete([key]);
    held.release();
    await expect(broken.done).rejects.toThrow();
    expect(held.destroyed).toBe(true);
    const all = Buffer.concat(held.chunks);
    const cutAt = all.indexOf(Buffer.alloc(8));
    const prelude = JSON.parse(all.subarray(0, cutAt).toString('utf8')) as { statusCode: number; headers: Record<string, string> };
    expect(prelude.statusCode).toBe(200);
    const body = all.subarray(cutAt + 8);
    expect(body.length).toBeLessThan(ok.body.length);
    expect(body.includes('Internal Server Error')).toBe(false);
  });

  it('API bundle, streamed: an SSE tail delivers records produced after it opened, ends before the time left runs out, and resumes from Last-Event-ID', async () => {
    const live = `live-${topic}`;
    expect((await call(urlEvent('POST', '/v1/topics', { name: live, partitions: 1 }))).statusCode).toBe(201);
    const sse = { accept: 'text/event-stream' };
    // 9 s left in the invocation: the session ends ~5 s before, so about 4 s.
    const started = Date.now();
    const tail = new StreamedInvocation(streamApi, urlEvent('GET', `/v1/topics/${live}/partitions/0/records?offset=0&follow=true`, undefined, sse), 9000);
    await tail.bodyUntil((t) => t.includes(': waiting'));
    const produce = async (values: number[]) =>
      expect((await call(urlEvent('POST', `/v1/topics/${live}/records`, { records: values.map((v) => ({ value: v, partition: 0 })) }))).statusCode).toBe(200);
    await produce([1, 2]);
    const first = await tail.bodyUntil((t) => sseRecords(t).flatMap((e) => e.values).length >= 2);
    expect(sseRecords(first).flatMap((e) => e.values)).toEqual([1, 2]);
    expect(sseRecords(first).at(-1)!.id).toBe(2);
    const head = await tail.result();
    const took = Date.now() - started;
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
    const text = head.body.toString('utf8');
    expect(text).toMatch(/event: end\ndata: [^\n]*\nid: 2\n/);
    expect(took).toBeGreaterThan(3000);
    expect(took).toBeLessThan(9000);

    // Records produced while no tail was open arrive on the reconnect from Last-Event-ID.
    await produce([3]);
    const again = new StreamedInvocation(streamApi, urlEvent('GET', `/v1/topics/${live}/partitions/0/records?offset=0&follow=true`, undefined, { ...sse, 'last-event-id': '2' }), 7000);
    const resumed = await again.bodyUntil((t) => sseRecords(t).length > 0);
    expect(sseRecords(resumed)).toEqual([{ id: 3, values: [3] }]);
    await produce([4]);
    expect(sseRecords(await again.bodyUntil((t) => sseRecords(t).length > 1)).flatMap((e) => e.values)).toEqual([3, 4]);
    await again.result();
  }, 60_000);
});
