// Who is calling: every request is attributed to a principal (`User:<name>`, Kafka's form)
// before any route runs. One authenticator per deployment mode:
//   none  everyone is User:ANONYMOUS (loopback development; ACLs are not checked)
//   keys  Node/embedded server: `Authorization: Bearer <secret>` against configured API keys
//   iam   Lambda behind an IAM-authenticated Function URL: AWS has verified the SigV4 signature;
//         the caller's ARN comes from the event's requestContext.authorizer.iam
//   jwt   API Gateway HTTP API with a JWT authorizer: a configured claim (default `sub`)
// The HTTP layer trusts only what the runtime verified: a header can never claim an identity
// in iam/jwt modes, because the identity is read from the invocation event, not the request.
import { createHash, timingSafeEqual } from 'node:crypto';
import { SamsaError } from '../errors';
import { ANONYMOUS } from './acl';

export type AuthMode = 'none' | 'keys' | 'iam' | 'jwt';

export interface AuthRequest {
  header(name: string): string | undefined;
  /** The Lambda invocation event (Hono's aws-lambda adapter puts it at c.env.event). */
  lambdaEvent?: unknown;
}

export type Authenticator = (req: AuthRequest) => string;

const fail = (why: string): SamsaError => new SamsaError('AUTHENTICATION_FAILED', why);

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * API keys: principal → secret. Secrets are compared as SHA-256 digests with timingSafeEqual
 * against EVERY configured key, so neither the length of a secret nor which key matched shows
 * in the response time.
 */
export function apiKeyAuthenticator(keys: ReadonlyMap<string, string>): Authenticator {
  const table = [...keys].map(([principal, secret]) => ({ principal, digest: digest(secret) }));
  return (req) => {
    const h = req.header('authorization');
    if (h === undefined) throw fail('this server requires Authorization: Bearer <api key>');
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
    if (!m) throw fail('the Authorization header must be "Bearer <api key>"');
    const given = digest(m[1]!);
    let found: string | undefined;
    for (const k of table) if (timingSafeEqual(given, k.digest) && found === undefined) found = k.principal;
    if (found === undefined) throw fail('unknown API key');
    return found;
  };
}

/**
 * IAM identities name the role of an assumed-role session; ACLs are granted to the role, not to
 * each session: arn:aws:sts::123:assumed-role/Role/session → arn:aws:iam::123:role/Role.
 * (A role with a path loses it in the STS ARN, as IAM's own policy evaluation does.)
 */
export function normaliseIamArn(arn: string): string {
  const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

function requestContext(event: unknown): Record<string, unknown> | undefined {
  const rc = (event as { requestContext?: unknown } | undefined)?.requestContext;
  return rc && typeof rc === 'object' ? (rc as Record<string, unknown>) : undefined;
}

export const iamAuthenticator: Authenticator = (req) => {
  const iam = (requestContext(req.lambdaEvent)?.['authorizer'] as { iam?: { userArn?: unknown } } | undefined)?.iam;
  const arn = iam?.userArn;
  // No IAM context means the URL is not IAM-authenticated (AuthType NONE) or this is not a
  // Lambda invocation: refuse rather than guess.
  if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw fail('no IAM identity on the request (is the Function URL AuthType AWS_IAM?)');
  return `User:${normaliseIamArn(arn)}`;
};

export function jwtAuthenticator(claim: string): Authenticator {
  return (req) => {
    const claims = (requestContext(req.lambdaEvent)?.['authorizer'] as { jwt?: { claims?: Record<string, unknown> } } | undefined)?.jwt?.claims;
    const value = claims?.[claim];
    if ((typeof value !== 'string' && typeof value !== 'number') || String(value).trim() === '') {
      throw fail(`no "${claim}" claim from the JWT authorizer`);
    }
    return `User:${String(value)}`;
  };
}

/**
 * Lambda: the identity AWS verified in front of the function — the IAM caller of an AWS_IAM
 * Function URL, else the JWT claim of an API Gateway JWT authorizer. Both arrive in the
 * requestContext that AWS builds; a caller of the URL cannot write into it. (Only a direct
 * lambda:InvokeFunction can hand the function any event; the construct grants that to no one
 * but the flush hand-off, which targets the flush function — docs/design/0009.)
 */
export function lambdaAuthenticator(claim: string): Authenticator {
  const jwt = jwtAuthenticator(claim);
  return (req) => {
    const authorizer = requestContext(req.lambdaEvent)?.['authorizer'] as { iam?: unknown; jwt?: unknown } | undefined;
    if (authorizer?.iam !== undefined) return iamAuthenticator(req);
    if (authorizer?.jwt !== undefined) return jwt(req);
    throw fail('no verified identity on the request: the Function URL must use AuthType AWS_IAM, or API Gateway a JWT authorizer');
  };
}

export const anonymousAuthenticator: Authenticator = () => ANONYMOUS;

/** `User:alice=secret,User:bob=secret`: a principal never holds '=', so the first one ends it (a secret may hold more). */
export function parseApiKeys(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) throw new Error(`SAMSA_API_KEYS entries are principal=secret, got "${entry.slice(0, Math.max(0, eq)) || '…'}=…"`);
    out.set(entry.slice(0, eq).trim(), entry.slice(eq + 1).trim());
  }
  return out;
}
