// SigV4: the signer reproduces AWS's published test vector (get-vanilla, fixed clock and
// credentials) and signs requests the way the SDK's SignatureV4 does for the same request.
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sigv4Signer } from '../../../lib/client';
import { NodeSha256 } from '../../../lib/client/sigv4';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const now = () => new Date('2015-08-30T12:36:00Z');

describe('sigv4Signer', () => {
  it('matches the AWS SigV4 test suite vector "get-vanilla"', async () => {
    const sign = sigv4Signer({ region: 'us-east-1', service: 'service', credentials, now });
    const headers = await sign({ method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {} });
    expect(headers['x-amz-date']).toBe('20150830T123600Z');
    expect(headers['authorization']).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('signs a Lambda Function URL POST as an independent implementation of the spec would', async () => {
    const url = new URL('https://abc123.lambda-url.eu-west-1.on.aws/v1/topics/orders/records?x=1');
    const body = JSON.stringify({ records: [{ value: 1 }] });
    const sign = sigv4Signer({ region: 'eu-west-1', credentials: { ...credentials, sessionToken: 'TOKEN' }, now });
    const h = await sign({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body });
    expect(h['x-amz-security-token']).toBe('TOKEN');

    // The canonical request and string to sign, written out from the SigV4 spec.
    const hex = (d: string) => createHash('sha256').update(d).digest('hex');
    const signedHeaders = h['authorization']!.match(/SignedHeaders=([^,]+)/)![1]!;
    const all: Record<string, string> = { 'content-type': 'application/json', host: url.host, ...h };
    const canonicalHeaders = signedHeaders.split(';').map((k) => `${k}:${all[k]!.trim()}\n`).join('');
    const payloadHash = h['x-amz-content-sha256'] ?? hex(body);
    const canonical = ['POST', '/v1/topics/orders/records', 'x=1', canonicalHeaders, signedHeaders, payloadHash].join('\n');
    const scope = '20150830/eu-west-1/lambda/aws4_request';
    const toSign = ['AWS4-HMAC-SHA256', '20150830T123600Z', scope, hex(canonical)].join('\n');
    let key: Buffer = createHmac('sha256', `AWS4${credentials.secretAccessKey}`).update('20150830').digest();
    for (const part of ['eu-west-1', 'lambda', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    const signature = createHmac('sha256', key).update(toSign).digest('hex');
    expect(h['authorization']).toBe(`AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`);
  });

  it('agrees with the SDK SignatureV4 driven directly', async () => {
    const url = new URL('https://abc123.lambda-url.eu-west-1.on.aws/v1/groups/g/offsets');
    const body = '{"offsets":[]}';
    const ours = await sigv4Signer({ region: 'eu-west-1', credentials, now })({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body });
    const sdk = await new SignatureV4({ service: 'lambda', region: 'eu-west-1', credentials, sha256: NodeSha256 }).sign(
      { method: 'POST', protocol: 'https:', hostname: url.hostname, path: url.pathname, query: {}, headers: { 'content-type': 'application/json', host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') }, body },
      { signingDate: now() },
    );
    expect(ours['authorization']).toBe(sdk.headers['authorization']);
  });
});
