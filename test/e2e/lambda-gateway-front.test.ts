// The API function behind API Gateway's HTTP API must know it is there whatever else the
// deployment chose: it re-encodes the rawPath API Gateway decodes (lib/runtime/lambda/event.ts)
// and bounds long polls by API Gateway's 30 s. The environment here is the one the construct
// gives the API function (synthesized, bundling skipped), so a deployment whose front is only
// implied by another setting shows here.
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { SamsaLogProps } from '../../infra/samsa-log';
import { SamsaStack } from '../../infra/samsa-stack';
import { awsEndpoint, describeAws, makeDynamoStore, makeS3Store, TEST_REGION } from '../helpers/aws';
import { type BufferedResult, installAwsLambdaGlobal, lambdaContext, v2Event } from '../helpers/lambda';

const JSON_CT = { 'content-type': 'application/json' };

/** The API function's environment as the construct sets it, with its tokens given test values. */
function apiEnvironment(samsa: SamsaLogProps, values: Record<string, string>): Record<string, string> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new SamsaStack(app, 'Front', { samsa });
  const fns = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  const api = Object.values(fns).find((f) => String((f.Properties as { Description?: string }).Description).includes('functions/api.ts'))!;
  const vars = (api.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, values[k] ?? (typeof v === 'string' ? v : `test-${k.toLowerCase()}`)]));
}

describeAws('the API function behind API Gateway, ACLs off (auth jwt, authorization false)', () => {
  let s3: Awaited<ReturnType<typeof makeS3Store>>;
  let ddb: Awaited<ReturnType<typeof makeDynamoStore>>;
  let handler: (event: unknown, context?: unknown) => Promise<BufferedResult>;
  const saved = { ...process.env };

  beforeAll(async () => {
    [s3, ddb] = await Promise.all([makeS3Store(), makeDynamoStore()]);
    const env = apiEnvironment({ auth: { type: 'jwt', issuer: 'https://issuer.example.com/', audience: ['samsa-clients'] }, authorization: false }, { SAMSA_BUCKET: s3.bucket, SAMSA_TABLE: ddb.table });
    delete env.SAMSA_FLUSH_FUNCTION;
    delete env.SAMSA_RETENTION_FUNCTION;
    Object.assign(process.env, env, { AWS_ENDPOINT_URL: awsEndpoint()!, AWS_REGION: TEST_REGION, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
    installAwsLambdaGlobal();
    vi.resetModules();
    ({ handler } = (await import('../../functions/api')) as unknown as { handler: typeof handler });
  }, 120_000);
  afterAll(async () => {
    process.env = saved;
    await Promise.all([s3?.cleanup(), ddb?.cleanup()]);
  });

  it('a DELETE of /v1/topics/gw%23x (rawPath "/v1/topics/gw#x") is refused and deletes nothing, as with ACLs on', async () => {
    const asCaller = { apiGateway: true, authorizer: { jwt: { claims: { sub: 'someone' }, scopes: null } } };
    const made = await handler(v2Event('POST', '/v1/topics', { ...asCaller, headers: JSON_CT, body: JSON.stringify({ name: 'gw', partitions: 1 }) }), lambdaContext());
    expect(made.statusCode, made.body).toBe(201);
    const res = await handler(v2Event('DELETE', '/v1/topics/gw#x', asCaller), lambdaContext());
    expect({ status: res.statusCode, code: (JSON.parse(res.body || '{}') as { error_code?: string }).error_code }).toEqual({ status: 400, code: 'INVALID_TOPIC_EXCEPTION' });
    expect((await handler(v2Event('GET', '/v1/topics/gw', asCaller), lambdaContext())).statusCode).toBe(200);
  });
});
