// SAMSA_AWS_REQUEST_TIMEOUT_MS bounds how long an S3 or DynamoDB request may go without a byte
// (lib/storage/aws-clients.ts). The SDK's `requestTimeout` only logs a warning in the installed
// @smithy/node-http-handler unless told to throw, so a storage endpoint that accepted a request
// and never answered held the call (a produce, a flush step, a Lambda invocation) until the
// process or the invocation died; an emulator or a network path that stalls does exactly that.
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeDynamoClient, makeS3Client, type AwsClientConfig } from '../../../lib/storage/aws-clients';
import { startSilentServer } from '../../helpers/net';

let silent: Awaited<ReturnType<typeof startSilentServer>>;
let endpoint: string;

beforeAll(async () => {
  silent = await startSilentServer();
  endpoint = silent.endpoint;
});
afterAll(() => silent.close());

const cfg = (): AwsClientConfig => ({
  region: 'us-east-1',
  s3Endpoint: endpoint,
  dynamoEndpoint: endpoint,
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
  requestTimeoutMs: 300,
});

async function outcome(call: Promise<unknown>): Promise<string> {
  return Promise.race([
    call.then(
      () => 'answered',
      (err: Error) => `failed: ${err.name}`,
    ),
    new Promise<string>((r) => setTimeout(() => r('still waiting'), 4000).unref()),
  ]);
}

it('an S3 request whose endpoint never answers fails after the request timeout', async () => {
  const s3 = makeS3Client(cfg());
  try {
    const t0 = Date.now();
    expect(await outcome(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })))).toBe('failed: TimeoutError');
    expect(Date.now() - t0).toBeLessThan(3000);
  } finally {
    s3.destroy();
  }
}, 10_000);

it('so does a DynamoDB request', async () => {
  const ddb = makeDynamoClient(cfg());
  try {
    expect(await outcome(ddb.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'a' } } })))).toBe('failed: TimeoutError');
  } finally {
    ddb.destroy();
  }
}, 10_000);
