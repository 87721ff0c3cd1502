// The client's auth choices: the region a Function URL or API Gateway host names, where the
// SigV4 region comes from (explicit, AWS_REGION, the host), bearer headers, and clear refusals.
import { describe, expect, it } from 'vitest';
import { HttpClient, regionFromUrl, SamsaClientError, signerFor } from '../../../lib/client';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const req = (url: string) => ({ method: 'GET', url: new URL(url), headers: {} });
const scopeOf = (h: Record<string, string>) => /Credential=[^/]+\/\d{8}\/([^/]+\/[^/]+)\//.exec(h['authorization'] ?? '')?.[1];

describe('regionFromUrl', () => {
  it('reads Function URL, LocalStack and API Gateway hosts, and nothing else', () => {
    expect(regionFromUrl('https://abcdefghij1234567890.lambda-url.eu-west-1.on.aws/')).toBe('eu-west-1');
    expect(regionFromUrl('http://abc.lambda-url.us-east-1.localhost.localstack.cloud:4566/')).toBe('us-east-1');
    expect(regionFromUrl('https://a1b2c3.execute-api.ap-southeast-2.amazonaws.com/prod')).toBe('ap-southeast-2');
    expect(regionFromUrl('https://us-gov-west-1.example.com/')).toBeUndefined();
    expect(regionFromUrl('http://127.0.0.1:8080')).toBeUndefined();
  });
});

describe('signerFor', () => {
  it('sigv4: explicit region, else AWS_REGION, else the host; service lambda or execute-api', async () => {
    const fn = 'https://abc.lambda-url.eu-west-1.on.aws/';
    const sign = async (url: string, region: string | undefined, env: Record<string, string>) =>
      scopeOf(await signerFor({ mode: 'sigv4', credentials, ...(region ? { region } : {}) }, new URL(url), env)!(req(`${url}v1/topics`)));
    expect(await sign(fn, 'us-west-2', { AWS_REGION: 'eu-central-1' })).toBe('us-west-2/lambda');
    expect(await sign(fn, undefined, { AWS_REGION: 'eu-central-1' })).toBe('eu-central-1/lambda');
    expect(await sign(fn, undefined, {})).toBe('eu-west-1/lambda');
    expect(await sign('https://x1.execute-api.sa-east-1.amazonaws.com/', undefined, {})).toBe('sa-east-1/execute-api');
  });

  it('sigv4 without any region names the fix', () => {
    expect(() => signerFor({ mode: 'sigv4', credentials }, new URL('http://127.0.0.1:8080/'), {})).toThrow(/SigV4 needs a region: give one \(--region, AWS_REGION\)/);
  });

  it('bearer adds Authorization: Bearer, from a string or a function', async () => {
    expect(await signerFor({ mode: 'bearer', token: 'abc' }, new URL('http://h/'))!(req('http://h/'))).toEqual({ authorization: 'Bearer abc' });
    let n = 0;
    const rotating = signerFor({ mode: 'bearer', token: () => `t${++n}` }, new URL('http://h/'))!;
    expect((await rotating(req('http://h/'))).authorization).toBe('Bearer t1');
    expect((await rotating(req('http://h/'))).authorization).toBe('Bearer t2');
    expect(() => signerFor({ mode: 'bearer', token: ' ' }, new URL('http://h/'))).toThrow(/needs a token/);
  });

  it('none signs nothing; an unknown mode is refused by name', () => {
    expect(signerFor({ mode: 'none' }, new URL('http://h/'))).toBeUndefined();
    expect(() => signerFor({ mode: 'kerberos' } as never, new URL('http://h/'))).toThrow(/unknown auth mode "kerberos" \(use none, sigv4, bearer\)/);
  });
});

describe('HttpClient auth', () => {
  it('refuses auth and signer together', () => {
    expect(() => new HttpClient({ url: 'http://h', auth: { mode: 'bearer', token: 't' }, signer: async () => ({}) })).toThrow(SamsaClientError);
  });

  it('a signer that fails is an AUTHENTICATION_FAILED error naming the cause, not retried', async () => {
    let calls = 0;
    const c = new HttpClient({
      url: 'http://127.0.0.1:9',
      signer: async () => {
        calls++;
        throw new Error('Could not load credentials from any providers');
      },
    });
    await expect(c.json('GET', '/v1/topics')).rejects.toMatchObject({ code: 'AUTHENTICATION_FAILED', message: 'cannot authenticate the request to http://127.0.0.1:9: Could not load credentials from any providers' });
    expect(calls).toBe(1);
  });
});
