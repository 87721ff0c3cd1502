// The mixed-protocol rule across a deployment: the Kafka listener runs on ECS or EC2 beside the
// Lambda API, on the same table (docs/kafka.md, "Deployment next to the Lambda API"), and marks
// the groups its members hold. The Node server checks that mark before an HTTP join; the Lambda
// API did not, so an HTTP consumer joining through it was admitted into a Kafka-held group: both
// kinds of members read the same partitions, and every Kafka OffsetCommit was refused.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeAws, makeDynamoStore, makeS3Store } from '../helpers/aws';
import { lambdaAwsEnv } from '../helpers/lambda';

type Fixture = Awaited<ReturnType<typeof makeDynamoStore>>;

describeAws('Lambda API and a Kafka listener on one table', () => {
  let s3: Awaited<ReturnType<typeof makeS3Store>>;
  let ddb: Fixture;
  let handler: (event: unknown, context?: unknown) => Promise<{ statusCode: number; body?: string }>;

  beforeAll(async () => {
    [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    Object.assign(process.env, lambdaAwsEnv({ bucket: s3.bucket, table: ddb.table }, { SAMSA_INVOKE_MODE: 'BUFFERED', SAMSA_AUTH: 'none' }));
    // Lambda's runtime provides `awslambda` before the module loads (only the buffered handler is used here).
    (globalThis as Record<string, unknown>)['awslambda'] = { streamifyResponse: (fn: unknown) => fn, HttpResponseStream: { from: (s: unknown) => s } };
    ({ handler } = (await import('../../functions/api')) as unknown as { handler: typeof handler });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });

  const event = (method: string, path: string, body?: unknown) => ({
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'abcdefgh.lambda-url.us-east-1.on.aws', 'x-forwarded-proto': 'https', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdefgh',
      domainName: 'abcdefgh.lambda-url.us-east-1.on.aws',
      domainPrefix: 'abcdefgh',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'samsa-test' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body !== undefined ? { body: JSON.stringify(body), isBase64Encoded: false } : {}),
  });

  it('an HTTP join through the Lambda API into a group Kafka members hold is refused', async () => {
    expect((await handler(event('POST', '/v1/topics', { name: 'lk', partitions: 2 }))).statusCode).toBe(201);
    // What the listener's JoinGroup writes (lib/kafka/cluster.ts, markActive): the group's
    // coordinator lease, live and marked active.
    await ddb.store.write({ type: 'put', item: { pk: 'kafka-coord', sk: 'lk-g', owner: '10.0.0.5:9092', until: Date.now() + 30_000, active: true } });
    const res = await handler(event('POST', '/v1/groups/lk-g/members', { topics: ['lk'] }));
    expect({ status: res.statusCode, body: JSON.parse(res.body ?? '{}').error_code }).toEqual({ status: 409, body: 'INCONSISTENT_GROUP_PROTOCOL' });
  });
});
