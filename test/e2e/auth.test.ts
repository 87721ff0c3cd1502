// The CLI and the client against an endpoint that checks authentication as AWS does: a local
// HTTP proxy in front of a real embedded server that lets a request through only if its SigV4
// `Authorization` verifies — re-derived here from the SigV4 specification (canonical request,
// string to sign, signing key), sharing no code with the signer — for service `lambda`, the
// expected region and the credentials given in the environment. Anything else gets AWS's bare
// 403. The same proxy in bearer mode checks `Authorization: Bearer <token>`.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Samsa, SamsaClientError } from '../../lib/client';
import { type CliRun, runSamsa } from '../helpers/cli';
import { type ServerHandle, startServer, tempDir } from '../helpers/server';

const KEY = { id: 'AKIDSAMSATEST', secret: 'c2Ftc2Egc2VjcmV0IGZvciB0ZXN0cw/EXAMPLEKEY', token: 'FwoGZXIvYXdzEXAMPLESESSION' };
const REGION = 'eu-west-3';
const BEARER = 'eyJhbGciOiJIUzI1NiJ9.samsa.test';

interface Seen {
  method: string;
  path: string;
  query: string;
  bodyBytes: number;
  signedHeaders: string[];
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX (upper case). */
const uriEncode = (s: string): string => Array.from(Buffer.from(s, 'utf8'), (b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
const sha256 = (d: Buffer | string): string => createHash('sha256').update(d).digest('hex');
const hmac = (key: Buffer | string, d: string): Buffer => createHmac('sha256', key).update(d).digest();

/** Why a request's SigV4 signature is invalid, or undefined when it verifies. */
function sigv4Problem(req: http.IncomingMessage, body: Buffer, expect: { region: string; service: string; sessionToken?: string }): string | undefined {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return `malformed Authorization "${auth}"`;
  const [, akid, date, region, service, signedHeaderList, signature] = m as unknown as [string, string, string, string, string, string, string];
  if (akid !== KEY.id) return `unknown access key ${akid}`;
  if (region !== expect.region) return `region ${region}, expected ${expect.region}`;
  if (service !== expect.service) return `service ${service}, expected ${expect.service}`;
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) return `x-amz-date "${amzDate}" does not match the scope date ${date}`;
  const skew = Math.abs(Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`) - Date.now());
  if (skew > 5 * 60_000) return `request time off by ${skew} ms`;
  const signed = signedHeaderList.split(';');
  for (const h of ['host', 'x-amz-date']) if (!signed.includes(h)) return `${h} is not signed`;
  if (expect.sessionToken !== undefined) {
    if (req.headers['x-amz-security-token'] !== expect.sessionToken) return 'missing or wrong x-amz-security-token';
    if (!signed.includes('x-amz-security-token')) return 'x-amz-security-token is not signed';
  }
  if (body.length > 0 && !signed.includes('content-type')) return 'a body whose content-type is not signed';
  const payloadHash = sha256(body);
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash) return 'x-amz-content-sha256 does not match the body';

  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
  // Non-S3 services: every path segment is encoded once more (the path arrives encoded).
  const canonicalUri = rawPath.split('/').map(uriEncode).join('/');
  const canonicalQuery = rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      // As AWS reads a query: percent-decoding only, a '+' stays a plus.
      const dec = (s: string) => decodeURIComponent(s);
      return [uriEncode(dec(i < 0 ? p : p.slice(0, i))), uriEncode(dec(i < 0 ? '' : p.slice(i + 1)))] as const;
    })
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = signed
    .map((h) => {
      const v = req.headers[h];
      if (v === undefined) return undefined;
      return `${h}:${(Array.isArray(v) ? v.join(',') : v).trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  if (signed.some((h) => req.headers[h] === undefined)) return 'a signed header is missing from the request';
  const canonicalRequest = [req.method, canonicalUri, canonicalQuery, canonicalHeaders, signedHeaderList, claimed ?? payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${KEY.secret}`, date), region), service), 'aws4_request');
  const expected = hmac(key, stringToSign);
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'signature mismatch';
  return undefined;
}

let upstream: ServerHandle;
type Mode = { kind: 'sigv4'; region: string; sessionToken?: string } | { kind: 'bearer' };
let mode: Mode = { kind: 'sigv4', region: REGION };
let proxy: http.Server;
let proxyUrl: string;
const seen: Seen[] = [];
const rejected: string[] = [];

beforeAll(async () => {
  upstream = await startServer();
  proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const problem =
        mode.kind === 'sigv4'
          ? sigv4Problem(req, body, { region: mode.region, service: 'lambda', ...(mode.sessionToken !== undefined ? { sessionToken: mode.sessionToken } : {}) })
          : req.headers.authorization === `Bearer ${BEARER}`
            ? undefined
            : `bad bearer "${req.headers.authorization ?? ''}"`;
      if (problem) {
        rejected.push(problem);
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"Message":"Forbidden"}');
        return;
      }
      const q = (req.url ?? '').indexOf('?');
      seen.push({ method: req.method!, path: q < 0 ? req.url! : req.url!.slice(0, q), query: q < 0 ? '' : req.url!.slice(q + 1), bodyBytes: body.length, signedHeaders: /SignedHeaders=([^,]+)/.exec(req.headers.authorization ?? '')?.[1]?.split(';') ?? [] });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'authorization', 'connection', 'content-length'].includes(k)) headers[k] = v;
      fetch(`${upstream.url}${req.url}`, { method: req.method!, headers, ...(body.length ? { body } : {}) })
        .then(async (r) => {
          const out = Buffer.from(await r.arrayBuffer());
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(out);
        })
        .catch((err: unknown) => res.writeHead(502).end(String(err)));
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => proxy?.close(r));
  await upstream?.stop();
});

/** The CLI as a user runs it, with a clean AWS environment plus what the test gives. */
function samsa(args: string[], env: Record<string, string> = {}, input = ''): Promise<CliRun> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|SAMSA_)/.test(k)) base[k] = v;
  return runSamsa(args, {
    baseEnv: base,
    url: proxyUrl,
    // No shared config or credentials files: the environment is the only credential source.
    env: { AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true', ...env },
    input,
  });
}

const awsEnv = { AWS_ACCESS_KEY_ID: KEY.id, AWS_SECRET_ACCESS_KEY: KEY.secret, AWS_REGION: REGION };

describe('samsa --auth sigv4 against a SigV4-verifying endpoint', () => {
  it('signs bodies and query strings with the credentials and region of the environment', async () => {
    mode = { kind: 'sigv4', region: REGION };
    seen.length = 0;
    rejected.length = 0;
    const topic = `sig-${Date.now().toString(36)}`;
    let r = await samsa(['--auth', 'sigv4', 'topics', 'create', topic, '--partitions', '2', '--config', 'retention.ms=86400000'], awsEnv);
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    r = await samsa(['produce', topic, '--key-separator', ':'], { ...awsEnv, SAMSA_AUTH_MODE: 'sigv4' }, 'a:one\nb:two\nc:three\n');
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    r = await samsa(['--auth', 'sigv4', 'consume', topic, '--partition', '0', '--offset', 'earliest', '--timeout-ms', '500'], awsEnv);
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    r = await samsa(['--auth', 'sigv4', 'topics', 'list'], awsEnv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toContain(topic);
    expect(rejected).toEqual([]);
    // What went through the verifier: JSON bodies (signed with their content type) and query strings.
    const posts = seen.filter((s) => s.method === 'POST' && s.bodyBytes > 0);
    // (the CLI's producer posts Kafka record batches per partition)
    expect(posts.map((s) => s.path)).toEqual(expect.arrayContaining(['/v1/topics', expect.stringMatching(new RegExp(`^/v1/topics/${topic}/partitions/[01]/records$`))]));
    for (const p of posts) expect(p.signedHeaders).toContain('content-type');
    expect(seen.some((s) => s.path === `/v1/topics/${topic}/partitions/0/records` && /^offset=\d+$/.test(s.query))).toBe(true);
    expect(seen.some((s) => s.path === `/v1/topics/${topic}/partitions/0/offsets` && s.query === 'timestamp=earliest')).toBe(true);
  });

  it('--region wins over AWS_REGION; session tokens are signed', async () => {
    mode = { kind: 'sigv4', region: 'ap-southeast-2', sessionToken: KEY.token };
    rejected.length = 0;
    const r = await samsa(['--auth', 'sigv4', '--region', 'ap-southeast-2', 'topics', 'list'], { ...awsEnv, AWS_SESSION_TOKEN: KEY.token });
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    expect(rejected).toEqual([]);
    mode = { kind: 'sigv4', region: REGION };
  });

  it('reads credentials from a shared credentials file profile (the rest of the AWS chain)', async () => {
    mode = { kind: 'sigv4', region: REGION };
    rejected.length = 0;
    const dir = tempDir('samsa-aws-');
    fs.writeFileSync(path.join(dir, 'credentials'), `[samsa-test]\naws_access_key_id = ${KEY.id}\naws_secret_access_key = ${KEY.secret}\n`);
    const r = await samsa(['--auth', 'sigv4', 'topics', 'list'], { AWS_PROFILE: 'samsa-test', AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'), AWS_REGION: REGION });
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    expect(rejected).toEqual([]);
  });

  it('names what is wrong: a bad key, no credentials, no region, unsigned', async () => {
    mode = { kind: 'sigv4', region: REGION };
    rejected.length = 0;
    let r = await samsa(['--auth', 'sigv4', 'topics', 'list'], { ...awsEnv, AWS_SECRET_ACCESS_KEY: 'wrong' });
    expect(r.code).toBe(1);
    expect(rejected).toEqual(['signature mismatch']);
    expect(r.stderr).toMatch(/^samsa: .*Forbidden/m);
    r = await samsa(['--auth', 'sigv4', 'topics', 'list'], { AWS_REGION: REGION });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^samsa: cannot authenticate the request to http:\/\/127\.0\.0\.1:\d+: .*credentials/im);
    r = await samsa(['--auth', 'sigv4', 'topics', 'list'], { AWS_ACCESS_KEY_ID: KEY.id, AWS_SECRET_ACCESS_KEY: KEY.secret });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^samsa: SigV4 needs a region: give one \(--region, AWS_REGION\)/m);
    r = await samsa(['topics', 'list'], awsEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Forbidden.*needs --auth sigv4/);
    r = await samsa(['--auth', 'kerberos', 'topics', 'list'], awsEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--auth.*kerberos.*Allowed choices are none, sigv4, bearer/s);
    r = await samsa(['topics', 'list'], { ...awsEnv, SAMSA_AUTH_MODE: 'iam' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^samsa: SAMSA_AUTH_MODE must be one of none, sigv4, bearer \(got "iam"\)/m);
  });

  it('the client signs the same way: new Samsa({ url, auth: { mode: "sigv4", region, credentials } })', async () => {
    mode = { kind: 'sigv4', region: REGION };
    rejected.length = 0;
    const samsa = new Samsa({ url: proxyUrl, auth: { mode: 'sigv4', region: REGION, credentials: { accessKeyId: KEY.id, secretAccessKey: KEY.secret } } });
    const topic = `sigc-${Date.now().toString(36)}`;
    await samsa.admin().createTopic({ topic, numPartitions: 1 });
    const producer = samsa.producer({ lingerMs: 1, compression: 'gzip' });
    await producer.send({ topic, messages: [{ key: 'k', value: 'binary batch through SigV4' }] });
    await producer.disconnect();
    expect((await samsa.admin().describeTopic(topic)).partitions[0]!.highWatermark).toBe(1);
    // Several parameters out of canonical order, and a value that needs encoding.
    const page = await samsa.http.json<{ records: Array<{ value: string }> }>('GET', `/v1/topics/${topic}/partitions/0/records`, { query: { value_format: 'string', offset: 0, max_records: 5, key_format: 'string' } });
    expect(page.records.map((r) => r.value)).toEqual(['binary batch through SigV4']);
    expect(seen.at(-1)!.query).toBe('value_format=string&offset=0&max_records=5&key_format=string');
    // Characters that form encoding would turn into '+' or leave bare: sent as %XX, signed alike.
    await samsa.http.json('GET', `/v1/topics/${topic}/partitions/0/records`, { query: { offset: 0, note: "a b+c/d*e'(f)" } });
    expect(seen.at(-1)!.query).toBe('offset=0&note=a%20b%2Bc%2Fd%2Ae%27%28f%29');
    // A path segment that needs escaping (the verifier encodes it once more, as SigV4 does for non-S3 services).
    // It passes the verifier and reaches Samsa, which refuses the name itself.
    await expect(samsa.admin().fetchOffsets({ groupId: 'billing team/2' })).rejects.toMatchObject({ code: 'INVALID_REQUEST', status: 400 });
    expect(seen.at(-1)!.path).toBe('/v1/groups/billing%20team%2F2/offsets');
    expect(rejected).toEqual([]);
    const wrong = new Samsa({ url: proxyUrl, auth: { mode: 'sigv4', region: 'us-east-1', credentials: { accessKeyId: KEY.id, secretAccessKey: KEY.secret } } });
    await expect(wrong.admin().listTopics()).rejects.toMatchObject({ code: 'HTTP_403', status: 403 });
    expect(rejected).toEqual(['region us-east-1, expected eu-west-3']);
  });
});

describe('samsa --auth bearer', () => {
  it('sends SAMSA_TOKEN / --token as Authorization: Bearer', async () => {
    mode = { kind: 'bearer' };
    rejected.length = 0;
    let r = await samsa(['topics', 'list'], { SAMSA_TOKEN: BEARER });
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    r = await samsa(['--auth', 'bearer', '--token', BEARER, 'topics', 'list']);
    expect(r.code, r.stderr + rejected.join('\n')).toBe(0);
    r = await samsa(['--auth', 'bearer', 'topics', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^samsa: --auth bearer needs a token: --token <token> or SAMSA_TOKEN/m);
    r = await samsa(['--auth', 'bearer', '--token', 'nope', 'topics', 'list']);
    expect(r.code).toBe(1);
    const client = new Samsa({ url: proxyUrl, auth: { mode: 'bearer', token: async () => BEARER } });
    expect(Array.isArray(await client.admin().listTopics())).toBe(true);
    await expect(new Samsa({ url: proxyUrl, auth: { mode: 'bearer', token: 'nope' } }).admin().listTopics()).rejects.toBeInstanceOf(SamsaClientError);
    mode = { kind: 'sigv4', region: REGION };
  });
});
