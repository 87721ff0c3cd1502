// Principals per mode: API keys, the IAM caller of a Function URL, a JWT claim.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiKeyAuthenticator, lambdaAuthenticator, normaliseIamArn, parseApiKeys } from '../../../lib/auth/principal';
import { ConfigError, loadConfig, unsafeListenReason } from '../../../lib/runtime/config';
import { SamsaError } from '../../../lib/errors';

const req = (headers: Record<string, string>, lambdaEvent?: unknown) => ({ header: (n: string) => headers[n.toLowerCase()], lambdaEvent });
const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof SamsaError ? err.code : String(err);
  }
};

describe('API keys', () => {
  const auth = apiKeyAuthenticator(parseApiKeys('User:alice=s3cret=with=equals, User:bob=hunter2'));
  it('maps a bearer secret to its principal', () => {
    expect(auth(req({ authorization: 'Bearer s3cret=with=equals' }))).toBe('User:alice');
    expect(auth(req({ authorization: 'bearer hunter2' }))).toBe('User:bob');
  });
  it('refuses missing, malformed and wrong credentials with AUTHENTICATION_FAILED, naming no secret', () => {
    for (const h of [{} as Record<string, string>, { authorization: 'hunter2' }, { authorization: 'Basic aHVudGVyMg==' }, { authorization: 'Bearer hunter' }, { authorization: 'Bearer hunter22' }]) {
      expect(code(() => auth(req(h)))).toBe('AUTHENTICATION_FAILED');
    }
    try {
      auth(req({ authorization: 'Bearer hunter3' }));
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter');
    }
  });
});

describe('Lambda identities', () => {
  const event = (authorizer: unknown) => ({ requestContext: { authorizer } });
  const auth = lambdaAuthenticator('email');
  it('normalises assumed-role sessions to their role', () => {
    expect(normaliseIamArn('arn:aws:sts::123456789012:assumed-role/Consumers/alice@example.com')).toBe('arn:aws:iam::123456789012:role/Consumers');
    expect(normaliseIamArn('arn:aws-us-gov:sts::123456789012:assumed-role/R/s')).toBe('arn:aws-us-gov:iam::123456789012:role/R');
    expect(normaliseIamArn('arn:aws:iam::123456789012:user/bob')).toBe('arn:aws:iam::123456789012:user/bob');
  });
  it('takes the IAM caller, else the configured JWT claim, never a header', () => {
    expect(auth(req({}, event({ iam: { userArn: 'arn:aws:sts::123456789012:assumed-role/Producers/i-0abc' } })))).toBe('User:arn:aws:iam::123456789012:role/Producers');
    expect(auth(req({}, event({ jwt: { claims: { sub: 'u-1', email: 'ann@example.com' } } })))).toBe('User:ann@example.com');
    expect(code(() => auth(req({}, event({ jwt: { claims: { sub: 'u-1' } } }))))).toBe('AUTHENTICATION_FAILED');
    expect(code(() => auth(req({ authorization: 'Bearer x', 'x-principal': 'User:admin' }, { requestContext: {} })))).toBe('AUTHENTICATION_FAILED');
    expect(code(() => auth(req({})))).toBe('AUTHENTICATION_FAILED');
  });
});

describe('configuration', () => {
  it('reads keys, super users and the listen guard', () => {
    const cfg = loadConfig({ SAMSA_AUTH: 'keys', SAMSA_API_KEYS: 'User:a=x,User:b=y', SAMSA_SUPER_USERS: 'User:a, User:c', SAMSA_HOST: '0.0.0.0' });
    expect([...cfg.apiKeys.keys()]).toEqual(['User:a', 'User:b']);
    expect(cfg.superUsers).toEqual(['User:a', 'User:c']);
    expect(unsafeListenReason(cfg)).toBeUndefined();
    expect(unsafeListenReason(loadConfig({ SAMSA_HOST: '0.0.0.0' }))).toMatch(/refusing/);
    expect(unsafeListenReason(loadConfig({ SAMSA_HOST: '0.0.0.0', SAMSA_ALLOW_ANONYMOUS: 'true' }))).toBeUndefined();
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]']) expect(unsafeListenReason(loadConfig({ SAMSA_HOST: host }))).toBeUndefined();
    expect(unsafeListenReason(loadConfig({ SAMSA_HOST: '::' }))).toMatch(/refusing/);
    // The Lambda modes have no meaning on the Node server.
    expect(unsafeListenReason(loadConfig({ SAMSA_AUTH: 'iam' }))).toMatch(/Node server takes SAMSA_AUTH=none or keys/);
  });
  it('reads SAMSA_API_KEYS_FILE (a JSON object principal → secret) and refuses a malformed one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-keys-'));
    const file = path.join(dir, 'keys.json');
    fs.writeFileSync(file, JSON.stringify({ 'User:alice': 'from-file-1', 'User:bob': 'from-file-2' }));
    const cfg = loadConfig({ SAMSA_AUTH: 'keys', SAMSA_API_KEYS_FILE: file });
    expect(apiKeyAuthenticator(cfg.apiKeys)(req({ authorization: 'Bearer from-file-2' }))).toBe('User:bob');
    fs.writeFileSync(file, '{"User:alice": "unterminated');
    expect(() => loadConfig({ SAMSA_AUTH: 'keys', SAMSA_API_KEYS_FILE: file })).toThrow(/SAMSA_API_KEYS_FILE is not valid JSON/);
    fs.writeFileSync(file, JSON.stringify({ alice: 'x' }));
    expect(() => loadConfig({ SAMSA_AUTH: 'keys', SAMSA_API_KEYS_FILE: file })).toThrow(/User:<name>/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses keys mode without keys, and never echoes a secret in its message', () => {
    expect(() => loadConfig({ SAMSA_AUTH: 'keys' })).toThrow(ConfigError);
    expect(() => loadConfig({ SAMSA_AUTH: 'maybe' })).toThrow(/SAMSA_AUTH/);
    try {
      loadConfig({ SAMSA_API_KEYS: 'nobody-equals-topsecret' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('topsecret');
    }
  });
});
