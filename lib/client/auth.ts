// How the client authenticates, one choice for the three deployments (docs/http-api.md,
// "Authentication"): nothing (embedded server on loopback), SigV4 for the IAM-authorised Lambda
// Function URL that `cdk deploy` creates, or a bearer token (the JWT API Gateway variant, or the
// Node server's API keys). The CLI maps `--auth` / `--region` / `--token` onto the same choices.
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { SamsaClientError } from './errors';
import type { Signer } from './http';
import { sigv4Signer } from './sigv4';

export type AuthMode = 'none' | 'sigv4' | 'bearer';
export const AUTH_MODES: readonly AuthMode[] = ['none', 'sigv4', 'bearer'];

export type AuthConfig =
  | { mode: 'none' }
  | {
      mode: 'sigv4';
      /** Default: `AWS_REGION`, else the region in the URL's host (`<id>.lambda-url.<region>.on.aws`). */
      region?: string;
      /** Default: `execute-api` for an API Gateway host, else `lambda` (Function URLs). */
      service?: string;
      /** Default: the AWS SDK's Node credential chain (env, profile, SSO, container, IMDS). */
      credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
    }
  | {
      mode: 'bearer';
      /** The token, or a function returning a fresh one per request (short-lived JWTs). */
      token: string | (() => string | Promise<string>);
    };

/** `Authorization: Bearer <token>` on every request. */
export function bearerAuth(token: string | (() => string | Promise<string>)): Signer {
  if (typeof token === 'string' && !token.trim()) throw new SamsaClientError('INVALID_CONFIG', 'bearer authentication needs a token (empty token given)');
  return async () => {
    const t = typeof token === 'function' ? await token() : token;
    if (!t) throw new SamsaClientError('INVALID_CONFIG', 'bearer authentication: the token function returned no token');
    return { authorization: `Bearer ${t}` };
  };
}

/**
 * The AWS region a URL's host names: Lambda Function URLs (`<id>.lambda-url.<region>.on.aws`,
 * LocalStack's `…lambda-url.<region>.localhost.localstack.cloud`) and API Gateway
 * (`<id>.execute-api.<region>.amazonaws.com`). Undefined for any other host.
 */
export function regionFromUrl(url: URL | string): string | undefined {
  const host = typeof url === 'string' ? new URL(url).hostname : url.hostname;
  return /\.(?:lambda-url|execute-api)\.([a-z]{2}(?:-[a-z]+)+-\d+)\./.exec(host)?.[1];
}

/** The service a host signs for: API Gateway's hosts `execute-api`, everything else `lambda`. */
export function serviceFromUrl(url: URL): string {
  return /\.execute-api\.[^.]+\.amazonaws\.com$/.test(url.hostname) ? 'execute-api' : 'lambda';
}

/** The signer for an auth choice against `base` (undefined for `none`). */
export function signerFor(auth: AuthConfig, base: URL, env: Record<string, string | undefined> = process.env): Signer | undefined {
  switch (auth.mode) {
    case 'none':
      return undefined;
    case 'bearer':
      return bearerAuth(auth.token);
    case 'sigv4': {
      const region = auth.region || env.AWS_REGION || env.AWS_DEFAULT_REGION || regionFromUrl(base);
      if (!region) {
        throw new SamsaClientError('INVALID_CONFIG', `SigV4 needs a region: give one (--region, AWS_REGION) — none can be read from the host "${base.hostname}"`);
      }
      return sigv4Signer({ region, service: auth.service ?? serviceFromUrl(base), ...(auth.credentials ? { credentials: auth.credentials } : {}) });
    }
    default: {
      const mode = (auth as { mode?: unknown }).mode;
      throw new SamsaClientError('INVALID_CONFIG', `unknown auth mode ${JSON.stringify(mode)} (use ${AUTH_MODES.join(', ')})`);
    }
  }
}
