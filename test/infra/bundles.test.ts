// The synthesized Lambda bundles from cdk.out, loaded in-process (as Lambda's Node runtime
// would: native ESM import, top-level await init) with the emulator endpoint, and driven by
// Function URL / API Gateway v2 events and EventBridge scheduled events. The environment is
// the one the template gives each function, with the construct's Refs replaced by the test's
// bucket, table and a fake Lambda endpoint that records the flush hand-offs.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { awsEndpoint, describeAws, makeDynamoStore, makeS3Store, TEST_REGION, type DynamoFixture, type S3Fixture } from '../helpers/aws';
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

describeAws('Lambda bundles from cdk.out, in-process against the emulator', () => {
  let s3: S3Fixture;
  let ddb: DynamoFixture;
  let fakeLambda: http.Server;
  const invokes: Invoke[] = [];
  const savedEnv = { ...process.env };
  let api: Handler;
  const FLUSH_FUNCTION = 'samsa-test-flush';
  const topic = `orders-${randomUUID().slice(0, 8)}`;

  async function load(name: 'api' | 'flush' | 'retention'): Promise<Handler> {
    const b = functionBundle(name);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(b.environment)) {
      if (typeof v === 'string') env[k] = v;
      else if (k === 'SAMSA_BUCKET') env[k] = s3.bucket;
      else if (k === 'SAMSA_TABLE') env[k] = ddb.table;
      else if (k === 'SAMSA_FLUSH_FUNCTION') env[k] = FLUSH_FUNCTION;
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
    const mod = await nativeImport(pathToFileURL(b.file).href);
    expect(typeof mod[b.handler]).toBe('function');
    return mod[b.handler] as Handler;
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
    api = await load('api');
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
    await new Promise((r) => fakeLambda?.close(r));
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });

  /** A Lambda Function URL event (payload format 2.0) for a SigV4-authenticated caller. */
  function urlEvent(method: string, target: string, body?: unknown, headers: Record<string, string> = {}, userArn = 'arn:aws:iam::123456789012:user/producer') {
    const [rawPath, rawQueryString = ''] = target.split('?') as [string, string?];
    const isBuffer = body instanceof Uint8Array;
    return {
      version: '2.0',
      routeKey: '$default',
      rawPath,
      rawQueryString,
      headers: {
        host: 'abcdefgh.lambda-url.us-east-1.on.aws',
        'x-forwarded-proto': 'https',
        ...(body !== undefined && !isBuffer ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(rawQueryString ? { queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)) } : {}),
      requestContext: {
        accountId: '123456789012',
        apiId: 'abcdefgh',
        authorizer: { iam: { accessKey: 'AKIATEST', accountId: '123456789012', callerId: 'AIDATEST', userArn, userId: 'AIDATEST' } },
        domainName: 'abcdefgh.lambda-url.us-east-1.on.aws',
        domainPrefix: 'abcdefgh',
        http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'samsa-test' },
        requestId: randomUUID(),
        routeKey: '$default',
        stage: '$default',
        time: new Date().toUTCString(),
        timeEpoch: Date.now(),
      },
      ...(body === undefined
        ? {}
        : isBuffer
          ? { body: Buffer.from(body).toString('base64'), isBase64Encoded: true }
          : { body: typeof body === 'string' ? body : JSON.stringify(body), isBase64Encoded: false }),
    };
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

    const objects = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `topics/${topic}/` }));
    const keys = (objects.Contents ?? []).map((o) => o.Key);
    expect(keys).toEqual(expect.arrayContaining([`topics/${topic}/0/00000000000000000000.log`, `topics/${topic}/1/00000000000000000000.log`]));

    // Reads now come from the segments.
    const fetched = await call(urlEvent('GET', `/v1/topics/${topic}/partitions/1/records?offset=0`));
    expect((fetched.json['records'] as { key: string }[]).map((r) => r.key)).toEqual(['customer-42', 'customer-43']);
  });

  it('retention bundle: a scheduled event runs a pass without error', async () => {
    expect((await call(urlEvent('DELETE', `/v1/topics/${topic}`))).statusCode).toBe(204);
    const retention = await load('retention');
    const report = await retention(scheduledEvent());
    expect(report).toMatchObject({ job: 'retention' });
    expect(await retention(scheduledEvent())).toMatchObject({ job: 'retention' });
  });
});
